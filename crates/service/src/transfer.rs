//! Import and export of case records as spreadsheets (CSV or XLSX).
//!
//! Import: one row per case, the header naming fields of the programme's current form. Every
//! row is checked by the same rules as a web registration; a dry run lists each problem by
//! spreadsheet row, column and reason, and a commit stores all rows in one transaction or
//! nothing at all. Problems never repeat a cell's value.
//!
//! Export: one row per case made with one form version. Identifying and sensitive columns are
//! included only for readers of the programme's records; a reports reader gets the reporting
//! columns. Cells that a spreadsheet would run as a formula are escaped.

use crate::cases::{NewCase, instance_from_json, record_permissions};
use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use calamine::{Data, Reader};
use passage_domain::{Actor, AuditAction, InvalidValue, OrgId, Permission, Scope};
use passage_store::audit;
use passage_xlsform::check::{Instance, check};
use passage_xlsform::{Field, FieldKind, Form, Node, Sensitivity};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The most data rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 50_000;

/// How many problems an import report lists; the rest are only counted.
pub const MAX_LISTED_PROBLEMS: usize = 1_000;

/// The columns every export starts with; they are set by Passage, so an import refuses them.
pub const EXPORT_COLUMNS: [&str; 3] = ["case_number", "stage", "registered_at"];

/// The longest text an Excel cell holds.
const XLSX_MAX_CELL_CHARS: usize = 32_767;

/// A spreadsheet file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SheetFormat {
    Csv,
    Xlsx,
}

impl SheetFormat {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            _ => None,
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// One problem found in an import: where it is and what is wrong (never the cell's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowProblem {
    /// The spreadsheet row, as a spreadsheet program numbers it (the header is row 1).
    pub row: usize,
    /// The column: a field name, or `column C` for a column without a name.
    pub column: String,
    pub reason: String,
}

/// Rows with a possible earlier registration listed by an import check, at most.
pub const MAX_LISTED_DUPLICATES: usize = 200;

/// What an import found, and whether it stored the records.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub programme: String,
    /// The form version the rows were checked against.
    pub form_version: uuid::Uuid,
    pub format: SheetFormat,
    /// Data rows read (empty rows are skipped).
    pub rows: usize,
    /// The first problems found, in row order ([`MAX_LISTED_PROBLEMS`] at most).
    pub problems: Vec<RowProblem>,
    /// Problems found beyond those listed.
    pub more_problems: usize,
    /// Whether the records were stored (only on a commit without problems).
    pub committed: bool,
    /// On a check: rows naming someone the organisation may already have registered
    /// (row number as the spreadsheet shows it, the most likely person).
    pub possible_duplicates: Vec<(usize, crate::SimilarPerson)>,
    /// How many cases were registered.
    pub imported: usize,
}

impl ImportReport {
    /// No problems: every row can be (or was) imported.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.more_problems == 0
    }
    /// Every problem found (listed and counted).
    pub fn problem_count(&self) -> usize {
        self.problems.len() + self.more_problems
    }
}

/// A file export: its name, content type and bytes.
pub type ExportFile = (String, &'static str, Vec<u8>);

/// A sheet as read: the header, then data rows with their spreadsheet row numbers.
struct Sheet {
    format: SheetFormat,
    header_row: usize,
    header: Vec<String>,
    rows: Vec<(usize, Vec<Data>)>,
}

fn file_error(reason: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(InvalidValue::new("file", reason))
}

/// Whether a cell's text would be run as a formula by a spreadsheet program.
fn formula_like(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Prefix `'` to text a spreadsheet would run as a formula (CSV and formula injection).
pub fn escape_formula(text: &str) -> Cow<'_, str> {
    if formula_like(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Undo [`escape_formula`], so that an exported file imports back as it was.
fn unescape_formula(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => text,
    }
}

/// `0 → A`, `25 → Z`, `26 → AA`.
fn column_letter(mut index: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn is_blank(d: &Data) -> bool {
    match d {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Read a CSV or XLSX file: by content first (an XLSX is a zip), then by name.
fn read_sheet(file_name: &str, bytes: &[u8]) -> Result<Sheet, ServiceError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(file_error("is empty"));
    }
    let lower = file_name.trim().to_ascii_lowercase();
    if lower.ends_with(".ods") {
        return Err(file_error(
            "is an OpenDocument spreadsheet; save it as .xlsx (Excel Workbook) or as CSV UTF-8 and upload that",
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) || lower.ends_with(".xls") {
        return Err(file_error(
            "is an old Excel .xls workbook; save it as .xlsx (Excel Workbook) or as CSV UTF-8 and upload that",
        ));
    }
    if lower.ends_with(".xlsx") {
        return Err(file_error("is not a readable .xlsx workbook"));
    }
    let known_text = lower.ends_with(".csv") || lower.ends_with(".txt") || !lower.contains('.');
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => read_csv(text),
        _ if known_text => Err(file_error(
            "is not UTF-8 text; save it from your spreadsheet program as \"CSV UTF-8\"",
        )),
        _ => Err(file_error(
            "is neither a CSV nor an XLSX file; upload a .csv (UTF-8) or .xlsx file with a header row of field names",
        )),
    }
}

/// The delimiter of a CSV file: comma, unless its first line has more semicolons or tabs (as
/// spreadsheet programs write in some languages).
fn delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    let count = |c: char| first.chars().filter(|x| *x == c).count();
    let (comma, semicolon, tab) = (count(','), count(';'), count('\t'));
    if semicolon > comma && semicolon >= tab {
        b';'
    } else if tab > comma && tab > semicolon {
        b'\t'
    } else {
        b','
    }
}

fn read_csv(text: &str) -> Result<Sheet, ServiceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(text))
        .from_reader(text.as_bytes());
    let mut header = None;
    let mut rows = Vec::new();
    // A spreadsheet program shows each record as one row, blank lines included, and a cell
    // with line breaks still as one row: count rows from the record's line, less the line
    // breaks inside earlier cells.
    let mut breaks_in_cells = 0usize;
    let (mut counted, mut lines_before) = (0usize, 0usize);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            file_error(format!(
                "could not be read as CSV near line {line} (check its quotes)"
            ))
        })?;
        // (The reader's own line count skips blank lines, and a record's position is before
        // the blank lines it skipped: count lines up to its first character instead.)
        let bytes = text.as_bytes();
        let mut start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(0);
        while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        lines_before += bytes
            .get(counted..start)
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
        counted = counted.max(start);
        let line = lines_before + 1;
        let row = line.saturating_sub(breaks_in_cells);
        breaks_in_cells += record.iter().map(|c| c.matches('\n').count()).sum::<usize>();
        let cells: Vec<Data> = record.iter().map(|c| Data::String(c.to_owned())).collect();
        if cells.iter().all(is_blank) {
            continue;
        }
        if header.is_none() {
            header = Some((row, cells));
            continue;
        }
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(too_many_rows());
        }
        rows.push((row, cells));
    }
    finish_sheet(SheetFormat::Csv, header, rows)
}

fn too_many_rows() -> ServiceError {
    file_error(format!(
        "has more than {MAX_IMPORT_ROWS} rows; split it into smaller files"
    ))
}

fn read_xlsx(bytes: &[u8]) -> Result<Sheet, ServiceError> {
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|_| file_error("is not a readable .xlsx workbook"))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| file_error("has no sheets"))?
        .map_err(|_| file_error("has a first sheet that could not be read"))?;
    let (top, _) = range.start().unwrap_or((0, 0));
    let mut header = None;
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        if cells.iter().all(is_blank) {
            continue;
        }
        let row = top as usize + i + 1;
        if header.is_none() {
            header = Some((row, cells.to_vec()));
            continue;
        }
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(too_many_rows());
        }
        rows.push((row, cells.to_vec()));
    }
    finish_sheet(SheetFormat::Xlsx, header, rows)
}

fn finish_sheet(
    format: SheetFormat,
    header: Option<(usize, Vec<Data>)>,
    rows: Vec<(usize, Vec<Data>)>,
) -> Result<Sheet, ServiceError> {
    let (header_row, header) = header.ok_or_else(|| file_error("is empty"))?;
    if rows.is_empty() {
        return Err(file_error(
            "has a header row but no data rows; add one row per case below the header",
        ));
    }
    let header = header
        .iter()
        .map(|d| match d {
            Data::String(s) => s.trim().trim_start_matches('\u{feff}').to_owned(),
            Data::Empty => String::new(),
            other => other.to_string().trim().to_owned(),
        })
        .collect();
    Ok(Sheet {
        format,
        header_row,
        header,
        rows,
    })
}

/// Where each name of a form lives, to explain a column that cannot be imported.
enum Place<'a> {
    Importable(&'a Field),
    Note,
    Group,
    /// Inside (or the name of) this repeat.
    Repeat(&'a str),
}

fn places<'a>(nodes: &'a [Node], repeat: Option<&'a str>, out: &mut BTreeMap<&'a str, Place<'a>>) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                let place = match repeat {
                    Some(r) => Place::Repeat(r),
                    None if !f.kind.holds_value() => Place::Note,
                    None => Place::Importable(f),
                };
                out.entry(&f.name).or_insert(place);
            }
            Node::Group(g) => {
                let inner = match repeat {
                    Some(r) => Some(r),
                    None if g.repeat => Some(g.name.as_str()),
                    None => None,
                };
                let place = match inner {
                    Some(r) => Place::Repeat(r),
                    None => Place::Group,
                };
                out.entry(&g.name).or_insert(place);
                places(&g.children, inner, out);
            }
        }
    }
}

/// A cell as answer text for `field`, or why it cannot be one.
fn cell_text(cell: &Data, field: &Field) -> Result<String, String> {
    let text = match cell {
        Data::Empty => String::new(),
        Data::String(s) => unescape_formula(s.trim()).to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            let date = format!("{y:04}-{mo:02}-{d:02}");
            let time = format!("{h:02}:{mi:02}:{s:02}");
            match &field.kind {
                _ if dt.is_duration() => time,
                FieldKind::Date => date,
                FieldKind::Time => time,
                FieldKind::DateTime => format!("{date}T{time}Z"),
                _ if (h, mi, s) == (0, 0, 0) => date,
                _ => format!("{date}T{time}"),
            }
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Error(_) => {
            return Err(
                "holds a spreadsheet error (such as #N/A or #VALUE!); enter a value or leave the cell empty"
                    .into(),
            );
        }
    };
    Ok(match field.kind {
        // Several choices are written space-separated; accept commas and semicolons too.
        FieldKind::SelectMultiple { .. } => text
            .split([' ', ',', ';'])
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => text,
    })
}

/// A checker's reason without any value it quotes (select problems name the choice given).
pub(crate) fn without_value(reason: &str) -> String {
    match reason.strip_prefix('`').and_then(|r| r.split_once("` ")) {
        Some((_, rest)) => rest.to_owned(),
        None => reason.to_owned(),
    }
}

/// The column a checker's problem path points at: `age` or `support[1]/x` → `support`.
fn column_of(path: &str) -> String {
    path.split(['/', '[']).next().unwrap_or(path).to_owned()
}

/// Problems collected in row order, listing the first [`MAX_LISTED_PROBLEMS`].
#[derive(Default)]
struct Problems {
    listed: Vec<RowProblem>,
    more: usize,
}

impl Problems {
    fn push(&mut self, row: usize, column: impl Into<String>, reason: impl Into<String>) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(RowProblem {
                row,
                column: column.into(),
                reason: reason.into(),
            });
        } else {
            self.more += 1;
        }
    }
    fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.more == 0
    }
}

/// Map the header to the form's fields; header problems go on the header row.
fn map_header<'a>(form: &'a Form, sheet: &Sheet, problems: &mut Problems) -> Vec<Option<&'a Field>> {
    let mut by_name = BTreeMap::new();
    places(&form.children, None, &mut by_name);
    let width = sheet
        .rows
        .iter()
        .map(|(_, cells)| cells.len())
        .chain(std::iter::once(sheet.header.len()))
        .max()
        .unwrap_or(0);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut columns = Vec::with_capacity(width);
    for i in 0..width {
        let name = sheet.header.get(i).map(String::as_str).unwrap_or("");
        let row = sheet.header_row;
        if name.is_empty() {
            let used = sheet
                .rows
                .iter()
                .any(|(_, cells)| cells.get(i).is_some_and(|c| !is_blank(c)));
            if used {
                problems.push(
                    row,
                    format!("column {}", column_letter(i)),
                    "has values but no field name in the header row",
                );
            }
            columns.push(None);
            continue;
        }
        // Field names are exact; a header differing only in case is accepted when unambiguous.
        let place = by_name.get(name).or_else(|| {
            let mut same = by_name.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
            match (same.next(), same.next()) {
                (Some((_, p)), None) => Some(p),
                _ => None,
            }
        });
        let field = match place {
            Some(Place::Importable(f)) => Some(*f),
            Some(Place::Repeat(r)) => {
                problems.push(
                    row,
                    name,
                    format!(
                        "belongs to the repeat group `{r}`; repeat groups cannot be imported from a spreadsheet — remove this column and add those answers to each case afterwards"
                    ),
                );
                None
            }
            Some(Place::Note) => {
                problems.push(
                    row,
                    name,
                    "is a note of the form, not a question; remove this column",
                );
                None
            }
            Some(Place::Group) => {
                problems.push(
                    row,
                    name,
                    "is a group of the form, not a question; remove this column",
                );
                None
            }
            None if EXPORT_COLUMNS.contains(&name) => {
                problems.push(
                    row,
                    name,
                    "is set by Passage when a case is registered; remove this column to import the rows as new cases",
                );
                None
            }
            None => {
                let repeat_count = name
                    .strip_suffix("_count")
                    .is_some_and(|r| matches!(by_name.get(r), Some(Place::Repeat(_))));
                let reason = if repeat_count {
                    "counts the answers of a repeat group, which cannot be imported; remove this column"
                        .to_owned()
                } else {
                    format!(
                        "is not a field of the form `{}` (version {}); check the spelling against the form",
                        form.title, form.version
                    )
                };
                problems.push(row, name, reason);
                None
            }
        };
        if let Some(f) = field {
            let count = seen.entry(f.name.as_str()).or_default();
            *count += 1;
            if *count == 2 {
                problems.push(row, name, "appears more than once in the header row");
            }
            if *count > 1 {
                columns.push(None);
                continue;
            }
        }
        columns.push(field);
    }
    columns
}

/// The columns of an export, in form order.
enum Column<'a> {
    Field(&'a Field),
    /// How many instances a top-level repeat has.
    RepeatCount(&'a str),
}

fn export_columns<'a>(nodes: &'a [Node], protected: bool, out: &mut Vec<Column<'a>>) {
    for node in nodes {
        match node {
            Node::Field(f) if f.kind.holds_value() => {
                let visible = match f.sensitivity {
                    Some(Sensitivity::Reporting) => true,
                    Some(Sensitivity::Identifying | Sensitivity::Sensitive) => protected,
                    None => false,
                };
                if visible {
                    out.push(Column::Field(f));
                }
            }
            Node::Field(_) => {}
            Node::Group(g) if g.repeat => out.push(Column::RepeatCount(&g.name)),
            Node::Group(g) => export_columns(&g.children, protected, out),
        }
    }
}

/// Letters, digits, `-`, `_` and `.` only, for a file name.
fn file_part(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_csv(rows: &[Vec<String>]) -> Result<Vec<u8>, ServiceError> {
    // A byte-order mark tells spreadsheet programs the file is UTF-8.
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer("\u{feff}".as_bytes().to_vec());
    for row in rows {
        writer
            .write_record(row.iter().map(|c| escape_formula(c).into_owned()))
            .map_err(|e| ServiceError::Internal(format!("csv: {e}")))?;
    }
    writer
        .into_inner()
        .map_err(|e| ServiceError::Internal(format!("csv: {e}")))
}

fn write_xlsx(sheet_name: &str, rows: &[Vec<String>]) -> Result<Vec<u8>, ServiceError> {
    let internal = |e: rust_xlsxwriter::XlsxError| ServiceError::Internal(format!("xlsx: {e}"));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name).map_err(internal)?;
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).map_err(|_| file_error("has too many rows for one worksheet"))?;
        for (c, value) in row.iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| file_error("has too many columns for one worksheet"))?;
            if value.is_empty() {
                continue;
            }
            let text = escape_formula(value);
            if text.chars().count() > XLSX_MAX_CELL_CHARS {
                return Err(ServiceError::Invalid(InvalidValue::new(
                    "format",
                    "an answer is longer than a spreadsheet cell can hold (32,767 characters); export as CSV instead",
                )));
            }
            if r == 0 {
                sheet
                    .write_string_with_format(r, c, text.as_ref(), &bold)
                    .map_err(internal)?;
            } else {
                sheet.write_string(r, c, text.as_ref()).map_err(internal)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(internal)?;
    workbook.save_to_buffer().map_err(internal)
}

impl Passage {
    /// Rows of an import that may name persons already registered (first [`MAX_LISTED_DUPLICATES`]).
    async fn import_duplicates<R>(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        rows: &[(usize, R)],
        records: &[NewCase],
    ) -> Result<Vec<(usize, crate::SimilarPerson)>, ServiceError> {
        let mut out = Vec::new();
        if actor
            .authorize(passage_domain::Permission::CasesView, Scope::Org(org))
            .is_err()
        {
            return Ok(out);
        }
        for ((row, _), record) in rows.iter().zip(records) {
            if out.len() == MAX_LISTED_DUPLICATES {
                break;
            }
            if let Some(identity) = crate::persons::identity_of(&record.answers)
                && let Some(best) = self.find_similar(org, &identity).await?.into_iter().next()
            {
                out.push((*row, best));
            }
        }
        if !out.is_empty() {
            let event = self
                .event(ctx, AuditAction::PersonsMatched, actor.user_id())
                .org(Some(org))
                .detail("shown", out.len())
                .detail("channel", "import");
            self.audit_read(&event).await?;
        }
        Ok(out)
    }

    /// Check a spreadsheet of new cases for `programme` and `org` against the programme's
    /// current form and, with `commit`, register them all in one transaction.
    ///
    /// The file is CSV (UTF-8, optionally with a byte-order mark) or XLSX (the first sheet):
    /// a header row of field names, then one row per case. Several choices go in one cell,
    /// space-separated. Repeat groups cannot be imported.
    ///
    /// A file that cannot be read at all is an error; problems with the header or the rows
    /// come back in the report, by row and column. A commit with any problem stores nothing
    /// (`committed` is false).
    #[allow(clippy::too_many_arguments)]
    pub async fn import_cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        org: OrgId,
        file_name: &str,
        bytes: &[u8],
        commit: bool,
    ) -> Result<ImportReport, ServiceError> {
        let (_, edit) = record_permissions(programme);
        authorize(actor, edit, Scope::Org(org))?;
        let (form_version, form) = self.current_form(programme).await?;
        let sheet = read_sheet(file_name, bytes)?;
        let language = form.default_language.clone().unwrap_or_default();
        let today = self.now().to_datetime().date();

        let mut problems = Problems::default();
        let columns = map_header(&form, &sheet, &mut problems);
        // Problems of a row are listed in the order of the sheet's columns (then form order,
        // for fields the sheet has no column for).
        let position = |name: &str| {
            columns
                .iter()
                .position(|f| f.is_some_and(|f| f.name == name))
                .unwrap_or(usize::MAX)
        };
        let mut records = Vec::with_capacity(sheet.rows.len());
        for (row, cells) in &sheet.rows {
            let mut answers = Instance::default();
            let mut found: Vec<(String, String)> = Vec::new();
            for (cell, field) in cells.iter().zip(&columns) {
                let Some(field) = field else { continue };
                match cell_text(cell, field) {
                    Ok(text) if text.is_empty() => {}
                    Ok(text) => {
                        answers.values.insert(field.name.clone(), text);
                    }
                    Err(reason) => found.push((field.name.clone(), reason)),
                }
            }
            if let Err(list) = check(&form, &answers, today, &language) {
                for p in list {
                    let column = column_of(&p.path);
                    // An unreadable cell was left out; its "is required" would say it twice.
                    if !found.iter().any(|(c, _)| *c == column) {
                        found.push((column, without_value(&p.reason)));
                    }
                }
            }
            found.sort_by_key(|(column, _)| position(column));
            for (column, reason) in found {
                problems.push(*row, column, reason);
            }
            records.push(NewCase {
                answers,
                person: None,
            });
        }

        let mut report = ImportReport {
            programme: programme.to_owned(),
            form_version,
            format: sheet.format,
            rows: sheet.rows.len(),
            problems: Vec::new(),
            more_problems: 0,
            committed: false,
            imported: 0,
            possible_duplicates: Vec::new(),
        };
        if !commit {
            report.possible_duplicates = self
                .import_duplicates(actor, ctx, org, &sheet.rows, &records)
                .await?;
        }
        if !commit || !problems.is_empty() {
            report.problems = problems.listed;
            report.more_problems = problems.more;
            return Ok(report);
        }

        let event = self
            .event(ctx, AuditAction::CasesImported, actor.user_id())
            .org(Some(org))
            .detail("programme", programme)
            .detail("form_version", form_version)
            .detail("format", sheet.format.extension())
            .detail("rows", records.len());
        match self
            .register_cases_with(
                actor,
                ctx,
                programme,
                org,
                &records,
                crate::cases::Extra {
                    summary: Some(event),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(stored) => {
                report.committed = true;
                report.imported = stored.len();
            }
            // The form changed between the check above and the commit: nothing was stored.
            Err(ServiceError::InvalidRecord(list)) => {
                let mut problems = Problems::default();
                for p in list {
                    let (row, path) = match p.path.strip_prefix('[').and_then(|r| r.split_once("]/")) {
                        Some((n, path)) => (
                            n.parse::<usize>()
                                .ok()
                                .and_then(|n| sheet.rows.get(n.saturating_sub(1)))
                                .map_or(sheet.header_row, |(row, _)| *row),
                            path.to_owned(),
                        ),
                        None => (sheet.rows.first().map_or(sheet.header_row, |(r, _)| *r), p.path),
                    };
                    problems.push(row, column_of(&path), without_value(&p.reason));
                }
                report.problems = problems.listed;
                report.more_problems = problems.more;
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
        Ok(report)
    }

    /// Every case of `org` in `programme` made with `form_version` (default: the current form),
    /// one row per case, as CSV or XLSX. Readers of the programme's records get every column;
    /// someone who may only produce reports gets the reporting columns. Audited.
    pub async fn export_cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        programme: &str,
        form_version: Option<uuid::Uuid>,
        format: SheetFormat,
    ) -> Result<ExportFile, ServiceError> {
        let (view, _) = record_permissions(programme);
        let protected = actor.authorize(view, Scope::Org(org)).is_ok();
        if !protected && actor.authorize(Permission::ReportsView, Scope::Org(org)).is_err() {
            authorize(actor, view, Scope::Org(org))?;
        }
        let versions = self.form_versions(programme).await?;
        let version = match form_version {
            Some(id) => versions.into_iter().find(|v| v.id == id),
            None => {
                let (id, _) = self.current_form(programme).await?;
                versions.into_iter().find(|v| v.id == id)
            }
        }
        .ok_or(ServiceError::NotFound)?;
        let form = self.form_model(version.id).await?;

        let stored = {
            let mut pooled = self.db.acquire().await?;
            passage_store::cases::for_export(&mut pooled.conn(), org, programme, version.id).await?
        };

        let mut columns = Vec::new();
        export_columns(&form.children, protected, &mut columns);
        let mut rows = Vec::with_capacity(stored.len() + 1);
        rows.push(
            EXPORT_COLUMNS
                .iter()
                .map(|c| (*c).to_owned())
                .chain(columns.iter().map(|c| match c {
                    Column::Field(f) => f.name.clone(),
                    Column::RepeatCount(r) => format!("{r}_count"),
                }))
                .collect::<Vec<_>>(),
        );
        let grants = self.grants_of(actor, &stored).await?;
        for case in &stored {
            let answers = if protected {
                let mut answers = self.open_answers(case)?;
                if !self.identity_visible(actor, &grants, case) {
                    crate::need_to_know::mask_identity(&form, &mut answers);
                }
                answers
            } else {
                instance_from_json(&serde_json::from_str(&case.reporting).unwrap_or(serde_json::Value::Null))
                    .unwrap_or_default()
            };
            let mut row = vec![
                case.number.clone(),
                case.stage.clone(),
                case.created_at.to_string(),
            ];
            row.extend(columns.iter().map(|c| match c {
                Column::Field(f) => answers.values.get(&f.name).cloned().unwrap_or_default(),
                Column::RepeatCount(r) => answers.repeats.get(*r).map_or(0, Vec::len).to_string(),
            }));
            rows.push(row);
        }

        let bytes = match format {
            SheetFormat::Csv => write_csv(&rows)?,
            SheetFormat::Xlsx => write_xlsx(&file_part(programme), &rows)?,
        };
        let date = self.now().to_datetime().date();
        let file_name = format!(
            "{}-cases-{}-{date}.{}",
            file_part(programme),
            file_part(&version.version),
            format.extension()
        );

        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CasesExported, actor.user_id())
            .org(Some(org))
            .detail("programme", programme)
            .detail("form_version", version.id)
            .detail("format", format.extension())
            .detail("rows", stored.len())
            .detail("protected_columns", protected);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok((file_name, format.content_type(), bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passage_xlsform::check::Problem;

    #[test]
    fn formula_cells_are_escaped_and_unescaped() {
        for s in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(escape_formula(s), format!("'{s}"));
            assert_eq!(unescape_formula(&format!("'{s}")), s);
        }
        assert_eq!(escape_formula("Musu"), "Musu");
        assert_eq!(unescape_formula("'quoted"), "'quoted");
    }

    #[test]
    fn column_letters_follow_spreadsheets() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn problems_do_not_repeat_values() {
        let list = [
            Problem {
                path: "sex".into(),
                reason: "`secret` is not one of the choices".into(),
            },
            Problem {
                path: "support[1]/support_type".into(),
                reason: "is required".into(),
            },
        ];
        assert_eq!(column_of(&list[0].path), "sex");
        assert_eq!(without_value(&list[0].reason), "is not one of the choices");
        assert_eq!(column_of(&list[1].path), "support");
        assert_eq!(without_value(&list[1].reason), "is required");
    }

    #[test]
    fn csv_delimiters_are_recognised() {
        assert_eq!(delimiter("a,b,c\n1,2,3"), b',');
        assert_eq!(delimiter("a;b;c\n1;2;3"), b';');
        assert_eq!(delimiter("a\tb\tc\n"), b'\t');
    }

    #[test]
    fn unreadable_files_are_named() {
        let err = |name: &str, bytes: &[u8]| match read_sheet(name, bytes) {
            Err(ServiceError::Invalid(v)) => v.reason,
            Err(other) => format!("other error: {other}"),
            Ok(_) => "read".into(),
        };
        assert!(err("a.csv", b"").contains("empty"));
        assert!(err("a.csv", b"given_name,sex\n").contains("no data rows"));
        assert!(err("a.xls", &[0xD0, 0xCF, 0x11, 0xE0, 0, 0]).contains(".xls"));
        assert!(err("a.pdf", &[0x25, 0x50, 0xff, 0xfe, 0]).contains("neither a CSV nor an XLSX"));
        assert!(err("a.csv", &[0x61, 0xff, 0xfe]).contains("UTF-8"));
        assert!(err("a.xlsx", b"PK\x03\x04garbage").contains("not a readable .xlsx"));
        let sheet =
            read_sheet("a.csv", "\u{feff}given_name;sex\n\nMusu;female\n".as_bytes()).unwrap_or_else(|_| {
                Sheet {
                    format: SheetFormat::Csv,
                    header_row: 0,
                    header: Vec::new(),
                    rows: Vec::new(),
                }
            });
        assert_eq!(sheet.header, ["given_name", "sex"]);
        assert_eq!(sheet.rows.len(), 1);
        assert_eq!(sheet.rows[0].0, 3, "spreadsheet row numbers count blank rows");
    }
}
