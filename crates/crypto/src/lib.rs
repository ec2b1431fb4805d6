//! Passage's cryptography in one small, reviewable crate: password hashing (argon2id), random
//! tokens and their digests, keyed hashes, the audit hash chain, and envelope encryption of
//! personal data ([`envelope`]).

pub mod archive;
pub mod envelope;
pub mod totp;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use data_encoding::BASE32_NOPAD;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("encryption failed")]
    Encrypt,
    /// Wrong key, wrong record or field, or altered ciphertext: deliberately not more precise.
    #[error("decryption failed")]
    Decrypt,
    #[error("master key file {0}")]
    KeyFile(String),
    #[error("{0}")]
    Archive(String),
}

/// 32 bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A random secret for cookies and API tokens: 160 bits, base32 (URL-, cookie- and
/// header-safe, no padding), with a prefix that says what it is.
pub fn random_token(prefix: &str) -> Result<String, CryptoError> {
    let bytes: [u8; 20] = random_bytes()?;
    Ok(format!("{prefix}{}", BASE32_NOPAD.encode(&bytes).to_lowercase()))
}

/// SHA-256, for storing tokens: the database holds only digests, so a copy of it
/// cannot be replayed as a session.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA-256 under an installation key: pseudonymous keys for values we must count but
/// should not store (the address of a failed login).
pub fn keyed_hash(key: &[u8], data: &[u8]) -> [u8; 32] {
    match hmac::Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        // HMAC accepts keys of any length, so this arm is unreachable; hash instead of panicking.
        Err(_) => sha256(data),
    }
}

/// Compare secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The next link of the audit chain: H(previous hash || canonical event bytes).
pub fn chain_hash(prev: &[u8], canonical_event: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"passage-audit-v1");
    h.update(prev);
    h.update(canonical_event);
    h.finalize().into()
}

/// Argon2id cost. `standard()` follows OWASP (19 MiB, 2 passes); `fast_for_tests()` exists
/// so that test suites do not spend minutes hashing.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    dummy_hash: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn standard() -> Result<Self, CryptoError> {
        Self::with_cost(19 * 1024, 2)
    }

    pub fn fast_for_tests() -> Result<Self, CryptoError> {
        Self::with_cost(Params::MIN_M_COST.max(64), 1)
    }

    fn with_cost(memory_kib: u32, passes: u32) -> Result<Self, CryptoError> {
        let params =
            Params::new(memory_kib, passes, 1, None).map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self {
            argon2,
            dummy_hash: String::new(),
        };
        // Unknown users are checked against this hash so that "no such user" takes as long
        // as "wrong password".
        let dummy_secret: [u8; 16] = random_bytes()?;
        hasher.dummy_hash = hasher.hash(&BASE32_NOPAD.encode(&dummy_secret))?;
        Ok(hasher)
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, CryptoError> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| CryptoError::PasswordHash(e.to_string()))
    }

    /// Whether `password` matches `phc`; with `None` (no such user) it spends the same time
    /// and answers false.
    pub fn verify(&self, password: &str, phc: Option<&str>) -> bool {
        match phc {
            Some(phc) => self.argon2.verify_password(password.as_bytes(), phc).is_ok(),
            None => {
                let _ = self
                    .argon2
                    .verify_password(password.as_bytes(), self.dummy_hash.as_str());
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_right() {
        let h = PasswordHasher::fast_for_tests().unwrap();
        let phc = h.hash("river-lantern-44").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(h.verify("river-lantern-44", Some(&phc)));
        assert!(!h.verify("river-lantern-45", Some(&phc)));
        assert!(!h.verify("river-lantern-44", None));
        assert!(!h.verify("river-lantern-44", Some("not a phc string")));
        assert_ne!(phc, h.hash("river-lantern-44").unwrap(), "salts differ");
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = random_token("psg_").unwrap();
        let b = random_token("psg_").unwrap();
        assert!(a.starts_with("psg_") && a.len() == 4 + 32);
        assert_ne!(a, b);
    }

    #[test]
    fn chain_depends_on_previous_link_and_event() {
        let one = chain_hash(&[0; 32], b"event");
        assert_ne!(one, chain_hash(&[1; 32], b"event"));
        assert_ne!(one, chain_hash(&[0; 32], b"evenT"));
        assert_eq!(one, chain_hash(&[0; 32], b"event"));
    }

    #[test]
    fn keyed_hash_depends_on_key() {
        assert_ne!(keyed_hash(b"k1", b"10.0.0.1"), keyed_hash(b"k2", b"10.0.0.1"));
        // RFC 4231 test case 2.
        let mac = keyed_hash(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            data_encoding::HEXLOWER.encode(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
