//! What indicators are computed from: cases' reporting answers and coded facts, services,
//! referrals and screening hits. Read in pages by primary key so that a large installation is
//! never held in one result set; nothing sealed is read.

use crate::{Conn, StoreError, on_conn};
use uuid::Uuid;

/// Rows per page.
pub const PAGE: i64 = 20_000;

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
        sqlx::query_as::<_, CaseFact>(
            "select id, number, programme, owner_org, county, stage, closed, created_at, person_id, reporting \
             from cases where $1 is null or id > $1 order by id limit $2"
        )
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
        sqlx::query_as::<_, ServiceFact>(
            "select id, case_id, service_type, delivered_on, value, currency from case_services \
             where $1 is null or id > $1 order by id limit $2"
        )
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
        sqlx::query_as::<_, ReferralFact>(
            "select id, case_id, status, service_type, requested_at, completed_at from referrals \
             where $1 is null or id > $1 order by id limit $2"
        )
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
        sqlx::query_as::<_, HitFact>(
            "select h.id, h.case_id, h.status, w.name as list, h.score, h.created_at \
             from screening_hits h join watchlists w on w.id = h.watchlist_id \
             where $1 is null or h.id > $1 order by h.id limit $2"
        )
        .bind(after)
        .bind(PAGE),
        fetch_all
    )?)
}
