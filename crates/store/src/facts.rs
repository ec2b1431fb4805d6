//! What indicators are computed from: cases' reporting answers and coded facts, services,
//! referrals and screening hits. Read in pages by primary key so that a large installation is
//! never held in one result set, or for the cases that changed (`fact_changes`, filled by
//! triggers); nothing sealed is read.

use crate::{Conn, StoreError, on_conn};
use uuid::Uuid;

/// Rows per page.
pub const PAGE: i64 = 20_000;
/// How far back (seconds) PostgreSQL readers re-read changes: concurrent transactions commit
/// out of sequence order, so a change numbered below one already seen may appear later.
const PG_LOOKBACK_SECONDS: i64 = 30;

/// Rows of `$select` (a query naming its table without a where clause) whose `$column` is one
/// of the case ids `$ids`.
macro_rules! of_cases {
    ($conn:expr, $ty:ty, $select:expr, $column:literal, $ids:expr) => {
        match $conn {
            Conn::Sqlite(c) => {
                sqlx::query_as::<_, $ty>(concat!(
                    $select,
                    " where ",
                    $column,
                    " in (select unhex(value) from json_each($1))"
                ))
                .bind(hex_list($ids))
                .fetch_all(&mut **c)
                .await
            }
            Conn::Postgres(c) => {
                sqlx::query_as::<_, $ty>(concat!($select, " where ", $column, " = any($1)"))
                    .bind($ids)
                    .fetch_all(&mut **c)
                    .await
            }
        }
    };
}

/// Ids as a JSON array of hex strings, for SQLite's `json_each` (it has no array parameters).
fn hex_list(ids: &[Uuid]) -> String {
    let mut out = String::with_capacity(ids.len() * 35 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(id.simple().encode_lower(&mut Uuid::encode_buffer()));
        out.push('"');
    }
    out.push(']');
    out
}

/// The number of the latest change (0 when none): a load that reads this first and then the
/// records has everything up to it.
pub async fn latest_change(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>("select coalesce(max(seq), 0) from fact_changes"),
        fetch_one
    )?)
}

/// The changes after change `after` as (change number, case), in order. On PostgreSQL those of
/// the last [`PG_LOOKBACK_SECONDS`] come again, as said above: the reader skips the numbers it
/// has seen. Times are the database's clock, as the triggers write them.
pub async fn changed_since(conn: &mut Conn<'_>, after: i64) -> Result<Vec<(i64, Uuid)>, StoreError> {
    Ok(match conn {
        Conn::Sqlite(c) => {
            sqlx::query_as("select seq, case_id from fact_changes where seq > $1 order by seq")
                .bind(after)
                .fetch_all(&mut **c)
                .await
        }
        Conn::Postgres(c) => {
            sqlx::query_as(
                "select seq, case_id from fact_changes \
                 where seq > $1 or at >= extract(epoch from clock_timestamp())::bigint - $2 order by seq",
            )
            .bind(after)
            .bind(PG_LOOKBACK_SECONDS)
            .fetch_all(&mut **c)
            .await
        }
    }?)
}

/// Forget changes recorded over `age_seconds` ago (every process reloads in full well within
/// that time).
pub async fn prune_changes(conn: &mut Conn<'_>, age_seconds: i64) -> Result<u64, StoreError> {
    Ok(match conn {
        Conn::Sqlite(c) => sqlx::query("delete from fact_changes where at < unixepoch() - $1")
            .bind(age_seconds)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()),
        Conn::Postgres(c) => sqlx::query(
            "delete from fact_changes where at < extract(epoch from clock_timestamp())::bigint - $1",
        )
        .bind(age_seconds)
        .execute(&mut **c)
        .await
        .map(|r| r.rows_affected()),
    }?)
}

macro_rules! select_cases {
    () => {
        "select id, number, programme, owner_org, county, stage, closed, created_at, person_id, reporting from cases"
    };
}
macro_rules! select_services {
    () => {
        "select id, case_id, service_type, delivered_on, value, currency from case_services"
    };
}
macro_rules! select_referrals {
    () => {
        "select id, case_id, status, service_type, requested_at, completed_at from referrals"
    };
}
macro_rules! select_hits {
    () => {
        "select h.id, h.case_id, h.status, w.name as list, h.score, h.created_at \
         from screening_hits h join watchlists w on w.id = h.watchlist_id"
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseFact {
    pub id: Uuid,
    pub number: String,
    pub programme: String,
    pub owner_org: Uuid,
    pub county: Option<String>,
    pub stage: String,
    pub closed: bool,
    pub created_at: i64,
    pub person_id: Option<Uuid>,
    pub reporting: String,
}

/// The next page of cases after `after` (by id).
pub async fn cases(conn: &mut Conn<'_>, after: Option<Uuid>) -> Result<Vec<CaseFact>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, CaseFact>(concat!(
            select_cases!(),
            " where $1 is null or id > $1 order by id limit $2"
        ))
        .bind(after)
        .bind(PAGE),
        fetch_all
    )?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceFact {
    pub id: Uuid,
    pub case_id: Uuid,
    pub service_type: String,
    pub delivered_on: String,
    pub value: Option<String>,
    pub currency: Option<String>,
}

pub async fn services(conn: &mut Conn<'_>, after: Option<Uuid>) -> Result<Vec<ServiceFact>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, ServiceFact>(concat!(
            select_services!(),
            " where $1 is null or id > $1 order by id limit $2"
        ))
        .bind(after)
        .bind(PAGE),
        fetch_all
    )?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReferralFact {
    pub id: Uuid,
    pub case_id: Uuid,
    pub status: String,
    pub service_type: String,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
}

pub async fn referrals(conn: &mut Conn<'_>, after: Option<Uuid>) -> Result<Vec<ReferralFact>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, ReferralFact>(concat!(
            select_referrals!(),
            " where $1 is null or id > $1 order by id limit $2"
        ))
        .bind(after)
        .bind(PAGE),
        fetch_all
    )?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HitFact {
    pub id: Uuid,
    pub case_id: Uuid,
    pub status: String,
    pub list: String,
    pub score: f64,
    pub created_at: i64,
}

pub async fn hits(conn: &mut Conn<'_>, after: Option<Uuid>) -> Result<Vec<HitFact>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, HitFact>(concat!(
            select_hits!(),
            " where $1 is null or h.id > $1 order by h.id limit $2"
        ))
        .bind(after)
        .bind(PAGE),
        fetch_all
    )?)
}

/// The facts of some cases (those that still exist) and of their services, referrals and hits.
#[derive(Debug, Default)]
pub struct CasesFacts {
    pub cases: Vec<CaseFact>,
    pub services: Vec<ServiceFact>,
    pub referrals: Vec<ReferralFact>,
    pub hits: Vec<HitFact>,
}

pub async fn of_cases(conn: &mut Conn<'_>, ids: &[Uuid]) -> Result<CasesFacts, StoreError> {
    let mut out = CasesFacts::default();
    for ids in ids.chunks(PAGE as usize) {
        out.cases
            .extend(of_cases!(&mut *conn, CaseFact, select_cases!(), "id", ids)?);
        out.services.extend(of_cases!(
            &mut *conn,
            ServiceFact,
            select_services!(),
            "case_id",
            ids
        )?);
        out.referrals.extend(of_cases!(
            &mut *conn,
            ReferralFact,
            select_referrals!(),
            "case_id",
            ids
        )?);
        out.hits
            .extend(of_cases!(&mut *conn, HitFact, select_hits!(), "h.case_id", ids)?);
    }
    Ok(out)
}
