//! Read an XLSForm workbook (xlsx or xls) into a [`Form`], checking everything a form needs
//! to work. A bad workbook is rejected whole, with every problem named by sheet, row, column
//! and reason.

use crate::expr::{Expr, ParseError};
use crate::model::{Choice, Field, FieldKind, Form, Group, Metadata, Node, Sensitivity, Text};
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
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string().trim().to_owned(),
    }
}

/// `label::English (en)` → ("label", "English (en)"); `label:French` → ("label", "French");
/// header names are case-insensitive and `list name` equals `list_name`.
fn column_key(raw: &str) -> (String, String) {
    let raw = raw.trim();
    // Old pyxform spellings: `bind:relevant`, `bind:jr:constraintMsg`, `control:appearance`.
    let lowered = raw.to_lowercase();
    let alias = match lowered.as_str() {
        "bind:relevant" => Some("relevant"),
        "bind:constraint" => Some("constraint"),
        "bind:required" => Some("required"),
        "bind:calculate" => Some("calculation"),
        "bind:readonly" => Some("read_only"),
        "bind:jr:constraintmsg" => Some("constraint_message"),
        "control:appearance" => Some("appearance"),
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
    (
        base.trim().to_lowercase().replace(' ', "_"),
        lang.trim().to_owned(),
    )
}

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
    for name in workbook.sheet_names() {
        let key = name.trim().to_lowercase();
        if !matches!(key.as_str(), "survey" | "choices" | "settings") {
            continue;
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
        let header = rows
            .next()
            .map(|(_, h)| h.iter().map(|c| column_key(c)).collect())
            .unwrap_or_default();
        let rows = rows
            .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
            .collect();
        sheets.insert(key, Sheet { name, header, rows });
    }
    Ok(sheets)
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
    Begin { repeat: bool },
    End { repeat: bool },
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
        "datetime" => Kind::Field(FieldKind::DateTime),
        "geopoint" => Kind::Field(FieldKind::Geopoint),
        "note" => Kind::Field(FieldKind::Note),
        "calculate" => Kind::Field(FieldKind::Calculate),
        "acknowledge" => Kind::Field(FieldKind::Acknowledge),
        "start" => Kind::Field(FieldKind::Metadata(Metadata::Start)),
        "end" => Kind::Field(FieldKind::Metadata(Metadata::End)),
        "today" => Kind::Field(FieldKind::Metadata(Metadata::Today)),
        "deviceid" => Kind::Field(FieldKind::Metadata(Metadata::DeviceId)),
        "username" => Kind::Field(FieldKind::Metadata(Metadata::Username)),
        _ => {
            return Err(format!(
                "type `{raw}` is not supported (Passage supports text, integer, decimal, date, time, datetime, select_one, select_multiple, geopoint, note, calculate, acknowledge, groups and repeats)"
            ));
        }
    })
}

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
    let choices = read_choices(sheets.get("choices"), allow_duplicates, &mut problems);
    let sheet_name = survey.name.clone();

    // A stack of open groups: (group, kind is repeat).
    let mut stack: Vec<Group> = vec![Group {
        repeat_count: None,
        name: String::new(),
        label: Text::default(),
        relevant: None,
        appearance: None,
        repeat: false,
        children: Vec::new(),
        row: 0,
    }];
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut references: Vec<(usize, &'static str, String)> = Vec::new();

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
                parent.children.push(Node::Group(group));
            }
            continue;
        }

        // Notes hold no answer, so a note without a name is accepted and named after its row.
        let name = match (&kind, name.is_empty()) {
            (Kind::Field(FieldKind::Note), true) => format!("_note_row{row}"),
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
                        references.push((row, column, f.to_owned()));
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

        match kind {
            Kind::Begin { repeat } => stack.push(Group {
                repeat_count: if repeat { expr("repeat_count", false) } else { None },
                name,
                label: survey.text(cells, "label"),
                relevant,
                appearance: Some(survey.cell(cells, "appearance").to_owned()).filter(|a| !a.is_empty()),
                repeat,
                children: Vec::new(),
                row,
            }),
            Kind::Field(kind) => {
                let required = match yes(survey.cell(cells, "required")) {
                    Some(true) => Some(Expr::Call(crate::expr::Func::True, vec![])),
                    Some(false) => None,
                    None => expr("required", false),
                };
                let constraint = expr("constraint", false);
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
                let field = Field {
                    name,
                    kind,
                    label: survey.text(cells, "label"),
                    hint: survey.text(cells, "hint"),
                    required,
                    relevant,
                    constraint,
                    constraint_message: survey.text(cells, "constraint_message"),
                    calculation,
                    choice_filter,
                    default: Some(survey.cell(cells, "default").to_owned()).filter(|d| !d.is_empty()),
                    read_only,
                    appearance: Some(survey.cell(cells, "appearance").to_owned()).filter(|a| !a.is_empty()),
                    sensitivity,
                    row,
                };
                if let Some(top) = stack.last_mut() {
                    top.children.push(Node::Field(field));
                }
            }
            Kind::End { .. } => {}
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
                Some(column),
                format!("refers to ${{{name}}}, which is not a field of this form"),
            );
        }
    }

    let settings = read_settings(sheets.get("settings"), fallback_id, &mut problems);
    let mut languages: BTreeSet<String> = BTreeSet::new();
    for (base, lang) in &survey.header {
        if base == "label" && !lang.is_empty() {
            languages.insert(lang.clone());
        }
    }
    if !problems.0.is_empty() {
        problems.0.sort_by_key(|e| (e.sheet.clone(), e.row));
        return Err(FormErrors(problems.0));
    }
    let root = stack.pop().map(|g| g.children).unwrap_or_default();
    Ok(Form {
        id: settings.0,
        title: settings.1,
        version: settings.2,
        default_language: settings.3,
        languages: languages.into_iter().collect(),
        children: root,
        choices,
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
    let reserved = ["list_name", "name", "label", "image", "audio", "video", "media"];
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
        let columns = sheet
            .header
            .iter()
            .enumerate()
            .filter(|(_, (base, lang))| {
                lang.is_empty() && !base.is_empty() && !reserved.contains(&base.as_str())
            })
            .filter_map(|(i, (base, _))| cells.get(i).map(|v| (base.clone(), v.clone())))
            .collect();
        entries.push(Choice {
            name: name.to_owned(),
            label: sheet.text(cells, "label"),
            columns,
        });
    }
    lists
}

/// (form_id, title, version, default_language)
fn read_settings(
    sheet: Option<&Sheet>,
    fallback_id: &str,
    problems: &mut Problems,
) -> (String, String, String, Option<String>) {
    let row = sheet.and_then(|s| s.rows.first().map(|(n, cells)| (s, *n, cells)));
    let get = |column: &str| {
        row.map(|(s, _, cells)| s.cell(cells, column).to_owned())
            .unwrap_or_default()
    };
    let mut id = get("form_id");
    if id.is_empty() {
        id = fallback_id.to_owned();
    }
    if id.chars().any(char::is_control) || id.contains('/') {
        let (sheet_name, row_number) = row
            .map(|(s, n, _)| (s.name.clone(), n))
            .unwrap_or(("settings".into(), 2));
        problems.add(
            &sheet_name,
            row_number,
            Some("form_id"),
            format!("`{id}` must not contain `/` or control characters"),
        );
    }
    let title = Some(get("form_title"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| id.clone());
    let version = get("version");
    let default_language = Some(get("default_language")).filter(|l| !l.is_empty());
    (id, title, version, default_language)
}
