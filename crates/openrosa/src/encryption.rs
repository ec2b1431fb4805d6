//! ODK's encrypted submissions (xforms-spec "Encryption"): the client draws an AES-256 key
//! per record, encrypts every file with AES-CFB and PKCS#7 padding under an IV derived from
//! MD5(instanceID ‖ key), wraps the key with the form's RSA public key (OAEP, SHA-256 and
//! MGF1-SHA-256), and signs the manifest's contents the same way. Only the holder of the
//! private key can read the record; the server stores the bundle untouched until then.

use crate::submission::Encrypted;
use aes::Aes256;
use cfb_mode::cipher::KeyIvInit;
use md5::{Digest as _, Md5};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::{Oaep, PrivateKey, PublicKey};
use sha2::Sha256;

/// A file and its name.
pub type NamedFile = (String, Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    #[error("the private key cannot be read: {0}")]
    BadKey(String),
    #[error("the record's key does not open with this private key (another form's key?)")]
    WrongKey,
    #[error("file `{0}` of the encrypted record did not arrive")]
    Missing(String),
    #[error("file `{0}` does not decrypt (damaged or altered)")]
    Damaged(String),
    #[error("the record's signature does not match its contents (damaged or altered)")]
    BadSignature,
    #[error("the encrypted record is malformed: {0}")]
    Malformed(String),
}

/// An unlocked private key; `Debug` never shows it.
pub struct PrivateKeyHandle(PrivateKey);

impl PrivateKeyHandle {
    pub fn new(key: PrivateKey) -> Self {
        Self(key)
    }
    pub fn key(&self) -> &PrivateKey {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKeyHandle(***)")
    }
}

/// An RSA private key from PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
pub fn private_key_from_pem(pem: &str) -> Result<PrivateKey, EncryptionError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    PrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| PrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| EncryptionError::BadKey(e.to_string()))
}

/// The base64 SubjectPublicKeyInfo that goes into an XLSForm's `public_key` setting.
pub fn public_key_base64(key: &PrivateKey) -> Result<String, EncryptionError> {
    let der = PublicKey::from(key)
        .to_public_key_der()
        .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
    Ok(data_encoding::BASE64.encode(der.as_bytes()))
}

pub fn public_key_from_base64(b64: &str) -> Result<PublicKey, EncryptionError> {
    let der = data_encoding::BASE64
        .decode(b64.trim().as_bytes())
        .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
    PublicKey::from_public_key_der(&der).map_err(|e| EncryptionError::BadKey(e.to_string()))
}

/// A new RSA-2048 key pair for a programme's encrypted collection.
pub fn generate() -> Result<PrivateKey, EncryptionError> {
    use rsa::Generate;
    PrivateKey::try_generate().map_err(|e| EncryptionError::BadKey(e.to_string()))
}

/// The private key as PKCS#8 DER (to be sealed, never stored as is).
pub fn private_key_der(key: &PrivateKey) -> Result<Vec<u8>, EncryptionError> {
    use rsa::pkcs8::EncodePrivateKey;
    Ok(key
        .to_pkcs8_der()
        .map_err(|e| EncryptionError::BadKey(e.to_string()))?
        .as_bytes()
        .to_vec())
}

pub fn private_key_from_der(der: &[u8]) -> Result<PrivateKey, EncryptionError> {
    PrivateKey::from_pkcs8_der(der).map_err(|e| EncryptionError::BadKey(e.to_string()))
}

fn oaep() -> Oaep<Sha256> {
    Oaep::<Sha256>::new()
}

/// The IV for the `index`th file: the seed with one byte bumped per file so far.
fn next_iv(seed: &mut [u8; 16], index: usize) -> [u8; 16] {
    seed[index % 16] = seed[index % 16].wrapping_add(1);
    *seed
}

fn seed(instance_id: &str, key: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(instance_id.as_bytes());
    h.update(key);
    h.finalize().into()
}

fn strip_pkcs7(mut data: Vec<u8>) -> Option<Vec<u8>> {
    let pad = *data.last()? as usize;
    if pad == 0
        || pad > 16
        || pad > data.len()
        || !data[data.len() - pad..].iter().all(|b| *b as usize == pad)
    {
        return None;
    }
    data.truncate(data.len() - pad);
    Some(data)
}

/// The lines the signature covers, MD5'd.
fn signature_digest(
    form_id: &str,
    version: &str,
    key_b64: &str,
    instance_id: &str,
    files: &[NamedFile],
) -> [u8; 16] {
    let mut text = format!("{form_id}\n");
    if !version.is_empty() {
        text.push_str(&format!("{version}\n"));
    }
    text.push_str(&format!("{key_b64}\n{instance_id}\n"));
    for (name, plain) in files {
        text.push_str(&format!("{name}::{}\n", crate::digest::md5_hex(plain)));
    }
    Md5::digest(text.as_bytes()).into()
}

/// A decrypted record: the submission XML and its media files (names without `.enc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub xml: Vec<u8>,
    pub media: Vec<NamedFile>,
}

/// Decrypt a stored bundle. `file` gives the bytes of each uploaded `.enc` part.
pub fn decrypt(
    key: &PrivateKey,
    form_id: &str,
    version: &str,
    instance_id: &str,
    manifest: &Encrypted,
    file: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Decrypted, EncryptionError> {
    let wrapped = data_encoding::BASE64
        .decode(manifest.base64_key.as_bytes())
        .map_err(|e| EncryptionError::Malformed(format!("base64EncryptedKey: {e}")))?;
    let aes_key = key
        .decrypt(oaep(), &wrapped)
        .map_err(|_| EncryptionError::WrongKey)?;
    if aes_key.len() != 32 {
        return Err(EncryptionError::Malformed(
            "the record key is not 256 bits".into(),
        ));
    }
    let mut seed = seed(instance_id, &aes_key);
    let mut plain_files = Vec::new();
    let order = manifest.media.iter().chain(std::iter::once(&manifest.xml_file));
    for (i, name) in order.enumerate() {
        let iv = next_iv(&mut seed, i);
        let mut data = file(name).ok_or_else(|| EncryptionError::Missing(name.clone()))?;
        let cipher = cfb_mode::Decryptor::<Aes256>::new_from_slices(&aes_key, &iv)
            .map_err(|e| EncryptionError::Malformed(e.to_string()))?;
        cipher.decrypt(&mut data);
        let plain = strip_pkcs7(data).ok_or_else(|| EncryptionError::Damaged(name.clone()))?;
        let original = name.strip_suffix(".enc").unwrap_or(name).to_owned();
        plain_files.push((original, plain));
    }
    if let Some(sig) = &manifest.signature {
        let sealed = data_encoding::BASE64
            .decode(sig.as_bytes())
            .map_err(|e| EncryptionError::Malformed(format!("signature: {e}")))?;
        let signed = key
            .decrypt(oaep(), &sealed)
            .map_err(|_| EncryptionError::BadSignature)?;
        let expected = signature_digest(form_id, version, &manifest.base64_key, instance_id, &plain_files);
        if signed != expected {
            return Err(EncryptionError::BadSignature);
        }
    }
    let (_, xml) = plain_files
        .pop()
        .ok_or_else(|| EncryptionError::Malformed("no XML".into()))?;
    Ok(Decrypted {
        xml,
        media: plain_files,
    })
}

/// Encrypt a record as ODK Collect does (for tests and load generators): the manifest to
/// post as `xml_submission_file`, and the `.enc` files.
pub fn encrypt(
    public_key: &PublicKey,
    form_id: &str,
    version: &str,
    instance_id: &str,
    xml: &[u8],
    media: &[NamedFile],
) -> Result<(String, Vec<NamedFile>), EncryptionError> {
    let mut aes_key = [0u8; 32];
    getrandom::fill(&mut aes_key).map_err(|e| EncryptionError::Malformed(e.to_string()))?;
    let mut rng = getrandom::SysRng;
    let wrapped = public_key
        .encrypt(&mut rng, oaep(), &aes_key)
        .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
    let key_b64 = data_encoding::BASE64.encode(&wrapped);
    let mut seed = seed(instance_id, &aes_key);
    let mut all: Vec<NamedFile> = media.to_vec();
    all.push(("submission.xml".to_owned(), xml.to_vec()));
    let mut out = Vec::new();
    for (i, (name, plain)) in all.iter().enumerate() {
        let iv = next_iv(&mut seed, i);
        let pad = 16 - plain.len() % 16;
        let mut data = plain.clone();
        data.extend(std::iter::repeat_n(pad as u8, pad));
        let cipher = cfb_mode::Encryptor::<Aes256>::new_from_slices(&aes_key, &iv)
            .map_err(|e| EncryptionError::Malformed(e.to_string()))?;
        cipher.encrypt(&mut data);
        out.push((format!("{name}.enc"), data));
    }
    let digest = signature_digest(form_id, version, &key_b64, instance_id, &all);
    let signature = public_key
        .encrypt(&mut rng, oaep(), &digest)
        .map_err(|e| EncryptionError::BadKey(e.to_string()))?;
    let media_xml: String = out[..out.len() - 1]
        .iter()
        .map(|(n, _)| format!("<file>{n}</file>"))
        .collect();
    let version_attr = if version.is_empty() {
        String::new()
    } else {
        format!(" version=\"{version}\"")
    };
    let manifest = format!(
        "<data xmlns=\"http://www.opendatakit.org/xforms/encrypted\" id=\"{form_id}\"{version_attr} encrypted=\"yes\">\
         <base64EncryptedKey>{key_b64}</base64EncryptedKey>\
         <orx:meta xmlns:orx=\"http://openrosa.org/xforms\"><orx:instanceID>{instance_id}</orx:instanceID></orx:meta>\
         <media>{media_xml}</media><encryptedXmlFile>submission.xml.enc</encryptedXmlFile>\
         <base64EncryptedElementSignature>{}</base64EncryptedElementSignature></data>",
        data_encoding::BASE64.encode(&signature)
    );
    Ok((manifest, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;
    use std::path::PathBuf;

    /// ODK Briefcase's public encryption fixtures (Apache-2.0), beside the repository.
    fn fixture(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/odk-encrypted")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn open_fixture(prefix: &str) -> (Envelope, Decrypted) {
        let key =
            private_key_from_pem(&String::from_utf8(fixture(&format!("{prefix}-key.pem"))).unwrap()).unwrap();
        let (envelope, _) = Envelope::read(&fixture(&format!("{prefix}-submission.xml"))).unwrap();
        let manifest = envelope.encrypted.clone().unwrap();
        let decrypted = decrypt(
            &key,
            &envelope.form_id,
            &envelope.version,
            &envelope.instance_id,
            &manifest,
            |name| {
                let file = if name == "submission.xml.enc" {
                    format!("{prefix}-submission.xml.enc")
                } else {
                    format!("{prefix}-{name}")
                };
                Some(fixture(&file))
            },
        )
        .unwrap();
        (envelope, decrypted)
    }

    #[test]
    fn decrypts_briefcase_fixtures_and_checks_their_signatures() {
        let (envelope, d) = open_fixture("encrypted-form");
        let root = crate::xml::parse(&d.xml).unwrap();
        assert_eq!(root.attribute("id"), Some(envelope.form_id.as_str()));
        assert!(root.child("meta").unwrap().child("instanceID").unwrap().text == envelope.instance_id);
        // With media: the photo decrypts to the plaintext fixture byte for byte.
        let (_, d) = open_fixture("encrypted-form-media");
        assert_eq!(d.media.len(), 2);
        for (name, bytes) in &d.media {
            let plain = fixture(&format!("encrypted-form-media-media/{name}"));
            assert_eq!(&plain, bytes, "{name}");
        }
    }

    #[test]
    fn our_encryption_round_trips_and_tampering_is_caught() {
        let key =
            private_key_from_pem(&String::from_utf8(fixture("encrypted-form-key.pem")).unwrap()).unwrap();
        let public = public_key_from_base64(&public_key_base64(&key).unwrap()).unwrap();
        let xml = b"<data id=\"f\" version=\"1\"><a>x</a><meta><instanceID>uuid:1</instanceID></meta></data>";
        let media = vec![("photo.jpg".to_owned(), vec![0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9])];
        let (manifest, files) = encrypt(&public, "f", "1", "uuid:1", xml, &media).unwrap();
        let (envelope, _) = Envelope::read(manifest.as_bytes()).unwrap();
        let m = envelope.encrypted.unwrap();
        let get = |files: &[NamedFile], n: &str| files.iter().find(|(f, _)| f == n).map(|(_, b)| b.clone());
        let d = decrypt(&key, "f", "1", "uuid:1", &m, |n| get(&files, n)).unwrap();
        assert_eq!(d.xml, xml);
        assert_eq!(d.media, media);
        // Altered ciphertext, a wrong instance id, or a missing file: never a wrong record.
        let mut altered = files.clone();
        altered[0].1[0] ^= 1;
        assert!(decrypt(&key, "f", "1", "uuid:1", &m, |n| get(&altered, n)).is_err());
        assert!(decrypt(&key, "f", "1", "uuid:2", &m, |n| get(&files, n)).is_err());
        assert_eq!(
            decrypt(&key, "f", "1", "uuid:1", &m, |n| get(&files[1..], n)),
            Err(EncryptionError::Missing("photo.jpg.enc".into()))
        );
    }
}
