//! Reading people and watchlists from CSV files with a header. Columns are recognised by name
//! (several usual spellings), others mapped with `header=field`. Bad rows are reported by line
//! and reason — never by value — and skipped, or refused whole in strict mode.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::record::{Prepared, Record};
use crate::screen::Entry;

/// A column's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    GivenName,
    MiddleName,
    Surname,
    FullName,
    DateOfBirth,
    Sex,
    Nationality,
    PlaceOfBirth,
    Phone,
    DocumentNumber,
    Address,
    Aliases,
    List,
    Reason,
}

const NAMES: &[(&str, Field)] = &[
    ("id", Field::Id),
    ("given_name", Field::GivenName),
    ("first_name", Field::GivenName),
    ("middle_name", Field::MiddleName),
    ("surname", Field::Surname),
    ("last_name", Field::Surname),
    ("family_name", Field::Surname),
    ("full_name", Field::FullName),
    ("name", Field::FullName),
    ("date_of_birth", Field::DateOfBirth),
    ("dob", Field::DateOfBirth),
    ("sex", Field::Sex),
    ("gender", Field::Sex),
    ("nationality", Field::Nationality),
    ("place_of_birth", Field::PlaceOfBirth),
    ("phone", Field::Phone),
    ("document_number", Field::DocumentNumber),
    ("address", Field::Address),
    ("county", Field::Address),
    ("aliases", Field::Aliases),
    ("list", Field::List),
    ("list_name", Field::List),
    ("reason", Field::Reason),
];

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        let name = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn known() -> String {
        NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }
}

/// A row that was not used, or a field in it that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    pub field: Option<&'static str>,
    pub reason: String,
    /// Whether the row was skipped (otherwise only the field was ignored).
    pub skipped: bool,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(field) = self.field {
            write!(f, ", {field}")?;
        }
        write!(
            f,
            ": {}{}",
            self.reason,
            if self.skipped {
                " (row skipped)"
            } else {
                " (field ignored)"
            }
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: the file is empty or has no header row")]
    NoHeader { path: PathBuf },
    #[error(
        "{path}: no name column (expected one of given_name, first_name, surname, last_name, full_name, or --map HEADER=FIELD)"
    )]
    NoName { path: PathBuf },
    #[error("--map {0}: expected HEADER=FIELD")]
    BadMapping(String),
    #[error("--map {mapping}: unknown field (known: {known})")]
    UnknownField { mapping: String, known: String },
    #[error("{path}: more than {limit} records; split the file or raise --max-records")]
    TooLarge { path: PathBuf, limit: usize },
    #[error("{path}: {count} row problem(s), refused in strict mode; first: {first}")]
    Strict {
        path: PathBuf,
        count: usize,
        first: RowProblem,
    },
    #[error("{path}: line {line}: {reason}")]
    Csv {
        path: PathBuf,
        line: u64,
        reason: String,
    },
}

/// `header=field` mappings given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Mapping(Vec<(String, Field)>);

impl Mapping {
    pub fn parse(items: &[String]) -> Result<Mapping, InputError> {
        let mut out = Vec::new();
        for item in items {
            let (header, field) = item
                .split_once('=')
                .ok_or_else(|| InputError::BadMapping(item.clone()))?;
            let field = Field::parse(field).ok_or_else(|| InputError::UnknownField {
                mapping: item.clone(),
                known: Field::known(),
            })?;
            out.push((header.trim().to_ascii_lowercase(), field));
        }
        Ok(Mapping(out))
    }

    fn field_of(&self, header: &str) -> Option<Field> {
        let lowered = header.trim().to_ascii_lowercase();
        self.0
            .iter()
            .find(|(h, _)| *h == lowered)
            .map(|(_, f)| *f)
            .or_else(|| Field::parse(&lowered))
    }
}

/// What to do with bad rows, and how much to accept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub strict: bool,
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            strict: false,
            max_records: 5_000_000,
        }
    }
}

/// Rows read from one file.
#[derive(Debug, Default)]
pub struct Loaded<T> {
    pub items: Vec<T>,
    pub problems: Vec<RowProblem>,
}

fn set(entry: &mut Entry, field: Field, value: &str) {
    let record = &mut entry.record;
    let target = match field {
        Field::Id => &mut record.id,
        Field::GivenName => &mut record.given_name,
        Field::MiddleName => &mut record.middle_name,
        Field::Surname => &mut record.surname,
        Field::FullName => &mut record.full_name,
        Field::DateOfBirth => &mut record.date_of_birth,
        Field::Sex => &mut record.sex,
        Field::Nationality => &mut record.nationality,
        Field::PlaceOfBirth => &mut record.place_of_birth,
        Field::Phone => &mut record.phone,
        Field::DocumentNumber => &mut record.document_number,
        Field::Address => &mut record.address,
        Field::Aliases => {
            entry.aliases.extend(
                value
                    .split([';', '|'])
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned),
            );
            return;
        }
        Field::List => &mut entry.list,
        Field::Reason => &mut entry.reason,
    };
    // Several columns mapped to one field (an address in parts) are joined.
    if !target.is_empty() && !value.is_empty() {
        target.push(' ');
    }
    target.push_str(value);
}

/// Reads people (for dedupe and link) from a CSV file.
pub fn read_records(path: &Path, mapping: &Mapping, limits: Limits) -> Result<Loaded<Record>, InputError> {
    let loaded = read(path, mapping, limits)?;
    Ok(Loaded {
        items: loaded.items.into_iter().map(|e| e.record).collect(),
        problems: loaded.problems,
    })
}

/// Reads a watchlist (names with aliases, list name and reason) or screening queries.
pub fn read_entries(path: &Path, mapping: &Mapping, limits: Limits) -> Result<Loaded<Entry>, InputError> {
    read(path, mapping, limits)
}

/// Reads from any reader (the web upload uses this); `name` labels errors.
pub fn read_entries_from(
    reader: impl Read,
    name: &Path,
    mapping: &Mapping,
    limits: Limits,
) -> Result<Loaded<Entry>, InputError> {
    read_from(reader, name, mapping, limits)
}

fn read(path: &Path, mapping: &Mapping, limits: Limits) -> Result<Loaded<Entry>, InputError> {
    let file = File::open(path).map_err(|source| InputError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_from(
        std::io::BufReader::with_capacity(1 << 20, file),
        path,
        mapping,
        limits,
    )
}

fn read_from(
    reader: impl Read,
    path: &Path,
    mapping: &Mapping,
    limits: Limits,
) -> Result<Loaded<Entry>, InputError> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(source) => InputError::Io {
                path: path.to_owned(),
                source,
            },
            _ => InputError::Csv {
                path: path.to_owned(),
                line,
                reason: "cannot be read as CSV".into(),
            },
        }
    };
    let headers = csv.byte_headers().map_err(csv_error)?.clone();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(InputError::NoHeader {
            path: path.to_owned(),
        });
    }
    let header_text: Vec<String> = headers
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    let fields: Vec<Option<Field>> = header_text.iter().map(|h| mapping.field_of(h)).collect();
    if !fields
        .iter()
        .any(|f| matches!(f, Some(Field::GivenName | Field::Surname | Field::FullName)))
    {
        return Err(InputError::NoName {
            path: path.to_owned(),
        });
    }
    let has_id = fields.contains(&Some(Field::Id));
    let mut loaded = Loaded::default();
    let mut ids = HashSet::new();
    let mut row = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if let csv::ErrorKind::Io(source) = e.into_kind() {
                    return Err(InputError::Io {
                        path: path.to_owned(),
                        source,
                    });
                }
                loaded.problems.push(RowProblem {
                    line,
                    field: None,
                    reason: "cannot be read as CSV".into(),
                    skipped: true,
                });
                continue;
            }
        }
        let line = row.position().map_or(0, |p| p.line());
        if row.len() != headers.len() {
            if row.len() == 1 && row.get(0).is_some_and(<[u8]>::is_empty) {
                continue; // blank line
            }
            loaded.problems.push(RowProblem {
                line,
                field: None,
                reason: format!("has {} fields, the header has {}", row.len(), headers.len()),
                skipped: true,
            });
            continue;
        }
        let mut entry = Entry::default();
        let mut bad_text = false;
        for (value, field) in row.iter().zip(&fields) {
            let Some(field) = field else { continue };
            match std::str::from_utf8(value) {
                Ok(text) => set(&mut entry, *field, text.trim()),
                Err(_) => bad_text = true,
            }
        }
        if bad_text {
            loaded.problems.push(RowProblem {
                line,
                field: None,
                reason: "is not UTF-8 text".into(),
                skipped: true,
            });
            continue;
        }
        if !has_id {
            entry.record.id = line.to_string();
        }
        if entry.record.id.is_empty() {
            loaded.problems.push(RowProblem {
                line,
                field: Some("id"),
                reason: "is empty".into(),
                skipped: true,
            });
            continue;
        }
        let (prepared, field_problems) = Prepared::new(&entry.record);
        if !prepared.has_identity() {
            loaded.problems.push(RowProblem {
                line,
                field: None,
                reason: "no usable name, date of birth, phone or document number".into(),
                skipped: true,
            });
            continue;
        }
        if !ids.insert(entry.record.id.clone()) {
            loaded.problems.push(RowProblem {
                line,
                field: Some("id"),
                reason: "repeats an earlier row's id".into(),
                skipped: true,
            });
            continue;
        }
        if !prepared.has_name() {
            loaded.problems.push(RowProblem {
                line,
                field: Some("name"),
                reason: "no usable name; compared on its other fields".into(),
                skipped: false,
            });
        }
        for problem in field_problems {
            loaded.problems.push(RowProblem {
                line,
                field: Some(problem.field),
                reason: problem.reason.into(),
                skipped: false,
            });
        }
        if loaded.items.len() == limits.max_records {
            return Err(InputError::TooLarge {
                path: path.to_owned(),
                limit: limits.max_records,
            });
        }
        loaded.items.push(entry);
    }
    if limits.strict
        && let Some(first) = loaded.problems.first()
    {
        return Err(InputError::Strict {
            path: path.to_owned(),
            count: loaded.problems.len(),
            first: first.clone(),
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, map: &[&str], strict: bool) -> Result<Loaded<Entry>, InputError> {
        let mapping = Mapping::parse(&map.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>())?;
        read_entries_from(
            text.as_bytes(),
            Path::new("people.csv"),
            &mapping,
            Limits {
                strict,
                max_records: 10,
            },
        )
    }

    #[test]
    fn recognises_columns_and_maps_others() {
        let loaded = load(
            "rec_id,First Name,surname,dob,street,suburb\nr1,Musu,Kollie,1990-01-02,12 Broad St,Sinkor\n",
            &["rec_id=id", "street=address", "suburb=address"],
            false,
        )
        .unwrap();
        let record = &loaded.items[0].record;
        assert_eq!(
            (
                record.id.as_str(),
                record.given_name.as_str(),
                record.address.as_str()
            ),
            ("r1", "Musu", "12 Broad St Sinkor")
        );
        assert!(loaded.problems.is_empty());
    }

    #[test]
    fn bad_rows_are_named_by_line_and_skipped_or_refused() {
        let text = "id,full_name,date_of_birth\n1,Musu Kollie,1990-13-45\n2,Fatu\n1,Repeat Person,\n3,,\n4,Dr.,\n5,,1990\n";
        let loaded = load(text, &[], false).unwrap();
        assert_eq!(loaded.items.len(), 2);
        let lines: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "line 2, date_of_birth: not a date (expected YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY-MM or YYYY, years 1880 to 2100) (field ignored)",
                "line 3: has 2 fields, the header has 3 (row skipped)",
                "line 4, id: repeats an earlier row's id (row skipped)",
                "line 5: no usable name, date of birth, phone or document number (row skipped)",
                "line 6: no usable name, date of birth, phone or document number (row skipped)",
                "line 7, name: no usable name; compared on its other fields (field ignored)",
            ]
        );
        assert!(!lines.join(" ").contains("Kollie"));
        assert!(matches!(
            load(text, &[], true),
            Err(InputError::Strict { count: 6, .. })
        ));
    }

    #[test]
    fn refuses_files_without_names_or_header_and_bad_mappings() {
        assert!(matches!(load("", &[], false), Err(InputError::NoHeader { .. })));
        assert!(matches!(
            load("id,dob\n1,1990\n", &[], false),
            Err(InputError::NoName { .. })
        ));
        assert!(matches!(
            load("id,name\n", &["x=shoe_size"], false),
            Err(InputError::UnknownField { .. })
        ));
        assert!(matches!(
            load("id,name\n", &["nothing"], false),
            Err(InputError::BadMapping(_))
        ));
        let many: String = std::iter::once("id,name\n".to_owned())
            .chain((0..11).map(|i| format!("{i},Person Number\n")))
            .collect();
        assert!(matches!(
            load(&many, &[], false),
            Err(InputError::TooLarge { .. })
        ));
    }

    #[test]
    fn aliases_split_and_non_utf8_rows_skipped() {
        let mut bytes = b"id,name,aliases\n1,Musu Kollie,Musu K; M. Kollie\n2,".to_vec();
        bytes.extend([0xff, 0xfe]);
        bytes.extend(b" Bad,\n");
        let loaded = read_entries_from(
            &bytes[..],
            Path::new("list.csv"),
            &Mapping::default(),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(loaded.items[0].aliases, vec!["Musu K", "M. Kollie"]);
        assert_eq!(loaded.problems[0].line, 3);
    }
}
