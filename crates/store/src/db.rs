use crate::StoreError;
use crate::document_files::DocumentFiles;
use crate::group::{Group, Write};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    SqliteFile(PathBuf),
    Postgres(String),
}

impl DbTarget {
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite://PATH` a SQLite file.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
            Ok(Self::Postgres(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// URL names no file".to_owned());
            }
            Ok(Self::SqliteFile(PathBuf::from(path)))
        } else {
            Err("database URL must start with postgres://, postgresql:// or sqlite://".to_owned())
        }
    }

    /// For messages and logs: the PostgreSQL password is never shown.
    pub fn redacted(&self) -> String {
        match self {
            Self::SqliteFile(p) => format!("sqlite://{}", p.display()),
            Self::Postgres(url) => match url.split_once("://") {
                Some((scheme, rest)) => match rest.rsplit_once('@') {
                    Some((userinfo, host)) => {
                        let user = userinfo.split(':').next().unwrap_or_default();
                        format!("{scheme}://{user}:***@{host}")
                    }
                    None => url.clone(),
                },
                None => url.clone(),
            },
        }
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The database: one of two concrete pools (no `Any` driver, so native types on both).
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite allows one writer at a time; writers of this process queue on the lock instead
    /// of polling SQLite's busy handler, which sleeps in growing steps and makes tail
    /// latency under concurrent writes. Grouped writes share transactions on the writer
    /// thread of [`Group`]. Document bodies live in files beside the database.
    Sqlite(SqlitePool, Arc<Writer>, Arc<Group>, Arc<DocumentFiles>),
    Postgres(PgPool),
}

/// The single SQLite writer of this process, and its WAL checkpoints.
#[derive(Debug, Default)]
pub struct Writer {
    mutex: Arc<Mutex<()>>,
    writes: std::sync::atomic::AtomicU64,
    checkpointing: std::sync::atomic::AtomicBool,
}

/// Writes between checkpoints of the WAL. They run after the commit, off the writer lock,
/// so that copying the WAL into the database (big with attachments) does not hold up the
/// next writer; SQLite's own checkpoint after 50,000 pages remains as a safety net.
const CHECKPOINT_EVERY: u64 = 32;

impl Writer {
    pub(crate) async fn lock_owned(self: &Arc<Self>) -> OwnedMutexGuard<()> {
        // The guard must own the mutex; the mutex lives in its own Arc.
        self.mutex.clone().lock_owned().await
    }

    /// After a commit of `writes` writes (several when grouped).
    pub(crate) fn committed(self: &Arc<Self>, pool: &SqlitePool, writes: u64) {
        use std::sync::atomic::Ordering;
        let before = self.writes.fetch_add(writes, Ordering::Relaxed);
        if before / CHECKPOINT_EVERY == (before + writes) / CHECKPOINT_EVERY
            || self.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (pool, writer) = (pool.clone(), self.clone());
        tokio::spawn(async move {
            // PASSIVE never waits for readers or the writer; what it cannot copy now, the
            // next one will. A failure here loses nothing: the WAL still holds the commits.
            if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)").execute(&pool).await {
                tracing::debug!(error = %e, "background checkpoint");
            }
            writer.checkpointing.store(false, Ordering::Release);
        });
    }
}

/// A borrowed connection of either backend; repositories take `&mut Conn`, so the same
/// function works inside a transaction or on a pooled connection.
#[derive(Debug)]
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

#[derive(Debug)]
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Pooled {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(c) => Conn::Sqlite(c),
            Self::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back: nothing half-written.
#[derive(Debug)]
pub enum Tx {
    /// The guard is declared after the transaction, so it is released after the transaction
    /// commits or rolls back.
    Sqlite(
        Transaction<'static, Sqlite>,
        OwnedMutexGuard<()>,
        Arc<Writer>,
        SqlitePool,
    ),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(t, ..) => Conn::Sqlite(t),
            Self::Postgres(t) => Conn::Postgres(t),
        }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(t, guard, writer, pool) => {
                t.commit().await?;
                drop(guard);
                writer.committed(&pool, 1);
            }
            Self::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Run the same statement on whichever backend `$conn` is. `$q` is written once and expanded
/// per arm, so its types are inferred for each driver.
#[macro_export]
#[doc(hidden)]
macro_rules! on_conn {
    ($conn:expr, $q:expr, $method:ident) => {
        match $conn {
            $crate::Conn::Sqlite(c) => $q.$method(&mut **c).await,
            $crate::Conn::Postgres(c) => $q.$method(&mut **c).await,
        }
    };
}

/// Execute a statement and return the number of rows it changed.
#[macro_export]
#[doc(hidden)]
macro_rules! exec {
    ($conn:expr, $q:expr) => {
        match $conn {
            $crate::Conn::Sqlite(c) => $q.execute(&mut **c).await.map(|r| r.rows_affected()),
            $crate::Conn::Postgres(c) => $q.execute(&mut **c).await.map(|r| r.rows_affected()),
        }
    };
}

impl Db {
    /// Open (creating a SQLite file with mode 0600 if needed) and return the pool.
    /// Migrations are not run here; call [`Db::migrate`].
    pub async fn connect(target: &DbTarget) -> Result<Self, StoreError> {
        match target {
            DbTarget::SqliteFile(path) => {
                create_private_file(path)?;
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(false)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("secure_delete", "on")
                    // Checkpoints run in the background (see `Writer::committed`); SQLite's
                    // own, which runs inside a writer's commit, is only a safety net.
                    .pragma("wal_autocheckpoint", "50000")
                    // A grouped commit with photos dirties thousands of pages: kept in memory
                    // instead of spilling to the WAL before the commit; savepoints' journals
                    // too.
                    .pragma("cache_size", "-16384")
                    .pragma("temp_store", "memory");
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Self::Sqlite(
                    pool,
                    Arc::default(),
                    Arc::default(),
                    Arc::new(DocumentFiles::beside(path)),
                ))
            }
            DbTarget::Postgres(url) => {
                let options =
                    PgConnectOptions::from_str(url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Self::Postgres(pool))
            }
        }
    }

    /// Where document bodies are kept apart from the database (SQLite); `None`: in it.
    pub fn document_files(&self) -> Option<&Arc<DocumentFiles>> {
        match self {
            Self::Sqlite(.., files) => Some(files),
            Self::Postgres(_) => None,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(..) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// A consistent copy of a SQLite database in a new file (`VACUUM INTO`: safe while
    /// Passage serves). PostgreSQL is copied with its own tools (`pg_dump`).
    pub async fn snapshot_sqlite(&self, into: &Path) -> Result<(), StoreError> {
        let Self::Sqlite(pool, ..) = self else {
            return Err(StoreError::Unavailable(
                "a snapshot file is for SQLite; use pg_dump".into(),
            ));
        };
        let path = into
            .to_str()
            .ok_or_else(|| StoreError::File(format!("{} is not a UTF-8 path", into.display())))?;
        sqlx::query("vacuum into $1").bind(path).execute(pool).await?;
        Ok(())
    }

    /// `PRAGMA integrity_check` of a SQLite file, and whether it holds Passage's tables: a
    /// restored file is checked before it replaces anything.
    pub async fn check_sqlite_file(path: &Path) -> Result<(), StoreError> {
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (verdict,): (String,) = sqlx::query_as("pragma integrity_check")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if verdict != "ok" {
            return Err(StoreError::Corrupt(format!("integrity check: {verdict}")));
        }
        let (tables,): (i64,) =
            sqlx::query_as("select count(*) from sqlite_master where type = 'table' and name in ('_sqlx_migrations', 'audit_events')")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if tables != 2 {
            return Err(StoreError::Corrupt("not a Passage database".into()));
        }
        Ok(())
    }

    /// Apply pending migrations (each in its own transaction).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p, ..) => SQLITE_MIGRATIONS.run(p).await?,
            Self::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// (applied, known) migration counts, for `check-config` and `/readyz`.
    pub async fn migration_status(&self) -> Result<(i64, usize), StoreError> {
        const APPLIED: &str = "select count(*) from _sqlx_migrations where success";
        let known = match self {
            Self::Sqlite(..) => SQLITE_MIGRATIONS.iter().count(),
            Self::Postgres(_) => POSTGRES_MIGRATIONS.iter().count(),
        };
        let applied = match self {
            Self::Sqlite(p, ..) => sqlx::query_scalar::<_, i64>(APPLIED).fetch_one(p).await,
            Self::Postgres(p) => sqlx::query_scalar::<_, i64>(APPLIED).fetch_one(p).await,
        };
        match applied {
            Ok(n) => Ok((n, known)),
            // No migrations table yet: nothing applied.
            Err(sqlx::Error::Database(_)) => Ok((0, known)),
            Err(e) => Err(e.into()),
        }
    }

    /// The (version, description) lists of both migration folders (they must be equal).
    pub fn migration_versions() -> [Vec<(i64, String)>; 2] {
        let list = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        [list(&SQLITE_MIGRATIONS), list(&POSTGRES_MIGRATIONS)]
    }

    pub async fn acquire(&self) -> Result<Pooled, StoreError> {
        Ok(match self {
            Self::Sqlite(p, ..) => Pooled::Sqlite(p.acquire().await?),
            Self::Postgres(p) => Pooled::Postgres(p.acquire().await?),
        })
    }

    /// Begin a write transaction. SQLite takes the write lock at once (BEGIN IMMEDIATE) so
    /// two writers queue instead of failing on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Self::Sqlite(p, writer, ..) => {
                let guard = writer.lock_owned().await;
                Tx::Sqlite(
                    p.begin_with("BEGIN IMMEDIATE").await?,
                    guard,
                    writer.clone(),
                    p.clone(),
                )
            }
            Self::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A write that may share its transaction with others arriving at the same time (SQLite:
    /// see [`Group`]; PostgreSQL, whose writers do not queue, runs it in its own). `Ok` means
    /// it was committed or, if it reported failure, undone; `Err`, that nothing of it stays.
    pub async fn write_grouped(&self, write: Write) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p, writer, group, _) => group.write(p, writer, write).await,
            Self::Postgres(p) => {
                let mut tx = p.begin().await?;
                match crate::group::run(write, &mut Conn::Postgres(&mut tx)).await {
                    Some(true) => tx.commit().await?,
                    Some(false) => tx.rollback().await?,
                    None => {
                        tx.rollback().await?;
                        return Err(crate::group::panic_error());
                    }
                }
                Ok(())
            }
        }
    }

    /// Refresh the query planner's statistics after a bulk load such as a large demo (and, on
    /// PostgreSQL, the visibility map, so that blind-index lookups read the index only —
    /// autovacuum does the same on its own schedule).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p, ..) => sqlx::query("analyze").execute(p).await.map(|_| ())?,
            Self::Postgres(p) => sqlx::query("vacuum analyze").execute(p).await.map(|_| ())?,
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(p, ..) => sqlx::query("select 1").execute(p).await.map(|_| ())?,
            Self::Postgres(p) => sqlx::query("select 1").execute(p).await.map(|_| ())?,
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(p, ..) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }
}

/// Create the SQLite file readable by its owner only, before SQLite opens it; an existing file
/// with wider permissions is tightened.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StoreError::File(format!("{}: {e}", path.display())))?;
    let mode = file
        .metadata()
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::File(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
