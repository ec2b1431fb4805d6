//! `passage backup` and `passage restore`: the whole database (records, their documents and
//! the wrapped data keys) in one encrypted, integrity-checked archive. The archive's own key
//! is wrapped by the master key, which is never in the archive: keep the key file apart.
//! A restore opens and checks the whole archive before it replaces anything.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use passage_crypto::archive::{self, ArchiveWriter};
use passage_service::{Ctx, MasterKey};
use passage_store::DbTarget;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// What a backup says about itself, readable without a key.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    created_at: String,
    /// `sqlite` (the database file) or `postgres` (a `pg_dump` custom-format archive).
    backend: String,
    /// Fingerprint of the master key that wraps the archive's key.
    master_key: String,
    passage_version: String,
}

fn backend_of(target: &DbTarget) -> &'static str {
    match target {
        DbTarget::SqliteFile(_) => "sqlite",
        DbTarget::Postgres(_) => "postgres",
    }
}

/// A private file (or folder) created next to `near`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn beside(near: &Path, what: &str) -> Self {
        let dir = near
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Self(dir.join(format!(".passage-{what}-{}", uuid::Uuid::now_v7())))
    }
    fn create(&self) -> Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.0)
            .with_context(|| format!("cannot create {}", self.0.display()))
    }
    fn create_dir(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.0)
            .with_context(|| format!("cannot create {}", self.0.display()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Format 2 (SQLite) holds a tar stream: the database file and the document packs beside it.
/// Format 1 holds the database alone: a `pg_dump` archive (PostgreSQL keeps documents in its
/// rows), streamed into the archive without a plaintext copy on disk, or a SQLite file from
/// before the packs.
const FORMAT: u32 = 2;
const DATABASE_ENTRY: &str = "database";
const DOCUMENTS_ENTRY: &str = "documents";

/// Append `size` bytes from `content` to the backup's tar stream as a private file.
fn append_private(
    tar: &mut tar::Builder<impl Write>,
    name: &Path,
    size: u64,
    content: impl std::io::Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    );
    tar.append_data(&mut header, name, content)
        .context("writing the backup")
}

fn append_database(tar: &mut tar::Builder<impl Write>, path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    append_private(tar, Path::new(DATABASE_ENTRY), file.metadata()?.len(), file)
}

/// The document packs, whole: packs only grow, so they hold every body the snapshot taken
/// before names (and perhaps some it does not, which the next start's sweep gives back).
fn append_packs(tar: &mut tar::Builder<impl Write>, files: &passage_store::DocumentFiles) -> Result<()> {
    for (number, path) in files.packs()? {
        let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let size = file.metadata()?.len();
        let name = Path::new(DOCUMENTS_ENTRY).join(passage_store::DocumentFiles::pack_name(number));
        append_private(tar, &name, size, std::io::Read::take(file, size))?;
    }
    Ok(())
}

fn master(config: &Config) -> Result<MasterKey> {
    MasterKey::read(&config.master_key_file)
        .with_context(|| "a backup is sealed for the master key; its file is needed")
}

/// Write the backup to `out` (first to a temporary file beside it, so that a failed backup
/// leaves nothing that looks like one).
pub async fn backup(config: &Config, out: &Path) -> Result<ExitCode> {
    let svc = crate::service(config).await?;
    let master = master(config)?;
    let header = Header {
        format: match config.database {
            DbTarget::SqliteFile(_) => FORMAT,
            DbTarget::Postgres(_) => 1,
        },
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        backend: backend_of(&config.database).to_owned(),
        master_key: master.fingerprint(),
        passage_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let partial = TempFile::beside(out, "backup");
    let file = partial.create()?;
    let writer = ArchiveWriter::new(
        std::io::BufWriter::new(file),
        &master,
        &serde_json::to_vec(&header)?,
    )?;
    let mut file = match &config.database {
        DbTarget::SqliteFile(db) => {
            let mut tar = tar::Builder::new(writer);
            let snapshot = TempFile::beside(db, "snapshot");
            svc.db().snapshot_sqlite(&snapshot.0).await?;
            append_database(&mut tar, &snapshot.0)?;
            if let Some(files) = svc.db().document_files() {
                append_packs(&mut tar, files)?;
            }
            tar.into_inner().context("writing the backup")?.finish()?
        }
        DbTarget::Postgres(url) => {
            let mut writer = writer;
            let mut child = Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--dbname"])
                .arg(url)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("cannot run pg_dump (PostgreSQL's client tools)")?;
            let mut dump = child.stdout.take().context("pg_dump output")?;
            std::io::copy(&mut dump, &mut writer).context("writing the backup")?;
            let done = child.wait_with_output()?;
            if !done.status.success() {
                bail!("pg_dump failed: {}", String::from_utf8_lossy(&done.stderr).trim());
            }
            writer.finish()?
        }
    };
    file.flush()?;
    file.get_ref().sync_all()?;
    drop(file);
    std::fs::rename(&partial.0, out).with_context(|| format!("cannot write {}", out.display()))?;
    let bytes = std::fs::metadata(out)?.len();
    svc.record_backup(&Ctx::cli(), false, &header.created_at, bytes)
        .await?;
    println!(
        "wrote an encrypted backup of the {} database to {} ({bytes} bytes), sealed for master key {}; \
         keep the master key file apart from it: the backup cannot be opened without it",
        header.backend,
        out.display(),
        header.master_key
    );
    Ok(ExitCode::SUCCESS)
}

/// Restore `file` over the configured database, after checking all of it. Stop Passage first.
pub async fn restore(config: &Config, file: &Path) -> Result<ExitCode> {
    let open = || std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()));
    let header: Header = {
        let raw = archive::read_header(&mut open()?).with_context(|| format!("{}", file.display()))?;
        serde_json::from_slice(&raw).with_context(|| format!("{}: not a Passage backup", file.display()))?
    };
    let configured = backend_of(&config.database);
    if header.backend != configured {
        bail!(
            "{} is a backup of a {} database, but Passage is configured for {configured}; nothing was restored",
            file.display(),
            header.backend
        );
    }
    let master = master(config)?;
    if header.master_key != master.fingerprint() {
        bail!(
            "{} was sealed for master key {}, but {} has fingerprint {}: use the key file the backup was made with (nothing was restored)",
            file.display(),
            header.master_key,
            config.master_key_file.display(),
            master.fingerprint()
        );
    }
    let target = match &config.database {
        DbTarget::SqliteFile(db) => db.clone(),
        DbTarget::Postgres(_) => std::env::temp_dir().join("passage-restore"),
    };
    if let DbTarget::SqliteFile(_) = &config.database {
        crate::config::prepare_data_dir(&config.data_dir)?;
    }
    if header.format > FORMAT {
        bail!(
            "{} was made by a newer Passage ({}, backup format {}); nothing was restored",
            file.display(),
            header.passage_version,
            header.format
        );
    }
    let opened = TempFile::beside(&target, "restore");
    {
        let mut out = std::io::BufWriter::new(opened.create()?);
        archive::open(std::io::BufReader::new(open()?), &master, &mut out)
            .with_context(|| format!("{}", file.display()))?;
        out.flush()?;
        out.get_ref().sync_all()?;
    }
    // Format 1 is the database itself; format 2 a tar of it and the document packs.
    let unpacked = TempFile::beside(&target, "unpacked");
    let (database, documents) = if header.format == 1 {
        (opened.0.clone(), None)
    } else {
        unpacked.create_dir()?;
        tar::Archive::new(std::fs::File::open(&opened.0)?)
            .unpack(&unpacked.0)
            .with_context(|| format!("{}: unpacking", file.display()))?;
        let documents = unpacked.0.join(DOCUMENTS_ENTRY);
        (
            unpacked.0.join(DATABASE_ENTRY),
            documents.exists().then_some(documents),
        )
    };
    match &config.database {
        DbTarget::SqliteFile(db) => {
            passage_store::Db::check_sqlite_file(&database)
                .await
                .with_context(|| {
                    format!(
                        "{}: the database inside does not check out; nothing was restored",
                        file.display()
                    )
                })?;
            let files = passage_store::DocumentFiles::beside(db);
            if db.exists() {
                let aside = PathBuf::from(format!(
                    "{}.before-restore-{}",
                    db.display(),
                    time::OffsetDateTime::now_utc().unix_timestamp()
                ));
                std::fs::rename(db, &aside)?;
                // The write-ahead log belongs to the file it was written for, and so do
                // the document files.
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", db.display()));
                    if side.exists() {
                        std::fs::rename(&side, format!("{}{suffix}", aside.display()))?;
                    }
                }
                if files.dir().exists() {
                    std::fs::rename(files.dir(), passage_store::DocumentFiles::beside(&aside).dir())?;
                }
                println!("the previous database file is kept at {}", aside.display());
            }
            std::fs::rename(&database, db)?;
            if let Some(documents) = documents {
                use std::os::unix::fs::PermissionsExt;
                std::fs::rename(documents, files.dir())?;
                std::fs::set_permissions(files.dir(), std::fs::Permissions::from_mode(0o700))?;
            }
        }
        DbTarget::Postgres(url) => {
            let done = Command::new("pg_restore")
                .args([
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    "--dbname",
                ])
                .arg(url)
                .arg(&database)
                .output()
                .context("cannot run pg_restore (PostgreSQL's client tools)")?;
            if !done.status.success() {
                bail!(
                    "pg_restore failed, nothing was changed (one transaction): {}",
                    String::from_utf8_lossy(&done.stderr).trim()
                );
            }
        }
    }
    let svc = crate::service(config).await?;
    svc.record_backup(
        &Ctx::cli(),
        true,
        &header.created_at,
        std::fs::metadata(file)?.len(),
    )
    .await?;
    println!(
        "restored the backup made {} (Passage {}); the restore is in the audit trail",
        header.created_at, header.passage_version
    );
    Ok(ExitCode::SUCCESS)
}
