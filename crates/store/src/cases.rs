//! Cases as stored: plain reporting answers, sealed identifying and sensitive answers, and
//! the wrapped data key. This module never sees a decrypted value.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCase {
    pub id: Uuid,
    pub number: String,
    pub programme: String,
    pub owner_org: OrgId,
    pub form_version: Uuid,
    pub stage: String,
    pub wrapped_key: Option<Vec<u8>>,
    /// JSON of the reporting answers.
    pub reporting: String,
    pub identifying: Option<Vec<u8>>,
    pub sensitive: Option<Vec<u8>>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub revision: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: String,
    programme: String,
    owner_org: Uuid,
    form_version: Uuid,
    stage: String,
    wrapped_key: Option<Vec<u8>>,
    reporting: String,
    identifying: Option<Vec<u8>>,
    sensitive: Option<Vec<u8>>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

impl From<Row> for StoredCase {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            number: r.number,
            programme: r.programme,
            owner_org: OrgId::from_uuid(r.owner_org),
            form_version: r.form_version,
            stage: r.stage,
            wrapped_key: r.wrapped_key,
            reporting: r.reporting,
            identifying: r.identifying,
            sensitive: r.sensitive,
            created_by: r.created_by.map(UserId::from_uuid),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            revision: r.revision,
        }
    }
}

macro_rules! select_case {
    ($rest:literal) => {
        concat!(
            "select id, number, programme, owner_org, form_version, stage, wrapped_key, reporting, identifying, \
             sensitive, created_by, created_at, updated_at, revision from cases",
            $rest
        )
    };
}

/// The next case number of a programme in a year (1, 2, …), inside the caller's transaction.
pub async fn next_number(conn: &mut Conn<'_>, programme: &str, year: i32) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>(
            "insert into case_numbers (programme, year, last) values ($1, $2, 1) \
             on conflict (programme, year) do update set last = case_numbers.last + 1 returning last"
        )
        .bind(programme)
        .bind(year),
        fetch_one
    )?)
}

pub async fn insert(conn: &mut Conn<'_>, c: &StoredCase) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into cases (id, number, programme, owner_org, form_version, stage, wrapped_key, reporting, \
             identifying, sensitive, created_by, created_at, updated_at, revision) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
        .bind(c.id)
        .bind(&c.number)
        .bind(&c.programme)
        .bind(c.owner_org.as_uuid())
        .bind(c.form_version)
        .bind(&c.stage)
        .bind(&c.wrapped_key)
        .bind(&c.reporting)
        .bind(&c.identifying)
        .bind(&c.sensitive)
        .bind(c.created_by.map(|u| u.as_uuid()))
        .bind(c.created_at.micros())
        .bind(c.updated_at.micros())
        .bind(c.revision)
    )?;
    Ok(())
}

pub async fn insert_index(
    conn: &mut Conn<'_>,
    case: Uuid,
    field: &str,
    hash: &[u8],
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("insert into case_index (case_id, field, hash) values ($1, $2, $3)")
            .bind(case)
            .bind(field)
            .bind(hash)
    )?;
    Ok(())
}

pub async fn get(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<StoredCase>, StoreError> {
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(" where id = $1")).bind(id),
        fetch_optional
    )?;
    Ok(row.map(StoredCase::from))
}

/// Cases of one organisation (optionally one programme), newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: OrgId,
    programme: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredCase>, StoreError> {
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(select_case!(
            " where owner_org = $1 and ($2 is null or programme = $2) order by created_at desc limit $3"
        ))
        .bind(org.as_uuid())
        .bind(programme)
        .bind(limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(StoredCase::from).collect())
}

/// Cases whose identifying `field` has this blind-index hash.
pub async fn find_by_index(conn: &mut Conn<'_>, field: &str, hash: &[u8]) -> Result<Vec<Uuid>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, Uuid>("select case_id from case_index where field = $1 and hash = $2")
            .bind(field)
            .bind(hash),
        fetch_all
    )?)
}
