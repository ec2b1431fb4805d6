//! Read an XLSForm workbook (xlsx or xls) into a [`Form`], checking everything a form needs
//! to work. A bad workbook is rejected whole, with every problem named by sheet, row, column
//! and reason.

use crate::expr::{Expr, ParseError};
use crate::model::{Choice, Field, FieldKind, Form, Group, MediaKind, Metadata, Node, Sensitivity, Text};
use calamine::{Data, Reader};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Cursor;

/// One problem in a workbook. `row` is 1-based as spreadsheet programs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub sheet: String,
    pub row: Option<usize>,
    pub column: Option<String>,
    pub reason: String,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.sheet)?;
        if let Some(row) = self.row {
            write!(f, " row {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// All the problems found in a workbook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FormErrors(pub Vec<FormError>);

impl fmt::Display for FormErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A sheet as rows of trimmed text, with the header split into column keys.
struct Sheet {
    name: String,
    /// (base name in lower case, language or "") per column.
    header: Vec<(String, String)>,
    /// The header cells as written (trimmed).
    raw_header: Vec<String>,
    /// (1-based row number, cells)
    rows: Vec<(usize, Vec<String>)>,
}

impl Sheet {
    fn col(&self, base: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|(b, lang)| b == base && lang.is_empty())
            .or_else(|| self.header.iter().position(|(b, _)| b == base))
    }
    fn cell<'a>(&self, row: &'a [String], base: &str) -> &'a str {
        self.col(base)
            .and_then(|i| row.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
    /// Every language variant of a text column (`label`, `label::French (fr)`).
    fn text(&self, row: &[String], base: &str) -> Text {
        let mut t = BTreeMap::new();
        for (i, (b, lang)) in self.header.iter().enumerate() {
            if b == base
                && let Some(v) = row.get(i).filter(|v| !v.is_empty())
            {
                t.insert(lang.clone(), v.clone());
            }
        }
        Text(t)
    }
    /// The XForm attributes of a row (see [`crate::model::XFormAttributes`]).
    fn attributes(&self, row: &[String]) -> Result<BTreeMap<String, String>, (String, String)> {
        let mut out = BTreeMap::new();
        for (i, (base, lang)) in self.header.iter().enumerate() {
            let Some(value) = row.get(i).filter(|v| !v.is_empty()) else {
                continue;
            };
            let key = match (base.as_str(), lang.as_str()) {
                ("bind" | "body" | "instance", attr) if !attr.is_empty() => format!("{base}::{attr}"),
                ("rows" | "autoplay", "") => format!("body::{base}"),
                ("noapperrorstring" | "no_app_error_string", "") => "bind::jr:noAppErrorString".to_owned(),
                _ => continue,
            };
            // Attributes Passage writes itself, and whose meaning its checks depend on.
            let own = [
                "bind::nodeset",
                "bind::type",
                "bind::jr:preload",
                "bind::jr:preloadParams",
                "body::ref",
                "body::nodeset",
                "body::mediatype",
                "instance::jr:template",
            ];
            if own.iter().any(|o| o.eq_ignore_ascii_case(&key)) {
                return Err((
                    self.raw_header.get(i).cloned().unwrap_or(key),
                    "is set by Passage from the other columns and cannot be given".into(),
                ));
            }
            out.insert(key, value.clone());
        }
        Ok(out)
    }
    /// Every media column of a row, by kind.
    fn media(&self, row: &[String]) -> BTreeMap<String, Text> {
        MEDIA_COLUMNS
            .iter()
            .map(|kind| (kind.to_string(), self.text(row, kind)))
            .filter(|(_, t)| !t.0.is_empty())
            .collect()
    }
}

/// A cell as pyxform reads it: whole numbers without `.0`, booleans `TRUE`/`FALSE`, dates
/// `2012-12-12 00:00:00` and times of day `09:30:00` (a time is a date cell below one day).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        // As pyxform: no-break spaces are spaces and "smart" quotes plain ones (a spreadsheet's
        // autocorrect would otherwise break expressions).
        Data::String(s) => s
            .replace('\u{a0}', " ")
            .replace(['\u{2018}', '\u{2019}'], "'")
            .replace(['\u{201c}', '\u{201d}'], "\"")
            .trim()
            .to_owned(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Bool(b) => (if *b { "TRUE" } else { "FALSE" }).to_owned(),
        Data::DateTime(dt) => {
            let value = dt.as_f64();
            // Seconds rounded as xlrd rounds them (calamine truncates to milliseconds).
            let seconds = ((value.fract() * 86_400.0).round() as u32).min(86_399);
            let time = format!(
                "{:02}:{:02}:{:02}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            );
            if value < 1.0 {
                time
            } else {
                let (year, month, day, ..) = dt.to_ymd_hms_milli();
                format!("{year:04}-{month:02}-{day:02} {time}")
            }
        }
        other => other.to_string().trim().to_owned(),
    }
}

/// `label::English (en)` → ("label", "English (en)"); `label:French` → ("label", "French");
/// header names are case-insensitive and `list name` equals `list_name`. Media columns:
/// `image`, `image::French`, `media::audio::French` → ("audio", "French").
fn column_key(raw: &str) -> (String, String) {
    let raw = raw.trim();
    // Old pyxform spellings: `bind:relevant`, `bind:jr:constraintMsg`, `control:appearance`,
    // and pyxform's other names for the same columns.
    let lowered = raw.to_lowercase();
    let alias = match lowered.as_str() {
        "bind:relevant" | "relevance" => Some("relevant"),
        "bind:constraint" => Some("constraint"),
        "bind:required" => Some("required"),
        "bind:calculate" | "calculate" => Some("calculation"),
        "bind:readonly" | "readonly" => Some("read_only"),
        "bind:jr:constraintmsg" | "jr:constraintmsg" | "constraining_message" => Some("constraint_message"),
        "bind:jr:requiredmsg" | "jr:requiredmsg" | "requiredmsg" => Some("required_message"),
        "control:appearance" => Some("appearance"),
        "count" | "jr:count" | "control:jr:count" => Some("repeat_count"),
        "caption" => Some("label"),
        "list name" => Some("list_name"),
        _ => None,
    };
    if let Some(base) = alias {
        return (base.to_owned(), String::new());
    }
    let (base, lang) = match raw.split_once("::") {
        Some((b, l)) => (b, l),
        None => match raw.split_once(':') {
            Some((b, l)) if !l.is_empty() => (b, l),
            _ => (raw, ""),
        },
    };
    let base = base.trim().to_lowercase().replace(' ', "_");
    let lang = lang.trim();
    match (base.as_str(), lang.to_lowercase().as_str()) {
        // `media::audio[::lang]` names the media kind after `media`.
        ("media", rest) if !rest.is_empty() => {
            let (kind, lang) = lang
                .split_once("::")
                .or_else(|| lang.split_once(':'))
                .unwrap_or((lang, ""));
            (kind.trim().to_lowercase(), lang.trim().to_owned())
        }
        // `bind::relevant` is the `relevant` column, and so on; other `bind::X`, `body::X`
        // (`control::X`) and `instance::X` columns are attributes passed through.
        ("bind", "relevant") => ("relevant".to_owned(), String::new()),
        ("bind", "constraint") => ("constraint".to_owned(), String::new()),
        ("bind", "required") => ("required".to_owned(), String::new()),
        ("bind", "calculate") => ("calculation".to_owned(), String::new()),
        ("bind", "readonly") => ("read_only".to_owned(), String::new()),
        ("bind", "jr:constraintmsg") => ("constraint_message".to_owned(), String::new()),
        ("bind", "jr:requiredmsg") => ("required_message".to_owned(), String::new()),
        ("control" | "body", "appearance") => ("appearance".to_owned(), String::new()),
        ("control" | "body", "jr:count") => ("repeat_count".to_owned(), String::new()),
        ("control", _) => ("body".to_owned(), lang.to_owned()),
        _ => (base, lang.to_owned()),
    }
}

/// Media columns of the survey and choices sheets, as XForm `value` forms.
const MEDIA_COLUMNS: [&str; 4] = ["image", "big-image", "audio", "video"];

fn load_sheets(bytes: &[u8]) -> Result<BTreeMap<String, Sheet>, FormErrors> {
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| {
        FormErrors(vec![FormError {
            sheet: "workbook".into(),
            row: None,
            column: None,
            reason: format!("not a readable .xlsx or .xls file ({e})"),
        }])
    })?;
    let mut sheets = BTreeMap::new();
    let names = workbook.sheet_names();
    let only_sheet = names.len() == 1;
    for name in names {
        let mut key = name.trim().to_lowercase();
        if !matches!(key.as_str(), "survey" | "choices" | "settings") {
            // A workbook with one sheet, whatever its name, is the survey (as in pyxform).
            if !only_sheet {
                continue;
            }
            key = "survey".into();
        }
        let range = workbook.worksheet_range(&name).map_err(|e| {
            FormErrors(vec![FormError {
                sheet: name.clone(),
                row: None,
                column: None,
                reason: e.to_string(),
            }])
        })?;
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        let mut rows = range.rows().enumerate().map(|(i, cells)| {
            // Keep absolute column positions so the header lines up with the data.
            let mut out = vec![String::new(); first_col as usize];
            out.extend(cells.iter().map(cell_text));
            (first_row as usize + i + 1, out)
        });
        let raw_header: Vec<String> = rows.next().map(|(_, h)| h).unwrap_or_default();
        let header = raw_header.iter().map(|c| column_key(c)).collect();
        let rows = rows
            .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
            .collect();
        sheets.insert(
            key,
            Sheet {
                name,
                header,
                raw_header,
                rows,
            },
        );
    }
    Ok(sheets)
}

/// The `${name}`s in a text.
fn references_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 1..];
    }
    out
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || "_-.".contains(c))
}

struct Problems(Vec<FormError>);

impl Problems {
    fn add(&mut self, sheet: &str, row: usize, column: Option<&str>, reason: impl Into<String>) {
        self.0.push(FormError {
            sheet: sheet.to_owned(),
            row: Some(row),
            column: column.map(str::to_owned),
            reason: reason.into(),
        });
    }
}

enum Kind {
    Field(FieldKind),
    /// `phone number`: text with pyxform's digits-only constraint and hint.
    PhoneNumber,
    Begin {
        repeat: bool,
    },
    End {
        repeat: bool,
    },
}

fn parse_type(raw: &str) -> Result<Kind, String> {
    // `select_one` = `select one`, `begin_group` = `begin group`…: split the keyword, never
    // the list name that follows it.
    let mut words: Vec<&str> = Vec::new();
    for (i, w) in raw.split_whitespace().enumerate() {
        match w.split_once('_') {
            Some((a, b)) if i == 0 && ["select", "begin", "end"].contains(&a.to_lowercase().as_str()) => {
                words.push(a);
                words.push(b);
            }
            _ => words.push(w),
        }
    }
    let joined = words
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    // Multiple-choice questions: `select_one LIST`, `select one LIST`, `select one from LIST`,
    // `select all that apply from LIST`, each optionally followed by `or_other`.
    let select = [
        ("select one from ", false),
        ("select all that apply from ", true),
        ("select one ", false),
        ("select multiple ", true),
    ];
    for (prefix, multiple) in select {
        if joined.starts_with(prefix) {
            let skip = prefix.split_whitespace().count();
            let mut rest: Vec<&str> = words.iter().skip(skip).copied().collect();
            // `or_other`, or the older `or specify other`.
            let lowered_rest: Vec<String> = rest.iter().map(|w| w.to_lowercase()).collect();
            let or_other = if lowered_rest.ends_with(&["or_other".to_owned()]) {
                rest.pop();
                true
            } else if lowered_rest.ends_with(&["or".to_owned(), "specify".to_owned(), "other".to_owned()]) {
                rest.truncate(rest.len() - 3);
                true
            } else {
                false
            };

            let [list] = rest.as_slice() else {
                return Err("must name one choice list, e.g. `select_one yes_no`".to_owned());
            };
            let list = (*list).to_owned();
            return Ok(Kind::Field(if multiple {
                FieldKind::SelectMultiple { list, or_other }
            } else {
                FieldKind::SelectOne { list, or_other }
            }));
        }
    }
    Ok(match joined.as_str() {
        "begin group" => Kind::Begin { repeat: false },
        "begin repeat" => Kind::Begin { repeat: true },
        "end group" => Kind::End { repeat: false },
        "end repeat" => Kind::End { repeat: true },
        "text" | "string" => Kind::Field(FieldKind::Text),
        "integer" | "int" => Kind::Field(FieldKind::Integer),
        "decimal" => Kind::Field(FieldKind::Decimal),
        "date" => Kind::Field(FieldKind::Date),
        "time" => Kind::Field(FieldKind::Time),
        "datetime" | "date time" => Kind::Field(FieldKind::DateTime),
        "geopoint" => Kind::Field(FieldKind::Geopoint),
        "image" | "photo" => Kind::Field(FieldKind::Media(MediaKind::Image)),
        "audio" => Kind::Field(FieldKind::Media(MediaKind::Audio)),
        "video" => Kind::Field(FieldKind::Media(MediaKind::Video)),
        "file" => Kind::Field(FieldKind::Media(MediaKind::File)),
        "barcode" => Kind::Field(FieldKind::Barcode),
        "note" => Kind::Field(FieldKind::Note),
        "calculate" => Kind::Field(FieldKind::Calculate),
        "acknowledge" => Kind::Field(FieldKind::Acknowledge),
        "trigger" => Kind::Field(FieldKind::Acknowledge),
        "phone number" => Kind::PhoneNumber,
        _ => match metadata(&joined) {
            Some(m) => Kind::Field(FieldKind::Metadata(m)),
            None => return Err(unsupported(raw)),
        },
    })
}

/// Metadata types (pyxform's names and aliases).
fn metadata(joined: &str) -> Option<Metadata> {
    Some(match joined {
        "start" | "start time" | "get start time" => Metadata::Start,
        "end" | "end time" | "get end time" => Metadata::End,
        "today" | "get today" => Metadata::Today,
        "deviceid" | "device id" | "imei" | "get device id" => Metadata::DeviceId,
        "username" => Metadata::Username,
        "simserial" | "sim id" | "get sim id" => Metadata::SimSerial,
        "subscriberid" | "subscriber id" | "get subscriber id" => Metadata::SubscriberId,
        "phonenumber" | "get phone number" => Metadata::PhoneNumber,
        "email" => Metadata::Email,
        "uri:deviceid" => Metadata::UriDeviceId,
        "uri:username" => Metadata::UriUsername,
        "uri:simserial" => Metadata::UriSimSerial,
        "uri:subscriberid" => Metadata::UriSubscriberId,
        "uri:phonenumber" => Metadata::UriPhoneNumber,
        "uri:email" => Metadata::UriEmail,
        _ => return None,
    })
}

fn unsupported(raw: &str) -> String {
    let lowered = raw.to_lowercase();
    let why = if lowered.contains("external")
        || lowered.contains("from_file")
        || lowered.contains("from file")
    {
        " (choices from a file outside the workbook cannot be checked by the server: put them on the choices sheet)"
    } else if lowered.contains("loop") {
        " (loops over a choice list are not supported: use a repeat)"
    } else {
        ""
    };
    format!(
        "type `{raw}` is not supported{why} (Passage supports text, integer, decimal, date, time, datetime, select_one, select_multiple (with or_other), geopoint, image, audio, video, file, barcode, note, calculate, acknowledge/trigger, phone number, the metadata start, end, today, deviceid, username, simserial, subscriberid, phonenumber, email and their uri: forms, groups and repeats)"
    )
}

/// Columns whose text is an expression (or `yes`), kept as written for the XForm.
const EXPRESSION_COLUMNS: [&str; 7] = [
    "required",
    "relevant",
    "constraint",
    "calculation",
    "choice_filter",
    "default",
    "repeat_count",
];

fn yes(raw: &str) -> Option<bool> {
    match raw.trim().to_lowercase().as_str() {
        "" | "no" | "false" | "false()" | "0" => Some(false),
        "yes" | "true" | "true()" | "1" => Some(true),
        _ => None,
    }
}

/// Read a workbook. `fallback_id` names the form when the settings sheet gives no `form_id`
/// (usually the file name without extension).
pub fn read_xlsform(bytes: &[u8], fallback_id: &str) -> Result<Form, FormErrors> {
    let sheets = load_sheets(bytes)?;
    let mut problems = Problems(Vec::new());
    let Some(survey) = sheets.get("survey") else {
        return Err(FormErrors(vec![FormError {
            sheet: "workbook".into(),
            row: None,
            column: None,
            reason: "has no `survey` sheet".into(),
        }]));
    };
    for needed in ["type", "name"] {
        if survey.col(needed).is_none() {
            problems.0.push(FormError {
                sheet: survey.name.clone(),
                row: Some(1),
                column: Some(needed.into()),
                reason: "this column is missing".into(),
            });
        }
    }
    if !problems.0.is_empty() {
        return Err(FormErrors(problems.0));
    }

    let allow_duplicates = sheets
        .get("settings")
        .and_then(|s| {
            s.rows
                .first()
                .map(|(_, cells)| yes(s.cell(cells, "allow_choice_duplicates")) == Some(true))
        })
        .unwrap_or(false);
    let mut choices = read_choices(sheets.get("choices"), allow_duplicates, &mut problems);
    let sheet_name = survey.name.clone();

    // A stack of open groups: (group, kind is repeat).
    let mut stack: Vec<Group> = vec![Group {
        repeat_count: None,
        name: String::new(),
        label: Text::default(),
        hint: Text::default(),
        media: BTreeMap::new(),
        attributes: BTreeMap::new(),
        relevant: None,
        appearance: None,
        repeat: false,
        children: Vec::new(),
        source: BTreeMap::new(),
        row: 0,
    }];
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut references: Vec<(usize, String, String)> = Vec::new();

    for (row, cells) in &survey.rows {
        let row = *row;
        let raw_type = survey.cell(cells, "type");
        let name = survey.cell(cells, "name").to_owned();
        if raw_type.is_empty() {
            if !name.is_empty() {
                problems.add(&sheet_name, row, Some("type"), "is empty but the row has a name");
            }
            continue;
        }
        if raw_type.starts_with('#') {
            continue;
        }
        let kind = match parse_type(raw_type) {
            Ok(k) => k,
            Err(reason) => {
                problems.add(&sheet_name, row, Some("type"), reason);
                continue;
            }
        };
        if let Kind::End { repeat } = kind {
            if stack.len() == 1 {
                problems.add(
                    &sheet_name,
                    row,
                    Some("type"),
                    format!("`{raw_type}` without a matching begin"),
                );
            } else if stack.last().is_some_and(|g| g.repeat != repeat) {
                let open = if repeat { "a group" } else { "a repeat" };
                problems.add(
                    &sheet_name,
                    row,
                    Some("type"),
                    format!("`{raw_type}` closes {open}"),
                );
            } else if let Some(group) = stack.pop()
                && let Some(parent) = stack.last_mut()
            {
                check_table_list(&group, &sheet_name, &mut problems);
                parent.children.push(Node::Group(group));
            }
            continue;
        }

        // Notes hold no answer, so a note without a name is accepted and named after its row
        // (as pyxform names it).
        let name = match (&kind, name.is_empty()) {
            (Kind::Field(FieldKind::Note), true) => format!("generated_note_name_{row}"),
            (_, true) => {
                problems.add(&sheet_name, row, Some("name"), "is required");
                continue;
            }
            (_, false) => name,
        };
        if !is_xml_name(&name) {
            problems.add(
                &sheet_name,
                row,
                Some("name"),
                format!("`{name}` must start with a letter or _ and contain only letters, digits, _ - ."),
            );
            continue;
        }
        if let Some(first) = names.insert(name.clone(), row) {
            problems.add(
                &sheet_name,
                row,
                Some("name"),
                format!("`{name}` is already used on row {first}"),
            );
            continue;
        }

        let attributes = match survey.attributes(cells) {
            Ok(a) => a,
            Err((column, reason)) => {
                problems.add(&sheet_name, row, Some(&column), reason);
                BTreeMap::new()
            }
        };
        for (key, value) in &attributes {
            for name in references_in(value) {
                references.push((row, key.clone(), name));
            }
        }
        let mut expr = |column: &'static str, choice_filter: bool| -> Option<Expr> {
            let src = survey.cell(cells, column);
            if src.is_empty() {
                return None;
            }
            let parsed = if choice_filter {
                Expr::parse_choice_filter(src)
            } else {
                Expr::parse(src)
            };
            match parsed {
                Ok(e) => {
                    for f in e.fields() {
                        references.push((row, column.to_owned(), f.to_owned()));
                    }
                    Some(e)
                }
                Err(ParseError { at, message }) => {
                    problems.add(
                        &sheet_name,
                        row,
                        Some(column),
                        format!("at character {at}: {message}"),
                    );
                    None
                }
            }
        };
        let relevant = expr("relevant", false);
        // The expressions as written: the XForm carries them, with `${x}` made a path.
        let mut source: BTreeMap<String, String> = EXPRESSION_COLUMNS
            .iter()
            .map(|c| (c.to_string(), survey.cell(cells, c).to_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        source.insert("type".into(), raw_type.to_owned());
        // `phone number` is text that pyxform checks for digits, with a hint saying so.
        let (kind, phone_number) = match kind {
            Kind::PhoneNumber => (Kind::Field(FieldKind::Text), true),
            other => (other, false),
        };

        match kind {
            Kind::Begin { repeat } => stack.push(Group {
                repeat_count: if repeat { expr("repeat_count", false) } else { None },
                name,
                label: survey.text(cells, "label"),
                hint: survey.text(cells, "hint"),
                media: survey.media(cells),
                attributes,
                relevant,
                appearance: Some(survey.cell(cells, "appearance").to_owned()).filter(|a| !a.is_empty()),
                repeat,
                children: Vec::new(),
                source,
                row,
            }),
            Kind::Field(kind) => {
                let required = match yes(survey.cell(cells, "required")) {
                    Some(true) => Some(Expr::Call(crate::expr::Func::True, vec![])),
                    Some(false) => None,
                    None => expr("required", false),
                };
                const DIGITS: &str = r"regex(., '^\d*$')";
                if phone_number && !source.contains_key("constraint") {
                    source.insert("constraint".into(), DIGITS.into());
                }
                let constraint = match expr("constraint", false) {
                    None if phone_number => Expr::parse(DIGITS).ok(),
                    c => c,
                };
                let mut hint = survey.text(cells, "hint");
                if phone_number && hint.is_empty() {
                    hint.0.insert(String::new(), "Enter numbers only.".into());
                }
                let calculation = expr("calculation", false);
                let choice_filter = expr("choice_filter", true);
                if kind == FieldKind::Calculate && survey.cell(cells, "calculation").is_empty() {
                    problems.add(
                        &sheet_name,
                        row,
                        Some("calculation"),
                        "a calculate field needs a calculation",
                    );
                }
                if let Some(list) = kind.choice_list()
                    && !choices.contains_key(list)
                {
                    problems.add(
                        &sheet_name,
                        row,
                        Some("type"),
                        format!("choice list `{list}` is not on the choices sheet"),
                    );
                }
                let read_only = match yes(survey.cell(cells, "read_only")) {
                    Some(v) => v,
                    None => {
                        problems.add(&sheet_name, row, Some("read_only"), "must be yes or no");
                        false
                    }
                };
                let sensitivity = if !kind.holds_value() {
                    None
                } else {
                    let raw = survey.cell(cells, "passage_sensitivity");
                    match (raw.is_empty(), Sensitivity::parse(raw)) {
                        (true, _) => Some(Sensitivity::Sensitive),
                        (false, Some(s)) => Some(s),
                        (false, None) => {
                            problems.add(
                                &sheet_name,
                                row,
                                Some("passage_sensitivity"),
                                format!("`{raw}` must be identifying, sensitive or reporting"),
                            );
                            None
                        }
                    }
                };
                if let FieldKind::SelectOne { or_other: true, .. }
                | FieldKind::SelectMultiple { or_other: true, .. } = &kind
                    && !survey.cell(cells, "choice_filter").is_empty()
                {
                    problems.add(
                        &sheet_name,
                        row,
                        Some("choice_filter"),
                        "cannot be used with or_other (the added `other` choice has no columns to filter on)",
                    );
                }
                let field = Field {
                    name,
                    kind,
                    label: survey.text(cells, "label"),
                    hint,
                    required,
                    required_message: survey.text(cells, "required_message"),
                    relevant,
                    constraint,
                    constraint_message: survey.text(cells, "constraint_message"),
                    calculation,
                    choice_filter,
                    default: Some(survey.cell(cells, "default").to_owned()).filter(|d| !d.is_empty()),
                    read_only,
                    appearance: Some(survey.cell(cells, "appearance").to_owned()).filter(|a| !a.is_empty()),
                    sensitivity,
                    media: survey.media(cells),
                    attributes,
                    source,
                    row,
                };
                let other = or_other_field(&field, &mut choices);
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node::Field(field));
                    if let Some(other) = other {
                        if let Some(first) = names.insert(other.name.clone(), row) {
                            problems.add(
                                &sheet_name,
                                row,
                                Some("type"),
                                format!(
                                    "or_other adds a field `{}`, a name already used on row {first}",
                                    other.name
                                ),
                            );
                        }
                        top.children.push(Node::Field(other));
                    }
                }
            }
            Kind::End { .. } | Kind::PhoneNumber => {}
        }
    }
    while stack.len() > 1 {
        if let Some(open) = stack.pop() {
            let what = if open.repeat { "repeat" } else { "group" };
            problems.add(
                &sheet_name,
                open.row,
                Some("type"),
                format!("{what} `{}` is never closed", open.name),
            );
        }
    }
    for (row, column, name) in references {
        if !names.contains_key(&name) {
            problems.add(
                &sheet_name,
                row,
                Some(&column),
                format!("refers to ${{{name}}}, which is not a field of this form"),
            );
        }
    }

    let settings = read_settings(sheets.get("settings"), fallback_id, &mut problems);
    // Languages of the text columns, in the order first seen: the choices sheet, then the
    // survey sheet (the order pyxform writes its translations in).
    let mut languages: Vec<String> = Vec::new();
    let text_columns = ["label", "hint", "constraint_message", "required_message"];
    for sheet in [sheets.get("choices"), Some(survey)].into_iter().flatten() {
        for (base, lang) in &sheet.header {
            let text = text_columns.contains(&base.as_str()) || MEDIA_COLUMNS.contains(&base.as_str());
            if text && !lang.is_empty() && !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
    }
    if !problems.0.is_empty() {
        problems.0.sort_by_key(|e| (e.sheet.clone(), e.row));
        return Err(FormErrors(problems.0));
    }
    let root = stack.pop().map(|g| g.children).unwrap_or_default();
    Ok(Form {
        id: settings.id,
        title: settings.title,
        version: settings.version,
        default_language: settings.default_language,
        languages,
        children: root,
        choices,
        instance_name: settings.instance_name,
        public_key: settings.public_key,
        submission_url: settings.submission_url,
        root_name: settings.root_name,
        style: settings.style,
    })
}

/// A `table-list` group shows its selects as the rows of one table under a single header of
/// choices, so they must share a choice list, and the header cannot filter it.
fn check_table_list(group: &Group, sheet: &str, problems: &mut Problems) {
    let table = group
        .appearance
        .as_deref()
        .is_some_and(|a| a.split_whitespace().any(|w| w == "table-list"));
    if !table {
        return;
    }
    let mut first: Option<&str> = None;
    for node in &group.children {
        let Node::Field(f) = node else { continue };
        let Some(list) = f.kind.choice_list() else {
            continue;
        };
        match first {
            None => {
                first = Some(list);
                if f.choice_filter.is_some() {
                    problems.add(
                        sheet,
                        f.row,
                        Some("choice_filter"),
                        format!("cannot be used in table-list group `{}`", group.name),
                    );
                }
            }
            Some(expected) if expected != list => problems.add(
                sheet,
                f.row,
                Some("type"),
                format!(
                    "the selects of table-list group `{}` must share one choice list (`{expected}`, not `{list}`)",
                    group.name
                ),
            ),
            Some(_) => {}
        }
    }
}

/// `select_one LIST or_other`: pyxform adds an `other` choice to LIST (labelled "Other" in
/// each language the list uses) and, after the select, a text field `NAME_other` ("Specify
/// other.") relevant only when `other` is chosen. Both are part of the form, so that the
/// answer is kept and checked like any other.
fn or_other_field(select: &Field, choices: &mut BTreeMap<String, Vec<Choice>>) -> Option<Field> {
    let (FieldKind::SelectOne { list, or_other: true } | FieldKind::SelectMultiple { list, or_other: true }) =
        &select.kind
    else {
        return None;
    };
    let entries = choices.get_mut(list)?;
    if !entries.iter().any(|c| c.name == "other") {
        let translated = entries.iter().any(|c| c.label.0.keys().any(|k| !k.is_empty()));
        let languages: BTreeSet<String> = if translated {
            entries.iter().flat_map(|c| c.label.0.keys().cloned()).collect()
        } else {
            BTreeSet::from([String::new()])
        };
        entries.push(Choice {
            name: "other".into(),
            label: Text(languages.into_iter().map(|l| (l, "Other".to_owned())).collect()),
            media: BTreeMap::new(),
            columns: BTreeMap::new(),
        });
    }
    let name = &select.name;
    let sensitivity = match select.sensitivity {
        Some(Sensitivity::Identifying) => Sensitivity::Identifying,
        _ => Sensitivity::Sensitive,
    };
    Some(Field {
        name: format!("{name}_other"),
        kind: FieldKind::Text,
        label: Text(BTreeMap::from([(String::new(), "Specify other.".to_owned())])),
        hint: Text::default(),
        required: None,
        required_message: Text::default(),
        relevant: Expr::parse(&format!("selected(${{{name}}}, 'other')")).ok(),
        constraint: None,
        constraint_message: Text::default(),
        calculation: None,
        choice_filter: None,
        default: None,
        read_only: false,
        appearance: None,
        sensitivity: Some(sensitivity),
        media: BTreeMap::new(),
        attributes: BTreeMap::new(),
        // As pyxform writes it: relative to the select, its sibling.
        source: BTreeMap::from([
            ("relevant".to_owned(), format!("selected(../{name}, 'other')")),
            ("type".to_owned(), "text".to_owned()),
        ]),
        row: select.row,
    })
}

fn read_choices(
    sheet: Option<&Sheet>,
    allow_duplicates: bool,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<Choice>> {
    let mut lists: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
    let Some(sheet) = sheet else { return lists };
    if sheet.col("list_name").is_none() {
        problems.add(&sheet.name, 1, Some("list_name"), "this column is missing");
        return lists;
    }
    let reserved = [
        "list_name",
        "name",
        "label",
        "image",
        "big-image",
        "audio",
        "video",
        "media",
    ];
    for (row, cells) in &sheet.rows {
        let list = sheet.cell(cells, "list_name");
        let name = sheet.cell(cells, "name");
        if list.is_empty() && name.is_empty() {
            continue;
        }
        if list.is_empty() {
            problems.add(&sheet.name, *row, Some("list_name"), "is required");
            continue;
        }
        if name.is_empty() {
            problems.add(&sheet.name, *row, Some("name"), "is required");
            continue;
        }
        let entries = lists.entry(list.to_owned()).or_default();
        if !allow_duplicates && entries.iter().any(|c| c.name == name) {
            problems.add(
                &sheet.name,
                *row,
                Some("name"),
                format!("`{name}` appears twice in list `{list}`"),
            );
            continue;
        }
        // Other columns become elements of the choice's item, named as written; like pyxform,
        // a column whose name has a space (a note to the form's authors) is left out.
        let columns = sheet
            .header
            .iter()
            .zip(&sheet.raw_header)
            .enumerate()
            .filter(|(_, ((base, lang), raw))| {
                lang.is_empty()
                    && !base.is_empty()
                    && !reserved.contains(&base.as_str())
                    && !raw.contains(char::is_whitespace)
            })
            .filter_map(|(i, (_, raw))| cells.get(i).map(|v| (raw.clone(), v.clone())))
            .collect();
        entries.push(Choice {
            name: name.to_owned(),
            label: sheet.text(cells, "label"),
            media: sheet.media(cells),
            columns,
        });
    }
    lists
}

/// What the settings sheet says (pyxform's names and aliases).
struct Settings {
    id: String,
    title: String,
    version: String,
    default_language: Option<String>,
    instance_name: Option<String>,
    public_key: Option<String>,
    submission_url: Option<String>,
    root_name: Option<String>,
    style: Option<String>,
}

fn read_settings(sheet: Option<&Sheet>, fallback_id: &str, problems: &mut Problems) -> Settings {
    let row = sheet.and_then(|s| s.rows.first().map(|(n, cells)| (s, *n, cells)));
    let (sheet_name, row_number) = row
        .map(|(s, n, _)| (s.name.clone(), n))
        .unwrap_or(("settings".into(), 2));
    // The first of several spellings that has a value.
    let get = |columns: &[&str]| {
        row.and_then(|(s, _, cells)| {
            columns
                .iter()
                .map(|c| s.cell(cells, c))
                .find(|v| !v.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_default()
    };
    let mut id = get(&["form_id", "id_string", "set_form_id"]);
    if id.is_empty() {
        id = fallback_id.to_owned();
    }
    if id.chars().any(char::is_control) || id.contains('/') {
        problems.add(
            &sheet_name,
            row_number,
            Some("form_id"),
            format!("`{id}` must not contain `/` or control characters"),
        );
    }
    let title = Some(get(&["form_title", "title", "set_form_title"]))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| id.clone());
    let optional = |column: &str| Some(get(&[column])).filter(|v| !v.is_empty());
    if yes(&get(&["flat"])) != Some(false) {
        problems.add(
            &sheet_name,
            row_number,
            Some("flat"),
            "flat groups (groups without an element of their own) are not supported: records are read group by group",
        );
    }
    let root_name = optional("name");
    if let Some(name) = &root_name
        && !is_xml_name(name)
    {
        problems.add(
            &sheet_name,
            row_number,
            Some("name"),
            format!("`{name}` must start with a letter or _ and contain only letters, digits, _ - ."),
        );
    }
    Settings {
        id,
        title,
        version: get(&["version"]),
        default_language: optional("default_language"),
        instance_name: optional("instance_name"),
        public_key: optional("public_key").map(|k| k.split_whitespace().collect::<String>()),
        submission_url: optional("submission_url"),
        root_name,
        style: optional("style"),
    }
}
