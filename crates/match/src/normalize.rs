//! Name normalisation: every script and spelling reduced to comparable Latin tokens.
//!
//! The steps, in order: Unicode NFKC; common Arabic names by their whole written form (a
//! letter-by-letter transliteration loses the vowels, so `محمد` would be `mhmd`); every other
//! non-Latin script through `any_ascii` (Cyrillic and Ethiopic come out as readable syllables);
//! diacritics, case and punctuation removed; honorifics and Arabic/French/Dutch particles
//! dropped, `abd`/`abu` prefixes joined to the word they introduce.

use any_ascii::any_ascii;
use unicode_normalization::UnicodeNormalization;

use crate::variants;

/// Longest name text we look at; beyond it the text is cut (a name is never this long, a
/// pasted paragraph may be).
const MAX_NAME_CHARS: usize = 200;
/// Most tokens a name keeps.
const MAX_TOKENS: usize = 8;

/// Titles and honorifics, dropped wherever they stand.
const HONORIFICS: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mister",
    "madam",
    "madame",
    "mme",
    "mlle",
    "dr",
    "doctor",
    "prof",
    "rev",
    "reverend",
    "pastor",
    "bishop",
    "alhaji",
    "alhadji",
    "alh",
    "elhadj",
    "elhadji",
    "hajia",
    "hadja",
    "hajja",
    "haji",
    "hajji",
    "sheikh",
    "shaykh",
    "imam",
    "chief",
    "hon",
    "honourable",
    "sir",
    "sr",
    "jr",
    "junior",
    "senior",
    "ii",
    "iii",
    "iv",
];

/// Particles that join parts of a name but say little about who someone is.
const PARTICLES: &[&str] = &[
    "al", "el", "ul", "ad", "ash", "as", "at", "ar", "an", "az", "bin", "ben", "ibn", "bint", "binti",
    "ould", "ag", "de", "da", "di", "du", "van", "von", "der", "den", "la", "le", "dos", "das", "do", "y",
    "abu", "abou", "bou",
];

/// Prefixes written apart or together (`Abdul Rahman` / `Abdulrahman`): joined to the next
/// word so that both spellings give the same token.
const JOINING_PREFIXES: &[&str] = &["abd", "abdul", "abdel", "abdal", "abdoul", "abdu"];

/// Whole Arabic-script names and their usual Latin form.
const ARABIC_NAMES: &[(&str, &str)] = &[
    // Particles written in Arabic script.
    ("بن", "bin"),
    ("ابن", "ibn"),
    ("إبن", "ibn"),
    ("بنت", "bint"),
    ("ولد", "ould"),
    ("أبو", "abu"),
    ("ابو", "abu"),
    ("آل", "al"),
    ("عبد", "abd"),
    ("محمد", "muhammad"),
    ("أحمد", "ahmad"),
    ("احمد", "ahmad"),
    ("محمود", "mahmud"),
    ("علي", "ali"),
    ("حسن", "hasan"),
    ("حسين", "husayn"),
    ("عمر", "umar"),
    ("عثمان", "uthman"),
    ("إبراهيم", "ibrahim"),
    ("ابراهيم", "ibrahim"),
    ("يوسف", "yusuf"),
    ("موسى", "musa"),
    ("عيسى", "isa"),
    ("خالد", "khalid"),
    ("عبدالله", "abdullah"),
    ("عبداللة", "abdullah"),
    ("عبدالرحمن", "abdulrahman"),
    ("عبدالقادر", "abdulqadir"),
    ("عبدالكريم", "abdulkarim"),
    ("عبدالعزيز", "abdulaziz"),
    ("فاطمة", "fatima"),
    ("عائشة", "aisha"),
    ("عايشة", "aisha"),
    ("مريم", "maryam"),
    ("أمينة", "amina"),
    ("امينة", "amina"),
    ("آمنة", "amina"),
    ("خديجة", "khadija"),
    ("زينب", "zaynab"),
    ("سليمان", "sulayman"),
    ("إسماعيل", "ismail"),
    ("اسماعيل", "ismail"),
    ("آدم", "adam"),
    ("ادم", "adam"),
    ("يحيى", "yahya"),
    ("مصطفى", "mustafa"),
    ("صالح", "salih"),
    ("سعيد", "said"),
    ("حامد", "hamid"),
    ("كمال", "kamal"),
    ("جمال", "jamal"),
    ("بكر", "bakr"),
    ("أبوبكر", "abubakar"),
    ("ابوبكر", "abubakar"),
    ("طارق", "tariq"),
    ("ياسين", "yasin"),
    ("نور", "nur"),
    ("ليلى", "layla"),
    ("سارة", "sara"),
    ("حليمة", "halima"),
    ("رقية", "ruqayya"),
    ("حمزة", "hamza"),
    ("بلال", "bilal"),
    ("إدريس", "idris"),
    ("ادريس", "idris"),
    ("داود", "dawud"),
    ("هارون", "harun"),
    ("نوح", "nuh"),
    ("منصور", "mansur"),
    ("كريم", "karim"),
    ("رشيد", "rashid"),
    ("عباس", "abbas"),
    ("جبريل", "jibril"),
    ("ديالو", "diallo"),
    ("كمارا", "kamara"),
    ("توري", "toure"),
    ("سيسي", "cisse"),
    ("كوناتي", "konate"),
    ("شريف", "sharif"),
    ("على", "ali"),
    ("حواء", "hawa"),
    ("أسامة", "usama"),
    ("اسامة", "usama"),
    ("اسراء", "isra"),
    ("إسراء", "isra"),
    ("أميرة", "amira"),
    ("اميرة", "amira"),
    ("إيمان", "iman"),
    ("ايمان", "iman"),
    ("حنين", "hanin"),
    ("مهند", "muhannad"),
    ("ناصر", "nasir"),
    ("صلاح", "salah"),
    ("عمار", "ammar"),
    ("نادية", "nadia"),
    ("هدى", "huda"),
    ("سلمى", "salma"),
    ("رانيا", "rania"),
    ("دينا", "dina"),
    ("منى", "muna"),
    ("ريم", "rim"),
    ("ياسمين", "yasmin"),
    ("سعاد", "suad"),
    ("جميلة", "jamila"),
    ("أسماء", "asma"),
    ("اسماء", "asma"),
    ("وفاء", "wafa"),
    ("هند", "hind"),
    ("سمير", "samir"),
    ("سامي", "sami"),
    ("وليد", "walid"),
    ("طه", "taha"),
    ("أنس", "anas"),
    ("انس", "anas"),
    ("زياد", "ziyad"),
    ("فيصل", "faysal"),
    ("ماجد", "majid"),
    ("نبيل", "nabil"),
    ("عادل", "adil"),
    ("فؤاد", "fuad"),
    ("رامي", "rami"),
    ("باسم", "basim"),
    ("هشام", "hisham"),
    ("عماد", "imad"),
    ("أيمن", "ayman"),
    ("ايمن", "ayman"),
    ("مجدي", "majdi"),
    ("جلال", "jalal"),
    ("شادي", "shadi"),
    ("رضا", "rida"),
    ("غسان", "ghassan"),
    ("قاسم", "qasim"),
    ("مروان", "marwan"),
    ("مراد", "murad"),
    ("نادر", "nadir"),
    ("هاني", "hani"),
    ("وائل", "wail"),
    ("ياسر", "yasir"),
    ("يونس", "yunus"),
    ("أمل", "amal"),
    ("امل", "amal"),
    ("نوال", "nawal"),
    ("سميرة", "samira"),
    ("لطيفة", "latifa"),
    ("صفية", "safiya"),
    ("رحمة", "rahma"),
    ("بشير", "bashir"),
    ("نصر", "nasr"),
    ("جعفر", "jafar"),
    ("زكريا", "zakariya"),
    ("عبير", "abir"),
    ("دعاء", "dua"),
    ("شيماء", "shayma"),
    ("عزيز", "aziz"),
    ("سالم", "salim"),
    ("حسان", "hassan"),
    ("توفيق", "tawfiq"),
    ("منير", "munir"),
    ("فتحي", "fathi"),
    ("عثمانو", "uthman"),
];

/// Normalises free text to lower-case ASCII words separated by single spaces: NFKC, Arabic
/// names by table, other scripts transliterated, diacritics and punctuation removed.
pub fn fold(text: &str) -> String {
    let text: String = text
        .chars()
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .nfkc()
        .collect();
    let mut latin = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c == '-' || c == '_') {
        if word.is_empty() {
            continue;
        }
        latin.push(' ');
        if word.is_ascii() {
            latin.push_str(word);
        } else if let Some(name) = arabic_name(word) {
            latin.push_str(name);
        } else {
            // NFD first so that accented Latin letters lose their marks rather than being
            // spelled out; any_ascii then handles every other script.
            let plain: String = word.nfd().filter(|c| !is_combining_mark(*c)).collect();
            latin.push_str(&any_ascii(&plain));
        }
    }
    let mut out = String::with_capacity(latin.len());
    let mut gap = false;
    for c in latin.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if c != '\'' && c != '`' {
            // Apostrophes join (`N'Diaye` → `ndiaye`); everything else separates.
            gap = true;
        }
    }
    out
}

fn arabic_name(word: &str) -> Option<&'static str> {
    // The article `ال` written attached: `الحسن` → `حسن`.
    let bare = word
        .strip_prefix("ال")
        .filter(|rest| rest.chars().count() >= 2)
        .unwrap_or(word);
    let bare = bare.trim_start_matches('و'); // "and" prefix seldom occurs in names; harmless
    if let Some((_, latin)) = ARABIC_NAMES
        .iter()
        .find(|(arabic, _)| *arabic == word || *arabic == bare)
    {
        return Some(latin);
    }
    // A typo in Arabic script (a letter doubled, dropped, changed or two exchanged) would
    // otherwise fall to the letter-by-letter path and meet nothing: take the one listed name
    // within a single edit, when there is exactly one. Written without vowels, short names
    // lie one edit from other real names (محسن/حسن, عطر/عمر), so a name of three letters is
    // corrected only for two neighbours exchanged, and nothing shorter than three.
    let letters: Vec<char> = bare.chars().collect();
    if letters.len() < 3 {
        return None;
    }
    let mut near = ARABIC_NAMES.iter().filter(|(arabic, _)| {
        let listed: Vec<char> = arabic.chars().collect();
        if letters.len().min(listed.len()) >= 4 {
            crate::compare::within_one_edit(&letters, &listed)
        } else {
            exchanged_neighbours(&letters, &listed)
        }
    });
    match (near.next(), near.next()) {
        (Some((_, latin)), None) => Some(latin),
        _ => None,
    }
}

/// Whether `b` is `a` with one pair of neighbouring letters exchanged.
fn exchanged_neighbours(a: &[char], b: &[char]) -> bool {
    let differ: Vec<usize> = (0..a.len()).filter(|&i| b.get(i) != Some(&a[i])).collect();
    a.len() == b.len()
        && differ.len() == 2
        && differ[1] == differ[0] + 1
        && a[differ[0]] == b[differ[1]]
        && a[differ[1]] == b[differ[0]]
}

fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// A name split into normalised tokens: honorifics and particles dropped, prefixes joined,
/// digits removed, at most [`MAX_TOKENS`].
pub fn name_tokens(text: &str) -> Vec<String> {
    let folded = fold(text);
    let words: Vec<&str> = folded
        .split(' ')
        .filter(|w| !w.is_empty() && !w.bytes().any(|b| b.is_ascii_digit()))
        .collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_prefix: Option<&str> = None;
    for (i, &word) in words.iter().enumerate() {
        let inside = i > 0 && i + 1 < words.len();
        if HONORIFICS.contains(&word) || PARTICLES.contains(&word) || (inside && mistyped_particle(word)) {
            continue;
        }
        if JOINING_PREFIXES.contains(&word) {
            pending_prefix = Some(word);
            continue;
        }
        let token = match pending_prefix.take() {
            Some(prefix) => format!("{prefix}{word}"),
            None => without_attached_article(word).to_owned(),
        };
        tokens.push(token);
        if tokens.len() == MAX_TOKENS {
            break;
        }
    }
    if let Some(prefix) = pending_prefix {
        tokens.push(prefix.to_owned());
    }
    tokens.truncate(MAX_TOKENS);
    tokens
}

/// A word between two others that is one typo away from a particle of three letters or more,
/// with its first letter (`bhn`, `oueld`, not `ken`), and is no known name: a particle, since
/// a mistyped one would otherwise weigh as the rarest part of the name.
fn mistyped_particle(word: &str) -> bool {
    (3..=5).contains(&word.len())
        && variants::canonical(word).is_none()
        && PARTICLES.iter().any(|p| {
            p.len() >= 3
                && p.as_bytes()[0] == word.as_bytes()[0]
                && crate::compare::within_one_edit(word.as_bytes(), p.as_bytes())
        })
}

/// `alhassan` → `hassan`, `elhadi` → `hadi`: the Arabic article written attached, removed when
/// what remains is a known name (so `alpha` and `elias` stay whole).
fn without_attached_article(word: &str) -> &str {
    for article in ["al", "el"] {
        if let Some(rest) = word.strip_prefix(article)
            && rest.len() >= 3
            && variants::canonical(rest).is_some()
        {
            return rest;
        }
    }
    word
}

/// The common-variant group a token belongs to (`mohamed`, `muhammad`, `mamadee` → `muhammad`),
/// or the token itself.
pub fn canonical(token: &str) -> &str {
    variants::canonical(token).unwrap_or(token)
}

/// A consonant skeleton: spelling-independent enough that `ousmane`/`usman`, `kollie`/`kolie`
/// and transliterated Arabic (`mhmd`) meet, strict enough that `ahmed` and `mohamed` do not.
pub fn skeleton(token: &str) -> String {
    let bytes = token.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        let (mapped, step) = match (c, next) {
            (b'p', Some(b'h')) => (Some(b'f'), 2),
            (b'k' | b'g' | b't' | b'd' | b's' | b'c', Some(b'h')) => {
                (Some(if c == b'c' { b's' } else { c }), 2)
            }
            (b'd', Some(b'j')) => (Some(b'j'), 2),
            (b'c', Some(b'k')) => (Some(b'k'), 2),
            (b'q' | b'c', _) => (Some(b'k'), 1),
            (b'z', _) => (Some(b's'), 1),
            (b'v', _) => (Some(b'f'), 1),
            (b'a' | b'e' | b'i' | b'o' | b'u' | b'y' | b'w', _) => (None, 1),
            _ => (Some(c), 1),
        };
        if let Some(m) = mapped
            && out.as_bytes().last() != Some(&m)
        {
            out.push(m as char);
        }
        i += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_punctuation() {
        assert_eq!(fold("  N'DIAYE,  Aïssatou-Bâ "), "ndiaye aissatou ba");
        assert_eq!(fold("Ouédraogo"), "ouedraogo");
        assert_eq!(fold("ＡＢＣ"), "abc");
    }

    #[test]
    fn transliterates_other_scripts() {
        assert_eq!(fold("محمد احمد"), "muhammad ahmad");
        assert_eq!(fold("Иван Петров"), "ivan petrov");
        assert!(!fold("ሙሉጌታ").is_empty());
        assert!(fold("ሙሉጌታ").is_ascii());
    }

    #[test]
    fn drops_honorifics_and_particles_and_joins_prefixes() {
        assert_eq!(
            name_tokens("Alhaji Dr. Ibrahim al-Hassan"),
            vec!["ibrahim", "hassan"]
        );
        assert_eq!(name_tokens("Abdul Rahman bin Musa"), vec!["abdulrahman", "musa"]);
        assert_eq!(
            name_tokens("Mohamed Ould Abdallahi"),
            vec!["mohamed", "abdallahi"]
        );
        assert_eq!(name_tokens("Alpha abu Conde"), vec!["alpha", "conde"]);
        assert_eq!(name_tokens("Alhassan Elias"), vec!["hassan", "elias"]);
        assert_eq!(name_tokens("أميرة ولد ناصر"), vec!["amira", "nasir"]);
        assert_eq!(
            name_tokens("حنين بن على السليمان"),
            vec!["hanin", "ali", "sulayman"]
        );
        assert!(name_tokens("  ").is_empty());
        assert!(name_tokens("12345").is_empty());
    }

    #[test]
    fn corrects_a_typo_in_a_listed_arabic_name_only_when_unambiguous() {
        // A letter doubled, one dropped, two exchanged: the listed name's Latin form.
        assert_eq!(fold("ممحمد"), "muhammad");
        assert_eq!(fold("ابرايم"), "ibrahim");
        assert_eq!(fold("أحدم"), "ahmad");
        // Short names lie one edit from other real names: محسن (Muhsin) is not حسن (Hasan),
        // عطر is not عمر.
        assert_ne!(fold("محسن"), fold("حسن"));
        assert_ne!(fold("عطر"), fold("عمر"));
    }

    #[test]
    fn a_mistyped_particle_inside_a_name_is_a_particle() {
        assert_eq!(name_tokens("Alaa bhn Alkhatib"), vec!["alaa", "alkhatib"]);
        assert_eq!(name_tokens("Oumar oueld Ibrahim"), vec!["oumar", "ibrahim"]);
        // Not at either end, not with another first letter, not a known name.
        assert_eq!(name_tokens("Bhn Kollie"), vec!["bhn", "kollie"]);
        assert_eq!(name_tokens("John Ken Doe"), vec!["john", "ken", "doe"]);
        assert_eq!(name_tokens("Fatu Musa Kamara"), vec!["fatu", "musa", "kamara"]);
    }

    #[test]
    fn skeletons_bridge_spellings() {
        assert_eq!(skeleton("ousmane"), skeleton("usman"));
        assert_eq!(skeleton("kollie"), skeleton("kolie"));
        assert_eq!(skeleton("mohamed"), skeleton("muhammad"));
        assert_ne!(skeleton("ahmed"), skeleton("mohamed"));
        assert_eq!(skeleton("khadija"), skeleton("kadija"));
    }

    #[test]
    fn canonical_groups_variants() {
        assert_eq!(canonical("mamadee"), canonical("muhammad"));
        assert_eq!(canonical("fatu"), canonical("fatoumata"));
        assert_eq!(canonical("zzz"), "zzz");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::record::{Prepared, Record, parse_birth_date};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_folds_to_lower_case_ascii_words(text in "\\PC{0,300}") {
            let folded = fold(&text);
            prop_assert!(folded.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' '));
            prop_assert!(!folded.starts_with(' ') && !folded.ends_with(' ') && !folded.contains("  "));
            let tokens = name_tokens(&text);
            prop_assert!(tokens.len() <= MAX_TOKENS);
            prop_assert!(tokens.iter().all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase())));
        }

        #[test]
        fn any_record_prepares_without_panicking(name in "\\PC{0,60}", dob in "\\PC{0,20}", phone in "[0-9 +()-]{0,20}", doc in "\\PC{0,20}") {
            let record = Record { full_name: name.clone(), given_name: name, date_of_birth: dob.clone(), phone, document_number: doc, ..Record::default() };
            let (prepared, _) = Prepared::new(&record);
            prop_assert!(prepared.given.len() <= 2 * MAX_TOKENS);
            if let Some(date) = parse_birth_date(&dob) {
                prop_assert!((1880..=2100).contains(&date.year) && date.month <= 12 && date.day <= 31);
            }
        }
    }
}
