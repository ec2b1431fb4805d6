//! Encrypted, integrity-checked archives (backups): a header the caller writes (plain, so
//! that a file can be recognised without a key), a fresh archive key wrapped by the master key,
//! then the content in sealed chunks. Each chunk is bound to the header, its position and
//! whether it is the last, so an edited, reordered, truncated or extended archive does not open.
//!
//! Layout: `MAGIC`, `u32` header length, header, `u32` wrapped-key length, wrapped key, then
//! chunks of (`u8` last flag, `u32` length, sealed bytes). Integers are big-endian.

use crate::envelope::{DataKey, MasterKey};
use crate::{CryptoError, sha256};
use std::io::{Read, Write};

pub const MAGIC: &[u8] = b"PASSAGE-BACKUP-1\n";
/// Plaintext bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Largest header or wrapped key accepted when reading.
const MAX_HEAD: u32 = 64 * 1024;

fn io(e: std::io::Error) -> CryptoError {
    CryptoError::Archive(e.to_string())
}

fn damaged(why: &str) -> CryptoError {
    CryptoError::Archive(format!(
        "the backup is damaged or was altered ({why}); nothing was restored"
    ))
}

fn chunk_field(index: u64, last: bool) -> String {
    format!("chunk:{index}:{}", u8::from(last))
}

/// Writes an archive; call [`ArchiveWriter::finish`] to seal the last chunk.
pub struct ArchiveWriter<W: Write> {
    out: W,
    key: DataKey,
    bound: [u8; 32],
    index: u64,
    buf: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for ArchiveWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArchiveWriter(part {})", self.index)
    }
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(mut out: W, master: &MasterKey, header: &[u8]) -> Result<Self, CryptoError> {
        let bound = sha256(header);
        let key = DataKey::generate()?;
        let wrapped = key.wrap(master, &[b"backup:".as_slice(), &bound].concat())?;
        out.write_all(MAGIC).map_err(io)?;
        for part in [header, wrapped.as_slice()] {
            let len =
                u32::try_from(part.len()).map_err(|_| CryptoError::Archive("header too large".into()))?;
            out.write_all(&len.to_be_bytes()).map_err(io)?;
            out.write_all(part).map_err(io)?;
        }
        Ok(Self {
            out,
            key,
            bound,
            index: 0,
            buf: Vec::with_capacity(CHUNK),
        })
    }

    fn seal(&mut self, last: bool) -> Result<(), CryptoError> {
        let sealed = self
            .key
            .seal(&self.bound, &chunk_field(self.index, last), &self.buf)?;
        let len = u32::try_from(sealed.len()).map_err(|_| CryptoError::Encrypt)?;
        self.out.write_all(&[u8::from(last)]).map_err(io)?;
        self.out.write_all(&len.to_be_bytes()).map_err(io)?;
        self.out.write_all(&sealed).map_err(io)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seal the last chunk and hand back the output.
    pub fn finish(mut self) -> Result<W, CryptoError> {
        self.seal(true)?;
        self.out.flush().map_err(io)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ArchiveWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.seal(false).map_err(std::io::Error::other)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read_u32(input: &mut impl Read) -> Result<Option<u32>, CryptoError> {
    let mut b = [0u8; 4];
    match input.read_exact(&mut b) {
        Ok(()) => Ok(Some(u32::from_be_bytes(b))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(io(e)),
    }
}

fn read_part(input: &mut impl Read, what: &str) -> Result<Vec<u8>, CryptoError> {
    let len = read_u32(input)?.ok_or_else(|| damaged(&format!("{what} cut short")))?;
    if len > MAX_HEAD {
        return Err(damaged(&format!("{what} too large")));
    }
    let mut part = vec![0u8; len as usize];
    input
        .read_exact(&mut part)
        .map_err(|_| damaged(&format!("{what} cut short")))?;
    Ok(part)
}

/// The header of an archive, without opening anything (to tell which key it needs).
pub fn read_header(input: &mut impl Read) -> Result<Vec<u8>, CryptoError> {
    let mut magic = [0u8; MAGIC.len()];
    input
        .read_exact(&mut magic)
        .map_err(|_| CryptoError::Archive("not a Passage backup".into()))?;
    if magic != MAGIC {
        return Err(CryptoError::Archive("not a Passage backup".into()));
    }
    read_part(input, "header")
}

/// Open a whole archive into `out`, checking every chunk; returns the header. Fails with
/// [`CryptoError::Decrypt`] under another master key. Whatever `out` received is only to be
/// used once this returns `Ok`.
pub fn open(mut input: impl Read, master: &MasterKey, out: &mut impl Write) -> Result<Vec<u8>, CryptoError> {
    let header = read_header(&mut input)?;
    let bound = sha256(&header);
    let wrapped = read_part(&mut input, "key")?;
    let key = DataKey::unwrap(&wrapped, master, &[b"backup:".as_slice(), &bound].concat())?;
    let mut index = 0u64;
    loop {
        let mut flag = [0u8; 1];
        input
            .read_exact(&mut flag)
            .map_err(|_| damaged(&format!("it ends before its last part, after part {index}")))?;
        let last = match flag[0] {
            0 => false,
            1 => true,
            _ => return Err(damaged(&format!("part {index} is not a part"))),
        };
        let len = read_u32(&mut input)?.ok_or_else(|| damaged(&format!("part {index} cut short")))?;
        if len as usize > CHUNK + 64 {
            return Err(damaged(&format!("part {index} too large")));
        }
        let mut sealed = vec![0u8; len as usize];
        input
            .read_exact(&mut sealed)
            .map_err(|_| damaged(&format!("part {index} cut short")))?;
        let plain = key
            .open(&bound, &chunk_field(index, last), &sealed)
            .map_err(|_| damaged(&format!("part {index} does not open")))?;
        out.write_all(&plain).map_err(io)?;
        index += 1;
        if last {
            break;
        }
    }
    let mut rest = [0u8; 1];
    if input.read(&mut rest).map_err(io)? != 0 {
        return Err(damaged("it goes on after its last part"));
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(master: &MasterKey, header: &[u8], content: &[u8]) -> Vec<u8> {
        let mut w = ArchiveWriter::new(Vec::new(), master, header).unwrap();
        w.write_all(content).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn an_archive_opens_whole_under_its_master_key_only() {
        let master = MasterKey::generate().unwrap();
        let content: Vec<u8> = (0..(CHUNK * 2 + 77)).map(|i| (i % 251) as u8).collect();
        let bytes = archive(&master, b"{\"v\":1}", &content);
        assert!(
            !bytes.windows(64).any(|w| w == &content[1000..1064]),
            "content is sealed"
        );
        let mut out = Vec::new();
        assert_eq!(open(bytes.as_slice(), &master, &mut out).unwrap(), b"{\"v\":1}");
        assert_eq!(out, content);
        assert_eq!(read_header(&mut bytes.as_slice()).unwrap(), b"{\"v\":1}");
        let other = MasterKey::generate().unwrap();
        assert!(matches!(
            open(bytes.as_slice(), &other, &mut Vec::new()),
            Err(CryptoError::Decrypt)
        ));
        // Empty content still has its (empty) last part.
        let empty = archive(&master, b"h", b"");
        let mut out = Vec::new();
        open(empty.as_slice(), &master, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn altered_truncated_or_extended_archives_are_refused() {
        let master = MasterKey::generate().unwrap();
        let content = vec![7u8; CHUNK + 10];
        let bytes = archive(&master, b"header", &content);
        let refused = |b: &[u8]| open(b, &master, &mut Vec::new()).unwrap_err().to_string();
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        assert!(refused(&flipped).contains("damaged"));
        assert!(refused(&bytes[..bytes.len() - 1]).contains("cut short"));
        // Dropping the last part: what is left ends before its last part.
        let first_part_end = MAGIC.len()
            + 4
            + 6
            + 4
            + {
                let l = &bytes[MAGIC.len() + 10..MAGIC.len() + 14];
                u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize
            }
            + 5
            + CHUNK
            + 41;
        assert!(refused(&bytes[..first_part_end]).contains("ends before its last part"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(refused(&longer).contains("goes on after"));
        let mut header = bytes.clone();
        header[MAGIC.len() + 4] ^= 1;
        assert!(matches!(
            open(header.as_slice(), &master, &mut Vec::new()),
            Err(CryptoError::Decrypt)
        ));
        assert!(refused(b"PK\x03\x04 not ours").contains("not a Passage backup"));
    }
}
