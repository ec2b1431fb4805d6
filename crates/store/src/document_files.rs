//! Sealed document bodies (photos, scans) in pack files beside a SQLite database, not in it: a
//! 200 KB photo written into SQLite goes through the write-ahead log page by page and again
//! at the checkpoint, on the one writer every registration waits for; a file per photo costs
//! an inode and a directory entry each. Appended to a pack, a body is one positional write by
//! the request that brings it, before its row (which records where it is) commits.
//!
//! Packs hold what the database would: bytes sealed under the case's data key. Each process
//! appends only to packs it holds locked, so two processes never write the same range. A
//! shredded body's range is punched out (its key is destroyed as well). A range whose row
//! never committed (a refused registration, a crash) is dead space, sealed under a key that
//! was never stored; [`DocumentFiles::sweep`] punches those out of packs nobody writes to.

use crate::StoreError;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A pack is closed to new bodies once it is this large (a body may end past it).
const PACK_BYTES: u64 = 1 << 30;

/// Where a body is: pack number, offset and length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyAt {
    pub pack: i64,
    pub offset: i64,
    pub len: i64,
}

/// The pack this process appends to, and its length so far.
#[derive(Debug)]
struct Open {
    number: i64,
    file: Arc<File>,
    len: u64,
}

/// The folder of packs: `{database file}-documents/pack-000001`, …
#[derive(Debug)]
pub struct DocumentFiles {
    dir: PathBuf,
    open: Mutex<Option<Open>>,
}

impl DocumentFiles {
    /// The folder beside the SQLite file `db` (created, owner-only, when first written).
    pub fn beside(db: &Path) -> Self {
        let mut name = db.as_os_str().to_owned();
        name.push("-documents");
        Self {
            dir: PathBuf::from(name),
            open: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A pack's file name inside the folder.
    pub fn pack_name(number: i64) -> String {
        format!("pack-{number:06}")
    }

    fn pack_path(&self, number: i64) -> PathBuf {
        self.dir.join(Self::pack_name(number))
    }

    /// The packs in the folder, by number.
    pub fn packs(&self) -> Result<Vec<(i64, PathBuf)>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(file_error(&self.dir, &e)),
        };
        let mut packs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| file_error(&self.dir, &e))?;
            let number = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("pack-"))
                .and_then(|n| n.parse::<i64>().ok());
            if let Some(number) = number {
                packs.push((number, entry.path()));
            }
        }
        packs.sort();
        Ok(packs)
    }

    /// Open pack `number` for appending if no other process holds it (`None` if one does).
    fn lock_pack(&self, number: i64) -> Result<Option<Open>, StoreError> {
        let path = self.pack_path(number);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| file_error(&path, &e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(file_error(&path, &e)),
        }
        let len = file.metadata().map_err(|e| file_error(&path, &e))?.len();
        Ok(Some(Open {
            number,
            file: Arc::new(file),
            len,
        }))
    }

    /// A pack with room, locked by this process: the newest one if free and not full, else
    /// a new one.
    fn pack_with_room(&self) -> Result<Open, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| file_error(&self.dir, &e))?;
        let mut number = self.packs()?.last().map(|(n, _)| *n).unwrap_or(0);
        if number > 0
            && let Some(open) = self.lock_pack(number)?
            && open.len < PACK_BYTES
        {
            return Ok(open);
        }
        loop {
            number += 1;
            if let Some(open) = self.lock_pack(number)? {
                return Ok(open);
            }
        }
    }

    /// Append a body; the caller records where it went in the row that names it.
    pub fn append(&self, sealed: &[u8]) -> Result<BodyAt, StoreError> {
        let (file, at) = {
            let mut open = self
                .open
                .lock()
                .map_err(|_| StoreError::File("document pack lock poisoned".into()))?;
            if open.as_ref().is_none_or(|o| o.len >= PACK_BYTES) {
                *open = Some(self.pack_with_room()?);
            }
            let Some(o) = open.as_mut() else {
                return Err(StoreError::File("no document pack".into()));
            };
            let at = BodyAt {
                pack: o.number,
                offset: o.len as i64,
                len: sealed.len() as i64,
            };
            o.len += sealed.len() as u64;
            (o.file.clone(), at)
        };
        // Outside the lock: ranges are reserved, so writes of many requests run at once.
        file.write_all_at(sealed, at.offset as u64)
            .map_err(|e| file_error(&self.pack_path(at.pack), &e))?;
        Ok(at)
    }

    pub fn read(&self, at: BodyAt) -> Result<Vec<u8>, StoreError> {
        let path = self.pack_path(at.pack);
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                StoreError::Corrupt(format!("document pack {} is missing", path.display()))
            }
            _ => file_error(&path, &e),
        })?;
        let mut body =
            vec![0; usize::try_from(at.len).map_err(|_| StoreError::Corrupt("document length".into()))?];
        file.read_exact_at(&mut body, at.offset as u64)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => StoreError::Corrupt(format!(
                    "document pack {} is shorter than its records say",
                    path.display()
                )),
                _ => file_error(&path, &e),
            })?;
        Ok(body)
    }

    /// Give back the space of bodies no longer kept (shredded, or never committed): punched
    /// out of their packs, which then read as zeros there.
    pub fn release(&self, ranges: &[BodyAt]) -> Result<(), StoreError> {
        for r in ranges {
            let path = self.pack_path(r.pack);
            let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(file_error(&path, &e)),
            };
            punch(&file, r.offset as u64, r.len as u64).map_err(|e| file_error(&path, &e))?;
        }
        Ok(())
    }

    /// Punch out every range of every pack no other process writes to that `kept` (the
    /// bodies committed rows name) does not cover. Returns the bytes given back.
    pub fn sweep(&self, kept: &[BodyAt]) -> Result<u64, StoreError> {
        let mut freed = 0;
        for (number, path) in self.packs()? {
            // This process's own pack may have bodies in transactions: left alone, like
            // another process's.
            let ours = self.open.lock().ok().and_then(|o| o.as_ref().map(|o| o.number)) == Some(number);
            if ours {
                continue;
            }
            let Some(open) = self.lock_pack(number)? else {
                continue;
            };
            let mut ranges: Vec<(u64, u64)> = kept
                .iter()
                .filter(|k| k.pack == number)
                .map(|k| (k.offset as u64, (k.offset + k.len) as u64))
                .collect();
            ranges.sort_unstable();
            let mut from = 0;
            for (start, end) in ranges.into_iter().chain([(open.len, open.len)]) {
                if start > from {
                    punch(&open.file, from, start - from).map_err(|e| file_error(&path, &e))?;
                    freed += start - from;
                }
                from = from.max(end);
            }
        }
        Ok(freed)
    }
}

/// Deallocate a range, keeping the file's size (it reads as zeros); where the file system
/// cannot, the range is overwritten with zeros.
fn punch(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    match fallocate(
        file,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        offset,
        len,
    ) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => {
            let zeros = vec![0u8; 1 << 16];
            let mut done = 0;
            while done < len {
                let n = (len - done).min(zeros.len() as u64);
                file.write_all_at(&zeros[..n as usize], offset + done)?;
                done += n;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn file_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::File(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_appended_read_back_released_and_swept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("passage.sqlite3");
        let files = DocumentFiles::beside(&db);
        assert!(files.packs().unwrap().is_empty(), "no folder yet is no pack");
        let one = files.append(b"sealed one").unwrap();
        let two = files.append(b"sealed two").unwrap();
        let three = files.append(b"sealed three").unwrap();
        assert_eq!((one.pack, one.offset, two.offset, three.offset), (1, 0, 10, 20));
        assert_eq!(files.read(two).unwrap(), b"sealed two");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.pack_path(1))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A second process (here: a second handle) does not write into a pack held by the first.
        let other = DocumentFiles::beside(&db);
        let elsewhere = other.append(b"from another process").unwrap();
        assert_eq!((elsewhere.pack, elsewhere.offset), (2, 0));
        assert_eq!(other.read(one).unwrap(), b"sealed one");

        files.release(&[one]).unwrap();
        assert_eq!(
            files.read(one).unwrap(),
            vec![0; 10],
            "a released body reads as zeros"
        );
        assert_eq!(files.read(two).unwrap(), b"sealed two");

        // A sweep leaves packs still being written to; once they are let go, it punches out
        // what no row names (`three`, never committed) and keeps what rows name.
        assert_eq!(other.sweep(&[two]).unwrap(), 0, "pack 1 is the first handle's");
        drop(files);
        assert_eq!(other.sweep(&[two]).unwrap(), 10 + 12);
        assert_eq!(other.read(two).unwrap(), b"sealed two");
        assert_eq!(other.read(three).unwrap(), vec![0; 12]);
        assert_eq!(
            other.read(elsewhere).unwrap(),
            b"from another process",
            "its own pack is kept"
        );
        let short = BodyAt { len: 100, ..two };
        assert!(matches!(other.read(short), Err(StoreError::Corrupt(_))));
    }
}
