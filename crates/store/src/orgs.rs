//! Organisations.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, OrgKind, OrgName, Timestamp};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub name: OrgName,
    pub kind: OrgKind,
    pub is_host: bool,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    name: String,
    kind: String,
    is_host: bool,
    created_at: i64,
}

impl TryFrom<OrgRow> for Organisation {
    type Error = StoreError;
    fn try_from(r: OrgRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: OrgId::from_uuid(r.id),
            name: OrgName::parse(&r.name).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kind: OrgKind::parse(&r.kind).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            is_host: r.is_host,
            created_at: Timestamp::from_micros(r.created_at),
        })
    }
}

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "select id, name, kind, is_host, created_at from organisations",
            $rest
        )
    };
}

/// Insert; [`StoreError::Conflict`] if the name (ignoring case and spacing) is taken, or a
/// second host organisation is attempted.
pub async fn insert(conn: &mut Conn<'_>, org: &Organisation) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into organisations (id, name, name_key, kind, is_host, created_at) \
             values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(org.id.as_uuid())
        .bind(org.name.as_str())
        .bind(org.name.key())
        .bind(org.kind.as_str())
        .bind(org.is_host)
        .bind(org.created_at.micros())
    )?;
    Ok(())
}

pub async fn get(conn: &mut Conn<'_>, id: OrgId) -> Result<Option<Organisation>, StoreError> {
    let row: Option<OrgRow> = on_conn!(
        conn,
        sqlx::query_as::<_, OrgRow>(select!(" where id = $1")).bind(id.as_uuid()),
        fetch_optional
    )?;
    row.map(Organisation::try_from).transpose()
}

pub async fn by_name(conn: &mut Conn<'_>, name: &OrgName) -> Result<Option<Organisation>, StoreError> {
    let row: Option<OrgRow> = on_conn!(
        conn,
        sqlx::query_as::<_, OrgRow>(select!(" where name_key = $1")).bind(name.key()),
        fetch_optional
    )?;
    row.map(Organisation::try_from).transpose()
}

/// All organisations, host first, then by name.
pub async fn list(conn: &mut Conn<'_>) -> Result<Vec<Organisation>, StoreError> {
    let rows: Vec<OrgRow> = on_conn!(
        conn,
        sqlx::query_as::<_, OrgRow>(select!(" order by is_host desc, name_key")),
        fetch_all
    )?;
    rows.into_iter().map(Organisation::try_from).collect()
}

pub async fn host(conn: &mut Conn<'_>) -> Result<Option<OrgId>, StoreError> {
    let id: Option<Uuid> = on_conn!(
        conn,
        sqlx::query_scalar::<_, Uuid>("select id from organisations where is_host"),
        fetch_optional
    )?;
    Ok(id.map(OrgId::from_uuid))
}
