//! Envelope encryption for personal data: every person and case has its own data key
//! (XChaCha20-Poly1305), stored only wrapped by the installation's master key. Each sealed
//! value is bound to where it belongs (record id and field) through the associated data, so
//! a ciphertext copied to another record or field does not open. Destroying a record's data
//! key destroys its data (crypto-shredding); rotating the master key re-wraps data keys only.

use crate::{CryptoError, keyed_hash, random_bytes, sha256};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use data_encoding::HEXLOWER;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key).into())
}

fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let ct = cipher(key)
        .encrypt(&nonce.into(), Payload { msg: plaintext, aad })
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Decrypt)?;
    if version != VERSION || rest.len() < NONCE_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
    cipher(key)
        .decrypt(&nonce.into(), Payload { msg: ct, aad })
        .map_err(|_| CryptoError::Decrypt)
}

/// The installation's key-encryption key. Never stored in the database; `Debug` hides it.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.fingerprint())
    }
}

const KEY_FILE_HEADER: &str = "# Passage master key. Keep it secret, and back it up apart from the database:\n\
                               # without it, encrypted personal data cannot be read.\n";

impl MasterKey {
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(Zeroizing::new(random_bytes()?)))
    }

    /// A short, non-secret identifier (to tell keys apart in messages and records).
    pub fn fingerprint(&self) -> String {
        HEXLOWER.encode(&sha256(&[b"passage-key-id".as_slice(), self.0.as_slice()].concat())[..8])
    }

    /// Write a new key file readable by its owner only; an existing file is never replaced.
    pub fn write_new(&self, path: &Path) -> Result<(), CryptoError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| CryptoError::KeyFile(format!("{}: {e}", path.display())))?;
        let text = Zeroizing::new(format!(
            "{KEY_FILE_HEADER}{}\n",
            HEXLOWER.encode(self.0.as_slice())
        ));
        f.write_all(text.as_bytes())
            .map_err(|e| CryptoError::KeyFile(format!("{}: {e}", path.display())))
    }

    /// Read a key file, refusing one that others can read.
    pub fn read(path: &Path) -> Result<Self, CryptoError> {
        use std::os::unix::fs::PermissionsExt;
        let problem = |why: &str| CryptoError::KeyFile(format!("{}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| problem(&e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(problem("others can read it; run `chmod 600` on it"));
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| problem(&e.to_string()))?);
        let hex = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let bytes = Zeroizing::new(
            HEXLOWER
                .decode(hex.as_bytes())
                .map_err(|_| problem("not a Passage key file"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| problem("not a Passage key file"))?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// The installation's key for blind indexes (exact-match search on encrypted fields), as
    /// first made from the master key; it is then stored wrapped ([`SearchKey::wrap`]) so that
    /// it outlives a rotation of the master key.
    pub fn derive_search_key(&self) -> SearchKey {
        SearchKey(Zeroizing::new(keyed_hash(
            self.0.as_slice(),
            b"passage-search-index-v1",
        )))
    }
}

/// A record's data key (one per person, one per case).
pub struct DataKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(Zeroizing::new(random_bytes()?)))
    }

    /// The data key encrypted under the master key, bound to its record id.
    pub fn wrap(&self, master: &MasterKey, record: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(
            &master.0,
            &[b"data-key:".as_slice(), record].concat(),
            self.0.as_slice(),
        )
    }

    pub fn unwrap(wrapped: &[u8], master: &MasterKey, record: &[u8]) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(open_with(
            &master.0,
            &[b"data-key:".as_slice(), record].concat(),
            wrapped,
        )?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// A wrapped data key wrapped again under another master key (rotation): the data it
    /// seals is not touched.
    pub fn rewrap(
        wrapped: &[u8],
        from: &MasterKey,
        to: &MasterKey,
        record: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Self::unwrap(wrapped, from, record)?.wrap(to, record)
    }

    /// Encrypt one field value of `record`.
    pub fn seal(&self, record: &[u8], field: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.0, &field_aad(record, field), plaintext)
    }

    /// Decrypt one field value; fails if it was altered or belongs to another record or field.
    pub fn open(&self, record: &[u8], field: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.0, &field_aad(record, field), sealed)
    }
}

fn field_aad(record: &[u8], field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(record.len() + field.len() + 16);
    aad.extend_from_slice(b"field:");
    aad.extend_from_slice(&(record.len() as u32).to_be_bytes());
    aad.extend_from_slice(record);
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Key for blind indexes: HMAC of a normalised value, per field.
pub struct SearchKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for SearchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SearchKey(***)")
    }
}

const SEARCH_KEY_AAD: &[u8] = b"search-key";

impl SearchKey {
    /// The search key encrypted under the master key, for storage.
    pub fn wrap(&self, master: &MasterKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(&master.0, SEARCH_KEY_AAD, self.0.as_slice())
    }

    /// Fails with [`CryptoError::Decrypt`] under any other master key: how a wrong key file
    /// is recognised before anything is written.
    pub fn unwrap(wrapped: &[u8], master: &MasterKey) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(open_with(&master.0, SEARCH_KEY_AAD, wrapped)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::Decrypt)?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// The index value for `normalised` in `field`: equal inputs give equal outputs, and
    /// nothing about the value can be read back without the key.
    pub fn index(&self, field: &str, normalised: &str) -> [u8; 32] {
        keyed_hash(self.0.as_slice(), format!("{field}\u{0}{normalised}").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_where_they_were_sealed() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"case-1", "given_name", "Musu".as_bytes()).unwrap();
        assert_eq!(key.open(b"case-1", "given_name", &sealed).unwrap(), b"Musu");
        assert!(
            key.open(b"case-2", "given_name", &sealed).is_err(),
            "another record"
        );
        assert!(key.open(b"case-1", "surname", &sealed).is_err(), "another field");
        assert!(
            DataKey::generate()
                .unwrap()
                .open(b"case-1", "given_name", &sealed)
                .is_err(),
            "another key"
        );
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert!(
                key.open(b"case-1", "given_name", &tampered).is_err(),
                "byte {i} flipped"
            );
        }
        assert!(key.open(b"case-1", "given_name", &[]).is_err());
        assert_ne!(
            sealed,
            key.seal(b"case-1", "given_name", b"Musu").unwrap(),
            "fresh nonce each time"
        );
        assert!(!sealed.windows(4).any(|w| w == b"Musu"));
    }

    #[test]
    fn data_keys_are_wrapped_per_record_and_survive_master_rotation() {
        let old = MasterKey::generate().unwrap();
        let key = DataKey::generate().unwrap();
        let sealed = key.seal(b"p1", "phone", b"0770123456").unwrap();
        let wrapped = key.wrap(&old, b"p1").unwrap();
        assert!(
            DataKey::unwrap(&wrapped, &old, b"p2").is_err(),
            "wrapped key is bound to its record"
        );
        let new = MasterKey::generate().unwrap();
        assert!(DataKey::unwrap(&wrapped, &new, b"p1").is_err());
        // Rotation: unwrap with the old master key, wrap with the new one; data untouched.
        let rewrapped = DataKey::unwrap(&wrapped, &old, b"p1")
            .unwrap()
            .wrap(&new, b"p1")
            .unwrap();
        let again = DataKey::unwrap(&rewrapped, &new, b"p1").unwrap();
        assert_eq!(again.open(b"p1", "phone", &sealed).unwrap(), b"0770123456");
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "passage-key-{}",
            HEXLOWER.encode(&random_bytes::<8>().unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        let key = MasterKey::generate().unwrap();
        key.write_new(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(key.write_new(&path).is_err(), "never replaces a key");
        let read = MasterKey::read(&path).unwrap();
        assert_eq!(read.fingerprint(), key.fingerprint());
        assert!(!format!("{read:?}").contains(&HEXLOWER.encode(key.0.as_slice())));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            MasterKey::read(&path)
                .unwrap_err()
                .to_string()
                .contains("chmod 600")
        );
        std::fs::write(dir.join("bad.key"), "hello\n").unwrap();
        std::fs::set_permissions(dir.join("bad.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(MasterKey::read(&dir.join("bad.key")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn blind_indexes_match_equal_values_only() {
        let master = MasterKey::generate().unwrap();
        let s = master.derive_search_key();
        assert_eq!(
            s.index("document_number", "p1234567"),
            master.derive_search_key().index("document_number", "p1234567")
        );
        assert_ne!(
            s.index("document_number", "p1234567"),
            s.index("phone", "p1234567")
        );
        assert_ne!(
            s.index("document_number", "p1234567"),
            MasterKey::generate()
                .unwrap()
                .derive_search_key()
                .index("document_number", "p1234567")
        );
        assert_eq!(format!("{s:?}"), "SearchKey(***)");
    }

    #[test]
    fn rotation_rewraps_keys_and_the_old_master_no_longer_opens_them() {
        let (old, new) = (MasterKey::generate().unwrap(), MasterKey::generate().unwrap());
        let data = DataKey::generate().unwrap();
        let sealed = data.seal(b"p1", "name", b"Musu").unwrap();
        let wrapped = data.wrap(&old, b"p1").unwrap();
        let rewrapped = DataKey::rewrap(&wrapped, &old, &new, b"p1").unwrap();
        assert!(DataKey::unwrap(&rewrapped, &old, b"p1").is_err());
        assert!(
            DataKey::rewrap(&wrapped, &new, &old, b"p1").is_err(),
            "needs the key it was wrapped by"
        );
        let again = DataKey::unwrap(&rewrapped, &new, b"p1").unwrap();
        assert_eq!(again.open(b"p1", "name", &sealed).unwrap(), b"Musu");

        let search = old.derive_search_key();
        let stored = search.wrap(&old).unwrap();
        assert!(SearchKey::unwrap(&stored, &new).is_err());
        let moved = SearchKey::unwrap(&stored, &old).unwrap().wrap(&new).unwrap();
        assert_eq!(
            SearchKey::unwrap(&moved, &new).unwrap().index("f", "v"),
            search.index("f", "v"),
            "blind indexes stay valid across a rotation"
        );
    }
}

/// Seal a secret under a passphrase a person holds (the private key of encrypted ODK
/// collection): argon2id (64 MiB, 3 passes) derives the key from the passphrase and a fresh
/// salt, stored in front of the ciphertext. Without the passphrase nobody, not even an
/// operator with the master key, can open it.
pub fn seal_with_passphrase(
    passphrase: &str,
    purpose: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let salt: [u8; 16] = random_bytes()?;
    let key = passphrase_key(passphrase, &salt)?;
    let mut out = salt.to_vec();
    out.extend(seal_with(&key, purpose.as_bytes(), plaintext)?);
    Ok(out)
}

/// Open what [`seal_with_passphrase`] sealed; a wrong passphrase is `Decrypt`.
pub fn open_with_passphrase(
    passphrase: &str,
    purpose: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 16 {
        return Err(CryptoError::Decrypt);
    }
    let (salt, rest) = sealed.split_at(16);
    let key = passphrase_key(passphrase, salt)?;
    Ok(Zeroizing::new(open_with(&key, purpose.as_bytes(), rest)?))
}

fn passphrase_key(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let params = argon2::Params::new(64 * 1024, 3, 1, Some(32))
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut_slice())
        .map_err(|e| CryptoError::PasswordHash(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod passphrase_tests {
    use super::*;

    #[test]
    fn only_the_passphrase_opens_it() {
        let sealed =
            seal_with_passphrase("correct horse battery", "collection-key:ct", b"secret key").unwrap();
        assert_eq!(
            open_with_passphrase("correct horse battery", "collection-key:ct", &sealed)
                .unwrap()
                .as_slice(),
            b"secret key"
        );
        assert!(open_with_passphrase("wrong", "collection-key:ct", &sealed).is_err());
        assert!(open_with_passphrase("correct horse battery", "collection-key:avrr", &sealed).is_err());
    }
}
