//! Each test gets its own database: a SQLite file in a temporary directory, or — when
//! `PASSAGE_TEST_DATABASE_URL` names a PostgreSQL server — a freshly created database on it,
//! dropped again when the test ends.

use crate::{Db, DbTarget, StoreError};
use std::path::PathBuf;

pub const ENV: &str = "PASSAGE_TEST_DATABASE_URL";
pub const LOG_ENV: &str = "PASSAGE_TEST_LOG";

/// With `PASSAGE_TEST_LOG` set, the code under test logs at debug level straight to stderr
/// (past the test harness's capture), so that CI can search a whole test run's log for
/// personal values (`.ci/check-test-log.py`).
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os(LOG_ENV).is_none() {
        return;
    }
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::new(
            "debug,sqlx=warn,hyper=warn,hyper_util=warn,h2=warn,rustls=warn,reqwest=warn",
        );
        // Another subscriber set first (none today) would simply keep its place.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    });
}

#[derive(Debug)]
pub struct TestDb {
    pub db: Db,
    pub target: DbTarget,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A migrated, empty database.
    pub async fn new() -> Result<Self, StoreError> {
        init_logging();
        let (target, cleanup) = match std::env::var(ENV).ok().filter(|u| !u.is_empty()) {
            Some(admin_url) => {
                let name = format!("passage_test_{}", uuid::Uuid::new_v4().simple());
                let admin =
                    Db::connect(&DbTarget::parse(&admin_url).map_err(StoreError::Unavailable)?).await?;
                if let Db::Postgres(pool) = &admin {
                    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                        .execute(pool)
                        .await?;
                }
                admin.close().await;
                let url = replace_database(&admin_url, &name);
                (DbTarget::Postgres(url), Cleanup::Postgres { admin_url, name })
            }
            None => {
                let dir =
                    std::env::temp_dir().join(format!("passage-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::File(e.to_string()))?;
                (
                    DbTarget::SqliteFile(dir.join("passage.sqlite3")),
                    Cleanup::Dir(dir),
                )
            }
        };
        let db = Db::connect(&target).await?;
        db.migrate().await?;
        Ok(Self { db, target, cleanup })
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime, which is blocked while we wait: clean up on
                // a thread with its own runtime, and let FORCE end this test's open connections.
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(DbTarget::Postgres(url)) = DbTarget::parse(&admin_url)
                            && let Ok(Db::Postgres(pool)) = Db::connect(&DbTarget::Postgres(url)).await
                        {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "drop database if exists {name} with (force)"
                            )))
                            .execute(&pool)
                            .await;
                            pool.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_database("postgres://u@127.0.0.1:5432/postgres?sslmode=disable", "x"),
            "postgres://u@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://127.0.0.1", "x"),
            "postgres://127.0.0.1/x"
        );
    }
}

/// A phone's authenticator app, for tests that sign in as users who need a second factor:
/// it keeps each user's secret and never shows the same time step's code twice (Passage
/// refuses a replayed code), waiting for the next step when a test signs in very often.
#[derive(Debug, Default)]
pub struct Authenticator {
    apps: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, i64)>>,
}

#[allow(clippy::expect_used, clippy::panic)] // a test helper fails loudly
impl Authenticator {
    /// Add the secret a set-up page showed.
    pub fn add(&self, username: &str, displayed_secret: &str) {
        let secret = passage_crypto::totp::parse_secret(displayed_secret).expect("a base32 secret");
        self.apps
            .lock()
            .expect("authenticator")
            .insert(username.to_owned(), (secret, 0));
    }

    /// The next code for `username` that Passage has not seen, at the Unix time `now` gives
    /// (the service's clock, which a test may drive by hand).
    pub async fn code(&self, username: &str, now: impl Fn() -> i64) -> String {
        use passage_crypto::totp;
        for _ in 0..3 {
            let at = now();
            let current = totp::step_at(at);
            let wait = {
                let mut apps = self.apps.lock().expect("authenticator");
                let (secret, last) = apps.get_mut(username).expect("an enrolled user");
                let step = (*last + 1).max(current);
                if step <= current + 1 {
                    *last = step;
                    return format!("{:06}", totp::code(secret, step));
                }
                // Passage accepts one step ahead: wait until `step` is that.
                (step - 1) * totp::STEP_SECS - at
            };
            tokio::time::sleep(std::time::Duration::from_secs(wait.max(1) as u64)).await;
        }
        panic!("every code of {username}'s current time steps was used and the clock does not move");
    }
}
