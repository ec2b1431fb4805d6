use passage_domain::{Denied, InvalidValue};
use passage_store::StoreError;

/// Everything a use case can answer besides success. The server maps these to HTTP statuses
/// in one place; the CLI prints them. Messages never contain personal values.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    #[error("{0}")]
    Denied(Denied),
    #[error("not found")]
    NotFound,
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// Someone else changed the record since the user opened it; nothing was saved.
    #[error("this record was changed by someone else since you opened it{}; reload it and make your change again", stale_fields(.fields))]
    Stale { fields: Vec<String> },
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
    #[error("your session has ended; please sign in again")]
    SessionExpired,
    /// The identity provider vouched for someone who has no (enabled) Passage account.
    #[error(
        "no Passage account is linked to this sign-in; ask an administrator to put your organisation e-mail address on your account"
    )]
    NoAccountForSso,
    /// The password was right but the sign-in's second factor is not done yet.
    #[error("finish signing in with the code from your authenticator app")]
    SecondFactorRequired,
    #[error("the API token is unknown, expired or revoked")]
    BadToken,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the answers have {} problem(s)", .0.len())]
    InvalidRecord(Vec<passage_xlsform::check::Problem>),
    #[error("the form has {} problem(s)", .0.len())]
    InvalidForm(Vec<passage_xlsform::FormError>),
    #[error("the indicator definitions are not valid: {0}")]
    Indicators(#[from] passage_indicators::DefinitionError),
    /// Sealed data did not open: altered ciphertext, or a value copied from another record.
    #[error("this record failed its integrity check and is not shown; the event is in the audit trail")]
    Tampered,
    /// The key file is not the master key this database's keys are wrapped by.
    #[error(
        "wrong master key: this database's keys are wrapped by master key {expected}, but the key file given has fingerprint {found}; start with the right key file (nothing was changed)"
    )]
    WrongMasterKey { expected: String, found: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict => Self::Conflict("a record with the same key"),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<passage_crypto::CryptoError> for ServiceError {
    fn from(e: passage_crypto::CryptoError) -> Self {
        match e {
            passage_crypto::CryptoError::Decrypt => Self::Tampered,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Rename a uniqueness conflict after the thing that clashed.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(StoreError) -> ServiceError {
    move |e| match e {
        StoreError::Conflict => ServiceError::Conflict(what),
        other => other.into(),
    }
}

fn stale_fields(fields: &[String]) -> String {
    if fields.is_empty() {
        " (its stage or assignment)".into()
    } else {
        format!(" (changed: {})", fields.join(", "))
    }
}
