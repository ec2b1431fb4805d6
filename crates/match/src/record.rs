//! A person's identifying fields as given, and the same fields prepared for comparison.

use rphonetic::{DoubleMetaphone, Encoder};
use std::hash::{BuildHasher, Hash};
use std::sync::LazyLock;

use crate::normalize::{canonical, fold, name_tokens, skeleton};

/// The fields the matcher understands; empty means unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub given_name: String,
    pub middle_name: String,
    pub surname: String,
    /// Used when given name and surname are not given separately: the last word is taken as
    /// the surname (comparisons also try the names swapped).
    pub full_name: String,
    pub date_of_birth: String,
    pub sex: String,
    pub nationality: String,
    pub place_of_birth: String,
    pub phone: String,
    pub document_number: String,
    pub address: String,
}

/// Something in a record's fields that could not be used (the field is then treated as
/// unknown). Carries the field's name, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub reason: &'static str,
}

/// One name token with its keys. Keys are 64-bit hashes so that records prepared on different
/// threads agree without a shared interner.
#[derive(Debug, Clone)]
pub struct Token {
    pub text: Box<str>,
    pub exact: u64,
    /// Hash of the token's variant group (`mamadee` and `muhammad` share it).
    pub variant: u64,
    /// Hash of the Double Metaphone code.
    pub phonetic: u64,
    /// Hash of the consonant skeleton.
    pub skeleton: u64,
}

/// A date of birth, possibly partial (year only, year and month) or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthDate {
    pub year: u16,
    /// 0 when unknown.
    pub month: u8,
    /// 0 when unknown.
    pub day: u8,
    pub estimated: bool,
}

/// A record ready for comparison: names as tokens with their keys, dates parsed, numbers
/// reduced to their digits or letters.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub given: Vec<Token>,
    pub surname: Vec<Token>,
    /// The tokens joined by spaces, for whole-name comparison.
    pub given_text: Box<str>,
    pub surname_text: Box<str>,
    pub birth: Option<BirthDate>,
    /// `b'm'` or `b'f'`.
    pub sex: Option<u8>,
    pub nationality: Option<Box<str>>,
    pub place: Option<Box<str>>,
    pub phone: Option<Box<str>>,
    pub document: Option<Box<str>>,
    pub address: Vec<Box<str>>,
}

static HASHER: LazyLock<rustc_hash::FxBuildHasher> = LazyLock::new(rustc_hash::FxBuildHasher::default);
static METAPHONE: LazyLock<DoubleMetaphone> = LazyLock::new(DoubleMetaphone::default);

/// Stable 64-bit hash used for keys (never 0, which means "no key").
pub fn key_of<T: Hash + ?Sized>(value: &T) -> u64 {
    HASHER.hash_one(value).max(1)
}

/// The Double Metaphone code of a normalised token.
pub fn phonetic_code(text: &str) -> String {
    METAPHONE.encode(text)
}

impl Token {
    pub fn new(text: &str) -> Token {
        Token {
            exact: key_of(text),
            variant: key_of(canonical(text)),
            phonetic: key_of(&phonetic_code(text)),
            skeleton: key_of(&skeleton(text)),
            text: text.into(),
        }
    }
}

impl Prepared {
    /// Prepares a record; fields that cannot be read are left unknown and named in the problems.
    pub fn new(record: &Record) -> (Prepared, Vec<FieldProblem>) {
        let mut problems = Vec::new();
        let mut given = name_tokens(&record.given_name);
        given.extend(name_tokens(&record.middle_name));
        let mut surname = name_tokens(&record.surname);
        if given.is_empty() && surname.is_empty() {
            let mut all = name_tokens(&record.full_name);
            if let Some(last) = all.pop() {
                surname.push(last);
            }
            given = all;
        }
        let birth = if record.date_of_birth.trim().is_empty() {
            None
        } else {
            match parse_birth_date(&record.date_of_birth) {
                Some(date) => Some(date),
                None => {
                    problems.push(FieldProblem { field: "date_of_birth", reason: "not a date (expected YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY-MM or YYYY, years 1880 to 2100)" });
                    None
                }
            }
        };
        let phone = digits_of_phone(&record.phone);
        if phone.is_none() && !record.phone.trim().is_empty() {
            problems.push(FieldProblem {
                field: "phone",
                reason: "fewer than 6 digits",
            });
        }
        let prepared = Prepared {
            given: given.iter().map(|t| Token::new(t)).collect(),
            surname: surname.iter().map(|t| Token::new(t)).collect(),
            given_text: given.join(" ").into(),
            surname_text: surname.join(" ").into(),
            birth,
            sex: parse_sex(&record.sex),
            nationality: non_empty(nationality_code(&record.nationality)),
            place: non_empty(fold(&record.place_of_birth)),
            phone,
            document: document_key(&record.document_number),
            address: fold(&record.address)
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(Into::into)
                .collect(),
        };
        (prepared, problems)
    }

    pub fn has_name(&self) -> bool {
        !self.given.is_empty() || !self.surname.is_empty()
    }

    /// Whether anything identifies the person (a name, date of birth, phone or document).
    pub fn has_identity(&self) -> bool {
        self.has_name() || self.birth.is_some() || self.phone.is_some() || self.document.is_some()
    }
}

fn non_empty(text: String) -> Option<Box<str>> {
    (!text.is_empty()).then(|| text.into())
}

/// Parses the date formats people actually type. `~`, `c.`, `abt`, `est` or `?` mark an
/// estimate; 1 January is also treated as a likely estimate, as registration practice makes it.
pub fn parse_birth_date(text: &str) -> Option<BirthDate> {
    let lowered = text.trim().to_ascii_lowercase();
    let mut estimated = false;
    let mut body = lowered.as_str();
    for marker in ["~", "c.", "ca.", "circa", "abt", "about", "est.", "est", "?"] {
        if let Some(rest) = body.strip_prefix(marker) {
            estimated = true;
            body = rest.trim();
        }
        if let Some(rest) = body.strip_suffix(marker) {
            estimated = true;
            body = rest.trim();
        }
    }
    let body = body.split(['t', ' ']).next().unwrap_or("");
    let parts: Vec<&str> = body.split(['-', '/', '.']).filter(|p| !p.is_empty()).collect();
    let number = |s: &str| -> Option<u32> {
        (s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() && s.len() <= 4)
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = match parts.as_slice() {
        [one] if one.len() == 8 && one.bytes().all(|b| b.is_ascii_digit()) => (
            one[..4].parse().ok()?,
            one[4..6].parse().ok()?,
            one[6..].parse().ok()?,
        ),
        [y] => (number(y)?, 0, 0),
        [a, b] if a.len() == 4 => (number(a)?, number(b)?, 0),
        [a, b] if b.len() == 4 => (number(b)?, number(a)?, 0),
        [a, b, c] if a.len() == 4 => (number(a)?, number(b)?, number(c)?),
        [a, b, c] if c.len() == 4 => (number(c)?, number(b)?, number(a)?),
        _ => return None,
    };
    if !(1880..=2100).contains(&year) || month > 12 || day > 31 || (day > 0 && month == 0) {
        return None;
    }
    if day > 0 && day > days_in_month(year, month) {
        return None;
    }
    Some(BirthDate {
        year: year as u16,
        month: month as u8,
        day: day as u8,
        estimated: estimated || (month == 1 && day == 1),
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_sex(text: &str) -> Option<u8> {
    match fold(text).as_str() {
        "m" | "male" | "man" | "boy" | "masculin" | "homme" | "1" => Some(b'm'),
        "f" | "female" | "woman" | "girl" | "feminin" | "femme" | "2" => Some(b'f'),
        _ => None,
    }
}

/// The last 8 digits of a phone number: enough to tell numbers apart, and independent of
/// whether the country code or trunk zero was written.
fn digits_of_phone(text: &str) -> Option<Box<str>> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return None;
    }
    Some(digits[digits.len().saturating_sub(8)..].into())
}

/// Document numbers compared on letters and digits only, upper case.
fn document_key(text: &str) -> Option<Box<str>> {
    let key: String = fold(text)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (key.len() >= 3).then(|| key.into())
}

/// Nationalities written as a country, a demonym or a code come to one code for the countries
/// of the region; others are compared as folded text.
fn nationality_code(text: &str) -> String {
    let folded = fold(text);
    const CODES: &[(&str, &[&str])] = &[
        ("lbr", &["lr", "liberia", "liberian", "liberienne", "liberien"]),
        ("sle", &["sl", "sierra leone", "sierra leonean", "sierraleone"]),
        (
            "gin",
            &["gn", "guinea", "guinean", "guinee", "guineen", "guineenne"],
        ),
        (
            "civ",
            &[
                "ci",
                "cote d ivoire",
                "cote divoire",
                "ivory coast",
                "ivorian",
                "ivoirien",
                "ivoirienne",
            ],
        ),
        ("gha", &["gh", "ghana", "ghanaian"]),
        ("nga", &["ng", "nigeria", "nigerian"]),
        ("mli", &["ml", "mali", "malian", "malien"]),
        ("sen", &["sn", "senegal", "senegalese"]),
        ("gmb", &["gm", "gambia", "the gambia", "gambian"]),
        ("bfa", &["bf", "burkina faso", "burkinabe"]),
        ("ner", &["ne", "niger", "nigerien"]),
        ("lby", &["ly", "libya", "libyan"]),
        ("mar", &["ma", "morocco", "moroccan", "maroc"]),
    ];
    for (code, names) in CODES {
        if folded == *code || names.contains(&folded.as_str()) {
            return (*code).to_owned();
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_usual_formats() {
        let full = Some(BirthDate {
            year: 1990,
            month: 4,
            day: 9,
            estimated: false,
        });
        assert_eq!(parse_birth_date("1990-04-09"), full);
        assert_eq!(parse_birth_date("19900409"), full);
        assert_eq!(parse_birth_date("09/04/1990"), full);
        assert_eq!(
            parse_birth_date("1990"),
            Some(BirthDate {
                year: 1990,
                month: 0,
                day: 0,
                estimated: false
            })
        );
        assert_eq!(parse_birth_date("~1990").map(|d| d.estimated), Some(true));
        assert_eq!(parse_birth_date("1990-01-01").map(|d| d.estimated), Some(true));
        assert_eq!(
            parse_birth_date("1990-04"),
            Some(BirthDate {
                year: 1990,
                month: 4,
                day: 0,
                estimated: false
            })
        );
    }

    #[test]
    fn absurd_dates_are_refused() {
        for bad in [
            "1990-13-01",
            "1990-02-30",
            "0001-01-01",
            "99999999",
            "yesterday",
            "1990-4-x",
            "31/12/0000",
        ] {
            assert_eq!(parse_birth_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn full_name_splits_into_given_and_surname() {
        let record = Record {
            full_name: "Dr Mamadee  Kollie".into(),
            phone: "123".into(),
            date_of_birth: "soon".into(),
            ..Record::default()
        };
        let (prepared, problems) = Prepared::new(&record);
        assert_eq!(prepared.given.len(), 1);
        assert_eq!(&*prepared.surname[0].text, "kollie");
        assert_eq!(
            problems.iter().map(|p| p.field).collect::<Vec<_>>(),
            vec!["date_of_birth", "phone"]
        );
    }

    #[test]
    fn numbers_and_codes() {
        assert_eq!(digits_of_phone("+231 77 712 3456"), digits_of_phone("0777123456"));
        assert_eq!(document_key("lb-0012 34"), Some("LB001234".into()));
        assert_eq!(nationality_code("Libérienne"), "lbr");
        assert_eq!(parse_sex(" Female "), Some(b'f'));
    }
}
