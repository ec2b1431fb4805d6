//! Parsed values: once constructed, a value is known to be valid ("parse, don't validate").
//! Error messages name the field and the rule, never the rejected value (it may be personal).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

fn bounded_text(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidValue> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(InvalidValue::new(field, "is required"));
    }
    if text.chars().count() > max {
        return Err(InvalidValue::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(InvalidValue::new(field, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// An organisation's name, e.g. "Liberia Immigration Service".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgName(String);
text_value!(OrgName);

impl OrgName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text("name", raw, 120).map(Self)
    }
    /// The form used to keep names unique regardless of case and spacing.
    pub fn key(&self) -> String {
        self.0
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
}

/// A sign-in name: 3–64 of a–z, 0–9, '.', '_' or '-', stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Username(String);
text_value!(Username);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let name = raw.trim().to_lowercase();
        let len = name.chars().count();
        if !(3..=64).contains(&len) {
            return Err(InvalidValue::new("username", "must be 3 to 64 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return Err(InvalidValue::new(
                "username",
                "may contain only letters a-z, digits and . _ -",
            ));
        }
        Ok(Self(name))
    }
}

/// How a user is shown to colleagues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayName(String);
text_value!(DisplayName);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        bounded_text("display name", raw, 120).map(Self)
    }
}

/// A work e-mail address; only its shape is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);
text_value!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let email = bounded_text("email", raw, 254)?;
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.contains(char::is_whitespace)
                    && !domain.contains('@')
            }
            None => false,
        };
        if valid {
            Ok(Self(email))
        } else {
            Err(InvalidValue::new("email", "is not an e-mail address"))
        }
    }
}

/// A new password that meets the rules (NIST SP 800-63B: length over complexity).
/// The bundled breached-password list arrives with the authentication work (#7).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str, username: &Username) -> Result<Self, InvalidValue> {
        let len = raw.chars().count();
        if len < Self::MIN_CHARS {
            return Err(InvalidValue::new(
                "password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if len > Self::MAX_CHARS {
            return Err(InvalidValue::new(
                "password",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.to_lowercase().contains(username.as_str()) {
            return Err(InvalidValue::new("password", "must not contain the username"));
        }
        let distinct: std::collections::BTreeSet<char> = raw.chars().collect();
        if distinct.len() < 5 {
            return Err(InvalidValue::new("password", "is too repetitive"));
        }
        // NIST SP 800-63B: refuse values known from breaches, also with digits or symbols added.
        let lowered = raw.to_lowercase();
        let letters: String = lowered.chars().filter(|c| c.is_alphabetic()).collect();
        if common_passwords().contains(lowered.as_str())
            || (letters.chars().count() >= 4 && common_passwords().contains(letters.as_str()))
        {
            return Err(InvalidValue::new(
                "password",
                "is too common (it, or its letters, appear in lists of leaked passwords)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Leaked passwords Passage refuses (bundled; see `data/common-passwords.txt`).
fn common_passwords() -> &'static std::collections::HashSet<&'static str> {
    static LIST: std::sync::OnceLock<std::collections::HashSet<&'static str>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    })
}

/// What kind of body an organisation is; used for directory grouping and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    UnAgency,
    Government,
    Ngo,
    Other,
}

impl OrgKind {
    pub const ALL: [OrgKind; 4] = [Self::UnAgency, Self::Government, Self::Ngo, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnAgency => "un_agency",
            Self::Government => "government",
            Self::Ngo => "ngo",
            Self::Other => "other",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::UnAgency => "UN agency",
            Self::Government => "Government",
            Self::Ngo => "NGO",
            Self::Other => "Other",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw.trim())
            .ok_or_else(|| InvalidValue::new("kind", "must be one of un_agency, government, ngo, other"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(Username::parse("  J.Kollie ").unwrap().as_str(), "j.kollie");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("bad name").is_err());
        assert!(Username::parse("émile").is_err());
    }

    #[test]
    fn password_rules_name_the_rule_not_the_value() {
        let user = Username::parse("musu").unwrap();
        let err = Password::parse("short", &user).unwrap_err();
        assert_eq!(err.to_string(), "password: must be at least 12 characters");
        assert!(!err.to_string().contains("short"));
        assert!(Password::parse("musu-is-my-name-1", &user).is_err());
        assert!(Password::parse("aaaaaaaaaaaaaaaa", &user).is_err());
        assert!(Password::parse("river-lantern-44-cassava", &user).is_ok());
        for leaked in ["1qaz2wsx3edc", "Password2026!", "qwertyuiop123", "Dragon-1234567"] {
            let err = Password::parse(leaked, &user).unwrap_err().to_string();
            assert!(err.contains("too common"), "{leaked}: {err}");
        }
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("river-lantern-44-cassava", &user).unwrap()
            ),
            "Password(***)"
        );
    }

    #[test]
    fn org_names_are_keyed_case_insensitively() {
        let a = OrgName::parse("IOM  Liberia").unwrap();
        let b = OrgName::parse("iom liberia").unwrap();
        assert_eq!(a.key(), b.key());
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse(&"x".repeat(121)).is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(Email::parse("a@b.lr").is_ok());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.lr").is_err());
        assert!(Email::parse("@c.lr").is_err());
    }
}
