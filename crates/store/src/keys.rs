//! Key material: installation keys wrapped by the master key, and the wrapped data keys of
//! every record, for rotating the master key without touching the data they seal.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::Timestamp;
use uuid::Uuid;

/// Every table whose rows carry a data key wrapped by the master key (column `wrapped_key`,
/// bound to the row's `id`). A test checks the schema holds no others.
pub const WRAPPED_KEY_TABLES: [&str; 7] = [
    "persons",
    "cases",
    "referrals",
    "watchlists",
    "devices",
    "submissions",
    "second_factors",
];

/// A stored installation key: the fingerprint of the master key that wraps it, and the
/// wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyMaterial {
    pub master_fingerprint: String,
    pub wrapped: Vec<u8>,
}

pub async fn key_material(conn: &mut Conn<'_>, name: &str) -> Result<Option<KeyMaterial>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, KeyMaterial>(
            "select master_fingerprint, wrapped from key_material where name = $1"
        )
        .bind(name),
        fetch_optional
    )?)
}

/// Store a new installation key; [`StoreError::Conflict`] if another process stored one first.
pub async fn insert_key_material(
    conn: &mut Conn<'_>,
    name: &str,
    key: &KeyMaterial,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into key_material (name, master_fingerprint, wrapped, created_at) values ($1, $2, $3, $4)"
        )
        .bind(name)
        .bind(&key.master_fingerprint)
        .bind(&key.wrapped)
        .bind(now.micros())
    )?;
    Ok(())
}

pub async fn replace_key_material(
    conn: &mut Conn<'_>,
    name: &str,
    key: &KeyMaterial,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "update key_material set master_fingerprint = $2, wrapped = $3, rotated_at = $4 where name = $1"
        )
        .bind(name)
        .bind(&key.master_fingerprint)
        .bind(&key.wrapped)
        .bind(now.micros())
    )?;
    Ok(())
}

/// Whether the database holds anything sealed (so a missing master key must not be replaced
/// by a new one).
pub async fn holds_sealed_data(conn: &mut Conn<'_>) -> Result<bool, StoreError> {
    let mut checks = vec!["select exists (select 1 from key_material)".to_owned()];
    checks.extend(
        WRAPPED_KEY_TABLES
            .iter()
            .map(|t| format!("select exists (select 1 from {t})")),
    );
    for sql in checks {
        let (any,): (bool,) = on_conn!(
            conn,
            sqlx::query_as::<_, (bool,)>(sqlx::AssertSqlSafe(sql)),
            fetch_one
        )?;
        if any {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Up to `limit` (id, wrapped key) rows of `table` after `after`, in id order: rotation walks
/// a table in batches so that memory stays flat on a million records.
pub async fn wrapped_keys(
    conn: &mut Conn<'_>,
    table: &str,
    after: Uuid,
    limit: i64,
) -> Result<Vec<(Uuid, Vec<u8>)>, StoreError> {
    let table = known_table(table)?;
    let sql = format!(
        "select id, wrapped_key from {table} where wrapped_key is not null and id > $1 order by id limit $2"
    );
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid, Vec<u8>)>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit),
        fetch_all
    )?)
}

pub async fn set_wrapped_key(
    conn: &mut Conn<'_>,
    table: &str,
    id: Uuid,
    wrapped: &[u8],
) -> Result<(), StoreError> {
    let table = known_table(table)?;
    let sql = format!("update {table} set wrapped_key = $2 where id = $1");
    exec!(conn, sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(wrapped))?;
    Ok(())
}

/// Table names are formatted into SQL: only the known ones pass.
fn known_table(table: &str) -> Result<&'static str, StoreError> {
    WRAPPED_KEY_TABLES
        .iter()
        .find(|t| **t == table)
        .copied()
        .ok_or(StoreError::NotFound)
}
