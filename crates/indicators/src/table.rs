//! Fact tables: the reporting answers of one source (a programme's cases, one of its repeat
//! groups, services, referrals, screening hits) held in memory column by column, with
//! categories dictionary-encoded, so that every indicator is a scan over a few arrays.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How a field's values are compared and aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One code or short text (select_one, text, ids).
    Category,
    /// Several codes separated by spaces (select_multiple).
    Multi,
    Number,
    /// A date or date-time; only the date is kept.
    Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub kind: Kind,
    pub label: String,
    /// The codes a select field may hold (with their labels); `None` for free values.
    pub choices: Option<Vec<(String, String)>>,
}

impl FieldSpec {
    pub fn new(kind: Kind, label: impl Into<String>) -> Self {
        Self {
            kind,
            label: label.into(),
            choices: None,
        }
    }
    pub fn with_choices(mut self, choices: Vec<(String, String)>) -> Self {
        self.choices = Some(choices);
        self
    }
    pub fn choice_label(&self, code: &str) -> Option<&str> {
        self.choices
            .as_ref()?
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, l)| l.as_str())
    }
}

/// What a source offers indicators: its reporting fields, and the names of answers that are
/// deliberately not offered (identifying or sensitive), so that naming one gets a clear refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub fields: BTreeMap<String, FieldSpec>,
    pub withheld: BTreeSet<String>,
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.get(name)
    }
    pub fn add(&mut self, name: &str, spec: FieldSpec) {
        self.fields.insert(name.to_owned(), spec);
    }
}

/// Category codes of one column: code 0 is "no answer".
#[derive(Debug, Clone, Default)]
pub struct Dict {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Dict {
    fn new() -> Self {
        Self {
            names: vec![String::new()],
            index: HashMap::new(),
        }
    }
    fn code(&mut self, value: &str) -> u32 {
        if value.is_empty() {
            return 0;
        }
        if let Some(c) = self.index.get(value) {
            return *c;
        }
        let c = self.names.len() as u32;
        self.names.push(value.to_owned());
        self.index.insert(value.to_owned(), c);
        c
    }
    /// The code of a value, if any row has it.
    pub fn find(&self, value: &str) -> Option<u32> {
        self.index.get(value).copied()
    }
    pub fn name(&self, code: u32) -> &str {
        self.names.get(code as usize).map_or("", String::as_str)
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.len() <= 1
    }
}

/// Missing dates are this value.
pub const NO_DATE: i32 = i32::MIN;

#[derive(Debug, Clone)]
pub enum Column {
    Category {
        codes: Vec<u32>,
        dict: Dict,
    },
    Multi {
        offsets: Vec<u32>,
        codes: Vec<u32>,
        dict: Dict,
    },
    /// NaN when there is no (numeric) answer.
    Number(Vec<f64>),
    /// Julian day numbers; [`NO_DATE`] when there is no answer.
    Date(Vec<i32>),
}

impl Column {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Category => Self::Category {
                codes: Vec::new(),
                dict: Dict::new(),
            },
            Kind::Multi => Self::Multi {
                offsets: vec![0],
                codes: Vec::new(),
                dict: Dict::new(),
            },
            Kind::Number => Self::Number(Vec::new()),
            Kind::Date => Self::Date(Vec::new()),
        }
    }

    fn push(&mut self, value: Option<&str>) {
        let value = value.map(str::trim).unwrap_or("");
        match self {
            Self::Category { codes, dict } => codes.push(dict.code(value)),
            Self::Multi { offsets, codes, dict } => {
                codes.extend(value.split_whitespace().map(|v| dict.code(v)));
                offsets.push(codes.len() as u32);
            }
            Self::Number(v) => v.push(
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .unwrap_or(f64::NAN),
            ),
            Self::Date(v) => v.push(parse_day(value).unwrap_or(NO_DATE)),
        }
    }

    fn copy_from(&mut self, from: &Column, row: usize) {
        match (self, from) {
            (
                Self::Category { codes, dict },
                Self::Category {
                    codes: theirs,
                    dict: their_dict,
                },
            ) => codes.push(dict.code(their_dict.name(theirs[row]))),
            (mine @ Self::Multi { .. }, theirs @ Self::Multi { .. }) => {
                let names: Vec<&str> = theirs
                    .multi(row)
                    .iter()
                    .map(|c| theirs.dict().map_or("", |d| d.name(*c)))
                    .collect();
                mine.push(Some(&names.join(" ")));
            }
            (Self::Number(v), Self::Number(theirs)) => v.push(theirs[row]),
            (Self::Date(v), Self::Date(theirs)) => v.push(theirs[row]),
            (mine, _) => mine.push(None),
        }
    }

    /// The selected codes of row `row` of a multi-select column (empty for other kinds).
    pub fn multi(&self, row: usize) -> &[u32] {
        match self {
            Self::Multi { offsets, codes, .. } => {
                let (a, b) = (offsets[row] as usize, offsets[row + 1] as usize);
                &codes[a..b]
            }
            _ => &[],
        }
    }

    pub fn dict(&self) -> Option<&Dict> {
        match self {
            Self::Category { dict, .. } | Self::Multi { dict, .. } => Some(dict),
            _ => None,
        }
    }

    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Self::Category { codes, .. } => codes[row] == 0,
            Self::Multi { offsets, .. } => offsets[row] == offsets[row + 1],
            Self::Number(v) => v[row].is_nan(),
            Self::Date(v) => v[row] == NO_DATE,
        }
    }
}

/// `YYYY-MM-DD`, optionally followed by a time (`T…` or a space), as a Julian day number.
pub fn parse_day(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    Some(
        time::Date::from_calendar_date(year, month, day)
            .ok()?
            .to_julian_day(),
    )
}

/// The calendar year of a Julian day number.
pub fn year_of(day: i32) -> i32 {
    time::Date::from_julian_day(day).map_or(0, |d| d.year())
}

/// A source's rows, column by column. Only the fields some indicator uses are kept.
/// Rows are only ever added; a row whose record changed is retired (left out of every
/// computation) and the record's new values are added as a new row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: HashMap<String, Column>,
    len: usize,
    /// One bit per row, set when the row is retired.
    retired: Vec<u64>,
    retired_count: usize,
}

impl Table {
    /// An empty table with a column for each of `fields` that the schema knows.
    pub fn new<'a>(schema: &Schema, fields: impl IntoIterator<Item = &'a str>) -> Self {
        let columns = fields
            .into_iter()
            .filter_map(|f| schema.field(f).map(|spec| (f.to_owned(), Column::new(spec.kind))))
            .collect();
        Self {
            columns,
            ..Self::default()
        }
    }

    /// Add one row; `get` answers a field's raw value (as stored: codes, numbers, dates).
    pub fn push<'v>(&mut self, get: impl Fn(&str) -> Option<&'v str>) {
        for (name, column) in &mut self.columns {
            column.push(get(name));
        }
        self.len += 1;
    }

    /// Add one row whose own values come from `own` and whose other fields are copied from
    /// row `parent_row` of `parent` (a service or referral takes its case's answers).
    pub fn push_joined<'v>(
        &mut self,
        parent: &Table,
        parent_row: usize,
        own: impl Fn(&str) -> Option<&'v str>,
    ) {
        for (name, column) in &mut self.columns {
            match (own(name), parent.columns.get(name)) {
                (Some(v), _) => column.push(Some(v)),
                (None, Some(p)) if parent_row < parent.len => column.copy_from(p, parent_row),
                (None, _) => column.push(None),
            }
        }
        self.len += 1;
    }

    /// Rows added, retired ones included (row numbers run up to this).
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Leave row `row` out of every computation from now on.
    pub fn retire(&mut self, row: usize) {
        if row >= self.len || self.is_retired(row) {
            return;
        }
        let (word, bit) = (row / 64, row % 64);
        if self.retired.len() <= word {
            self.retired.resize(word + 1, 0);
        }
        self.retired[word] |= 1 << bit;
        self.retired_count += 1;
    }
    pub fn is_retired(&self, row: usize) -> bool {
        self.retired
            .get(row / 64)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }
    /// How many rows are retired.
    pub fn retired(&self) -> usize {
        self.retired_count
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.get(name)
    }
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.columns.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_codes_numbers_and_dates() {
        let mut schema = Schema::default();
        schema.add("sex", FieldSpec::new(Kind::Category, "Sex"));
        schema.add("forms", FieldSpec::new(Kind::Multi, "Forms"));
        schema.add("score", FieldSpec::new(Kind::Number, "Score"));
        schema.add("on", FieldSpec::new(Kind::Date, "Date"));
        let mut t = Table::new(&schema, ["sex", "forms", "score", "on", "unknown"]);
        let rows = [
            [
                ("sex", "female"),
                ("forms", "a b"),
                ("score", "0.5"),
                ("on", "2026-03-01"),
            ],
            [("sex", ""), ("forms", ""), ("score", "x"), ("on", "2026-02-30")],
        ];
        for row in rows {
            t.push(|f| row.iter().find(|(k, _)| *k == f).map(|(_, v)| *v));
        }
        assert_eq!(t.len(), 2);
        assert!(t.column("unknown").is_none());
        let sex = t.column("sex").unwrap();
        assert!(!sex.is_missing(0) && sex.is_missing(1));
        assert_eq!(t.column("forms").unwrap().multi(0).len(), 2);
        assert!(t.column("score").unwrap().is_missing(1));
        assert!(t.column("on").unwrap().is_missing(1), "30 February is not a date");
        let Some(Column::Date(days)) = t.column("on") else {
            panic!()
        };
        assert_eq!(year_of(days[0]), 2026);
        assert_eq!(parse_day("2026-11-28T10:00:00Z"), parse_day("2026-11-28"));
    }
}

#[cfg(test)]
mod join_tests {
    use super::*;

    #[test]
    fn joined_rows_take_their_parents_answers() {
        let mut schema = Schema::default();
        schema.add("sex", FieldSpec::new(Kind::Category, "Sex"));
        schema.add("forms", FieldSpec::new(Kind::Multi, "Forms"));
        schema.add("on", FieldSpec::new(Kind::Date, "On"));
        schema.add("service.type", FieldSpec::new(Kind::Category, "Type"));
        let mut cases = Table::new(&schema, ["sex", "forms", "on"]);
        cases.push(|f| match f {
            "sex" => Some("female"),
            "forms" => Some("a b"),
            "on" => Some("2026-01-02"),
            _ => None,
        });
        let mut services = Table::new(&schema, ["sex", "forms", "on", "service.type"]);
        services.push_joined(&cases, 0, |f| (f == "service.type").then_some("cash"));
        services.push_joined(&cases, 7, |_| None);
        let Some(Column::Category { codes, dict }) = services.column("sex") else {
            panic!()
        };
        assert_eq!(dict.name(codes[0]), "female");
        assert_eq!(codes[1], 0, "a missing parent gives no answers");
        assert_eq!(services.column("forms").map(|c| c.multi(0).len()), Some(2));
        assert!(!services.column("on").unwrap().is_missing(0));
        assert!(!services.column("service.type").unwrap().is_missing(0));
    }
}
