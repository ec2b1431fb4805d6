//! Comparators and the comparison levels the model weighs.
//!
//! Each comparison turns two prepared records into a level (0 = disagree, higher = closer) or
//! "unknown" when either side lacks the field; unknown contributes nothing to the score.

use rapidfuzz::distance::{damerau_levenshtein, jaro_winkler};

use crate::record::{BirthDate, Prepared, Token};

/// The comparisons, in the order of [`Gamma`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GivenName,
    Surname,
    BirthDate,
    Sex,
    Nationality,
    PlaceOfBirth,
    Phone,
    Document,
    Address,
}

pub const COMPARISONS: [Comparison; 9] = [
    Comparison::GivenName,
    Comparison::Surname,
    Comparison::BirthDate,
    Comparison::Sex,
    Comparison::Nationality,
    Comparison::PlaceOfBirth,
    Comparison::Phone,
    Comparison::Document,
    Comparison::Address,
];
pub const N_COMPARISONS: usize = COMPARISONS.len();
/// Most levels a comparison has.
pub const MAX_LEVELS: usize = 6;

/// Unknown: either record lacks the field.
pub const UNKNOWN: i8 = -1;

/// One level per comparison.
pub type Gamma = [i8; N_COMPARISONS];

/// Name levels.
pub const NAME_EXACT: i8 = 5;
const NAME_VARIANT: i8 = 4;
const NAME_CLOSE: i8 = 3;
const NAME_PHONETIC: i8 = 2;
const NAME_WEAK: i8 = 1;

impl Comparison {
    pub fn name(self) -> &'static str {
        match self {
            Comparison::GivenName => "given_name",
            Comparison::Surname => "surname",
            Comparison::BirthDate => "date_of_birth",
            Comparison::Sex => "sex",
            Comparison::Nationality => "nationality",
            Comparison::PlaceOfBirth => "place_of_birth",
            Comparison::Phone => "phone",
            Comparison::Document => "document_number",
            Comparison::Address => "address",
        }
    }

    /// Labels of the levels, lowest first: what the explanation says.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Comparison::GivenName | Comparison::Surname => &[
                "different",
                "weakly similar",
                "sounds alike",
                "close spelling",
                "same name in another spelling, order or with a part missing",
                "exact",
            ],
            Comparison::BirthDate => &[
                "different",
                "within 5 years",
                "within 2 years",
                "same year, consistent partial date",
                "one digit or day/month swapped",
                "exact",
            ],
            Comparison::Sex | Comparison::Nationality => &["different", "same"],
            Comparison::PlaceOfBirth => &["different", "close spelling", "exact"],
            Comparison::Phone | Comparison::Document => &["different", "one character off", "exact"],
            Comparison::Address => &[
                "different",
                "some words shared",
                "mostly the same",
                "nearly identical",
            ],
        }
    }
}

/// Compares two records on every comparison. `swapped` is set when the names matched better
/// with given name and surname exchanged (and the levels are those of the exchanged names).
pub fn compare(a: &Prepared, b: &Prepared) -> (Gamma, bool) {
    let direct_given = name_level(&a.given, &a.given_text, &b.given, &b.given_text);
    let direct_surname = name_level(&a.surname, &a.surname_text, &b.surname, &b.surname_text);
    let (given, surname, swapped) =
        if direct_given.max(0) + direct_surname.max(0) < 2 * NAME_EXACT && may_be_swapped(a, b) {
            let cross_given = name_level(&a.given, &a.given_text, &b.surname, &b.surname_text);
            let cross_surname = name_level(&a.surname, &a.surname_text, &b.given, &b.given_text);
            // Exchanged names count at most as "another order" (never exact, so no frequency boost).
            let cross = (cross_given.min(NAME_VARIANT), cross_surname.min(NAME_VARIANT));
            if cross.0 >= NAME_PHONETIC
                && cross.1 >= NAME_PHONETIC
                && cross.0 + cross.1 > direct_given.max(0) + direct_surname.max(0)
            {
                (cross.0, cross.1, true)
            } else {
                (direct_given, direct_surname, false)
            }
        } else {
            (direct_given, direct_surname, false)
        };
    let gamma = [
        given,
        surname,
        birth_level(a.birth, b.birth),
        option_level(a.sex, b.sex, |x, y| i8::from(x == y)),
        option_level(a.nationality.as_deref(), b.nationality.as_deref(), |x, y| {
            i8::from(x == y)
        }),
        option_level(a.place.as_deref(), b.place.as_deref(), |x, y| {
            if x == y { 2 } else { i8::from(jw(x, y) >= 0.88) }
        }),
        option_level(a.phone.as_deref(), b.phone.as_deref(), edit_level),
        option_level(a.document.as_deref(), b.document.as_deref(), edit_level),
        address_level(&a.address, &b.address),
    ];
    (gamma, swapped)
}

/// A cheap screen before comparing names crosswise: some key, or the first or last letter,
/// must be shared both ways.
fn may_be_swapped(a: &Prepared, b: &Prepared) -> bool {
    let meets = |x: &[Token], y: &[Token]| match (x.first(), y.first()) {
        (Some(x), Some(y)) => {
            let (tx, ty) = (x.text.as_bytes(), y.text.as_bytes());
            same_sound(x, y) || tx.first() == ty.first() || tx.last() == ty.last()
        }
        _ => false,
    };
    meets(&a.given, &b.surname) && meets(&a.surname, &b.given)
}

fn option_level<T: Copy>(a: Option<T>, b: Option<T>, level: impl Fn(T, T) -> i8) -> i8 {
    match (a, b) {
        (Some(a), Some(b)) => level(a, b),
        _ => UNKNOWN,
    }
}

/// Jaro-Winkler similarity of two ASCII strings (prepared text is always ASCII). Names fit in
/// 64 bytes and take an allocation-free path (scoring calls this millions of times; the
/// general implementation zeroes buffers on every call); longer text goes to `rapidfuzz`.
pub fn jw(a: &str, b: &str) -> f64 {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 || b.len() > 64 {
        return jaro_winkler::similarity(a.iter().copied(), b.iter().copied());
    }
    if a.is_empty() || b.is_empty() {
        return if a == b { 1.0 } else { 0.0 };
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let (mut used_b, mut matched_a) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, &x) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for (j, &y) in b.iter().enumerate().take(hi).skip(lo) {
            if used_b & (1 << j) == 0 && y == x {
                used_b |= 1 << j;
                matched_a |= 1 << i;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Transpositions: matched characters taken in order on both sides, counted where they differ.
    let (mut transposed, mut j) = (0usize, 0usize);
    for (i, &x) in a.iter().enumerate() {
        if matched_a & (1 << i) != 0 {
            while used_b & (1 << j) == 0 {
                j += 1;
            }
            if b[j] != x {
                transposed += 1;
            }
            j += 1;
        }
    }
    let m = matches as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - (transposed / 2) as f64) / m) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

/// Damerau-Levenshtein distance (transpositions count once).
pub fn edits(a: &str, b: &str) -> usize {
    damerau_levenshtein::distance(a.bytes(), b.bytes())
}

/// Whether `a` becomes `b` by at most one insertion, deletion, substitution or swap of
/// neighbours. Linear, allocation-free: this is the hot path of scoring.
pub fn within_one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if prefix == short.len() {
        return true;
    }
    if short.len() == long.len() {
        let rest = prefix + 1;
        // One substitution, or two neighbours swapped.
        short[rest..] == long[rest..]
            || (rest < short.len()
                && short[prefix] == long[rest]
                && short[rest] == long[prefix]
                && short[rest + 1..] == long[rest + 1..])
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

fn edit_level(a: &str, b: &str) -> i8 {
    if a == b {
        2
    } else {
        i8::from(within_one_edit(a.as_bytes(), b.as_bytes()))
    }
}

fn same_sound(a: &Token, b: &Token) -> bool {
    a.variant == b.variant || a.phonetic == b.phonetic || a.skeleton == b.skeleton
}

/// Whether every token of `short` finds a partner in `long` under `matches`, each partner used
/// once: names with a part missing, in another order or spelled another way.
fn covered(short: &[Token], long: &[Token], matches: impl Fn(&Token, &Token) -> bool) -> bool {
    let mut used = 0u32;
    short.iter().all(|s| {
        let found = long
            .iter()
            .enumerate()
            .find(|(i, l)| used & (1 << i) == 0 && matches(s, l));
        if let Some((i, _)) = found {
            used |= 1 << i;
        }
        found.is_some()
    })
}

/// Levels for one name part (given names or surnames).
pub fn name_level(a: &[Token], a_text: &str, b: &[Token], b_text: &str) -> i8 {
    if a.is_empty() || b.is_empty() {
        return UNKNOWN;
    }
    if a_text == b_text {
        return NAME_EXACT;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if covered(short, long, |x, y| x.variant == y.variant) {
        return NAME_VARIANT;
    }
    let whole = jw(a_text, b_text);
    let several = long.len() > 1;
    if whole >= 0.92 || (several && covered(short, long, |x, y| jw(&x.text, &y.text) >= 0.92)) {
        return NAME_CLOSE;
    }
    if whole >= 0.85 || covered(short, long, same_sound) {
        return NAME_PHONETIC;
    }
    let initial = |x: &Token, y: &Token| x.text.len() == 1 && y.text.starts_with(&*x.text);
    if whole >= 0.70 || covered(short, long, |x, y| initial(x, y) || initial(y, x)) {
        return NAME_WEAK;
    }
    0
}

fn birth_level(a: Option<BirthDate>, b: Option<BirthDate>) -> i8 {
    let (Some(a), Some(b)) = (a, b) else {
        return UNKNOWN;
    };
    let full = |d: BirthDate| d.month > 0 && d.day > 0;
    if a == b || (full(a) && full(b) && (a.year, a.month, a.day) == (b.year, b.month, b.day)) {
        return 5;
    }
    if full(a) && full(b) {
        let swapped = a.year == b.year && a.month == b.day && a.day == b.month;
        if swapped || within_one_edit(&digits(a), &digits(b)) {
            return 4;
        }
    }
    let consistent = |x: u8, y: u8| x == 0 || y == 0 || x == y;
    // An estimated date carries little beyond its year.
    let partial = !full(a) || !full(b) || a.estimated || b.estimated;
    if a.year == b.year
        && partial
        && consistent(a.month, b.month)
        && (a.month == 0 || b.month == 0 || consistent(a.day, b.day) || a.estimated || b.estimated)
    {
        return 3;
    }
    let years = a.year.abs_diff(b.year);
    if years <= 2 {
        2
    } else if years <= 5 {
        1
    } else {
        0
    }
}

/// `YYYYMMDD` as bytes, for typo comparison.
fn digits(d: BirthDate) -> [u8; 8] {
    let mut out = [0u8; 8];
    let parts = [(d.year as u32, 4), (u32::from(d.month), 2), (u32::from(d.day), 2)];
    let mut at = 0;
    for (value, width) in parts {
        for k in 0..width {
            out[at + k] = b'0' + ((value / 10u32.pow((width - 1 - k) as u32)) % 10) as u8;
        }
        at += width;
    }
    out
}

/// Address words shared, allowing a typo per word.
fn address_level(a: &[Box<str>], b: &[Box<str>]) -> i8 {
    if a.is_empty() || b.is_empty() {
        return UNKNOWN;
    }
    // One edit always leaves the first or the last letter in place: a cheap screen.
    let near = |x: &[u8], y: &[u8]| {
        x.len() > 3 && (x.first() == y.first() || x.last() == y.last()) && within_one_edit(x, y)
    };
    let shared = a
        .iter()
        .filter(|x| b.iter().any(|y| x == &y || near(x.as_bytes(), y.as_bytes())))
        .count();
    let share = shared as f64 / a.len().max(b.len()) as f64;
    if share >= 0.9 {
        3
    } else if share >= 0.6 {
        2
    } else {
        i8::from(share >= 0.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Record, parse_birth_date};

    fn prepared(given: &str, surname: &str, dob: &str) -> Prepared {
        Prepared::new(&Record {
            given_name: given.into(),
            surname: surname.into(),
            date_of_birth: dob.into(),
            ..Record::default()
        })
        .0
    }

    fn names(a: &Prepared, b: &Prepared) -> (i8, i8, bool) {
        let (gamma, swapped) = compare(a, b);
        (gamma[0], gamma[1], swapped)
    }

    #[test]
    fn name_levels() {
        let base = prepared("Mohammed", "Kollie", "");
        assert_eq!(names(&base, &prepared("MOHAMMED", "Kollie", "")), (5, 5, false));
        assert_eq!(names(&base, &prepared("Mamadee", "Kolie", "")), (4, 4, false));
        assert_eq!(names(&base, &prepared("Mohammed Lamin", "Kollie", "")).0, 4);
        assert_eq!(names(&base, &prepared("Mohamed", "Kolliee", "")).1, 3);
        assert_eq!(names(&base, &prepared("Kollie", "Mohammed", "")), (4, 4, true));
        assert_eq!(names(&base, &prepared("Fatu", "Sirleaf", "")), (0, 0, false));
        assert_eq!(names(&base, &prepared("", "", "")).0, UNKNOWN);
    }

    #[test]
    fn date_levels() {
        let level = |a: &str, b: &str| birth_level(parse_birth_date(a), parse_birth_date(b));
        assert_eq!(level("1990-04-09", "1990-04-09"), 5);
        assert_eq!(level("1990-04-09", "1990-09-04"), 4);
        assert_eq!(level("1990-04-09", "1991-04-09"), 4);
        assert_eq!(level("1990-04-09", "1990"), 3);
        assert_eq!(level("1990-04-09", "1992-11-20"), 2);
        assert_eq!(level("1990-04-09", "1995-11-20"), 1);
        assert_eq!(level("1990-04-09", "1960-11-20"), 0);
        assert_eq!(level("1990-04-09", ""), UNKNOWN);
    }

    #[test]
    fn one_edit() {
        for (a, b, expected) in [
            ("kollie", "kollie", true),
            ("kollie", "kolie", true),
            ("kollie", "kolliex", true),
            ("kollie", "kolile", true),
            ("kollie", "xollie", true),
            ("kollie", "kolxxe", false),
            ("kollie", "ko", false),
            ("19900409", "19900904", false),
            ("19900409", "19900490", true),
            ("", "a", true),
        ] {
            assert_eq!(within_one_edit(a.as_bytes(), b.as_bytes()), expected, "{a} {b}");
            assert_eq!(
                within_one_edit(a.as_bytes(), b.as_bytes()),
                edits(a, b) <= 1,
                "{a} {b}"
            );
        }
        assert_eq!(&digits(parse_birth_date("1990-04-09").unwrap()), b"19900409");
    }

    #[test]
    fn jaro_winkler_agrees_with_rapidfuzz() {
        for (a, b) in [
            ("martha", "marhta"),
            ("dixon", "dicksonx"),
            ("kollie", "kolie"),
            ("abc", "xyz"),
            ("a", "a"),
            ("mohamed", "muhammad"),
            ("crate", "trace"),
            ("dwayne", "duane"),
        ] {
            let expected = jaro_winkler::similarity(a.bytes(), b.bytes());
            assert!(
                (jw(a, b) - expected).abs() < 1e-9,
                "{a} {b}: {} vs {expected}",
                jw(a, b)
            );
        }
        let long = "a".repeat(80);
        assert!((jw(&long, &long) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn every_level_has_a_label() {
        for comparison in COMPARISONS {
            assert!(comparison.levels().len() <= MAX_LEVELS);
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn jaro_winkler_matches_the_reference(a in "[a-e]{0,12}", b in "[a-e]{0,12}") {
            let expected = jaro_winkler::similarity(a.bytes(), b.bytes());
            prop_assert!((jw(&a, &b) - expected).abs() < 1e-9, "{} {}: {} vs {}", a, b, jw(&a, &b), expected);
        }

        #[test]
        fn one_edit_matches_the_reference(a in "[a-c]{0,8}", b in "[a-c]{0,8}") {
            prop_assert_eq!(within_one_edit(a.as_bytes(), b.as_bytes()), edits(&a, &b) <= 1);
        }
    }
}
