//! Each test gets its own database: a SQLite file in a temporary directory, or — when
//! `PASSAGE_TEST_DATABASE_URL` names a PostgreSQL server — a freshly created database on it,
//! dropped again when the test ends.

use crate::{Db, DbTarget, StoreError};
use std::path::PathBuf;

pub const ENV: &str = "PASSAGE_TEST_DATABASE_URL";

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
