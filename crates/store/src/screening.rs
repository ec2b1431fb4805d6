//! Watchlists (each a sealed CSV) and the screening hits of border crossings awaiting review.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWatchlist {
    pub id: Uuid,
    pub owner_org: OrgId,
    pub name: String,
    pub entries: i64,
    pub wrapped_key: Vec<u8>,
    /// The uploaded CSV, sealed.
    pub body: Vec<u8>,
    pub uploaded_by: Option<UserId>,
    pub uploaded_at: Timestamp,
}

type WatchlistRow = (Uuid, Uuid, String, i64, Vec<u8>, Vec<u8>, Option<Uuid>, i64);

fn watchlist(r: WatchlistRow) -> StoredWatchlist {
    StoredWatchlist {
        id: r.0,
        owner_org: OrgId::from_uuid(r.1),
        name: r.2,
        entries: r.3,
        wrapped_key: r.4,
        body: r.5,
        uploaded_by: r.6.map(UserId::from_uuid),
        uploaded_at: Timestamp::from_micros(r.7),
    }
}

/// The id of the organisation's list with this name, if there is one.
pub async fn watchlist_id(conn: &mut Conn<'_>, org: OrgId, name: &str) -> Result<Option<Uuid>, StoreError> {
    let row: Option<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>("select id from watchlists where owner_org = $1 and name = $2")
            .bind(org.as_uuid())
            .bind(name),
        fetch_optional
    )?;
    Ok(row.map(|(id,)| id))
}

/// Stores a new list, or with `replace` the new body of the list with this id (its hits stay).
pub async fn put_watchlist(
    conn: &mut Conn<'_>,
    w: &StoredWatchlist,
    replace: bool,
) -> Result<(), StoreError> {
    if replace {
        exec!(
            conn,
            sqlx::query(
                "update watchlists set entries = $1, wrapped_key = $2, body = $3, uploaded_by = $4, uploaded_at = $5 \
                 where id = $6"
            )
            .bind(w.entries)
            .bind(&w.wrapped_key)
            .bind(&w.body)
            .bind(w.uploaded_by.map(|u| u.as_uuid()))
            .bind(w.uploaded_at.micros())
            .bind(w.id)
        )?;
    } else {
        exec!(
            conn,
            sqlx::query(
                "insert into watchlists (id, owner_org, name, entries, wrapped_key, body, uploaded_by, uploaded_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8)"
            )
            .bind(w.id)
            .bind(w.owner_org.as_uuid())
            .bind(&w.name)
            .bind(w.entries)
            .bind(&w.wrapped_key)
            .bind(&w.body)
            .bind(w.uploaded_by.map(|u| u.as_uuid()))
            .bind(w.uploaded_at.micros())
        )?;
    }
    Ok(())
}

/// A list without its body: what pages show.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WatchlistInfo {
    pub id: Uuid,
    pub name: String,
    pub entries: i64,
    pub uploaded_at: i64,
}

/// The organisation's lists, by name (bodies are not read).
pub async fn watchlist_infos(conn: &mut Conn<'_>, org: OrgId) -> Result<Vec<WatchlistInfo>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, WatchlistInfo>(
            "select id, name, entries, uploaded_at from watchlists where owner_org = $1 order by name"
        )
        .bind(org.as_uuid()),
        fetch_all
    )?)
}

/// Every list of every organisation (to build the screening index at start).
pub async fn watchlists(conn: &mut Conn<'_>) -> Result<Vec<StoredWatchlist>, StoreError> {
    let rows: Vec<WatchlistRow> = on_conn!(
        conn,
        sqlx::query_as::<_, WatchlistRow>(
            "select id, owner_org, name, entries, wrapped_key, body, uploaded_by, uploaded_at from watchlists \
             order by owner_org, name"
        ),
        fetch_all
    )?;
    Ok(rows.into_iter().map(watchlist).collect())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: Uuid,
    pub case_id: Uuid,
    pub watchlist_id: Uuid,
    pub entry_ref: String,
    pub score: f64,
    pub explanation: String,
    pub status: String,
    pub created_at: Timestamp,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<Timestamp>,
}

pub async fn add_hit(conn: &mut Conn<'_>, h: &Hit) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into screening_hits (id, case_id, watchlist_id, entry_ref, score, explanation, status, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(h.id)
        .bind(h.case_id)
        .bind(h.watchlist_id)
        .bind(&h.entry_ref)
        .bind(h.score)
        .bind(&h.explanation)
        .bind(&h.status)
        .bind(h.created_at.micros())
    )?;
    Ok(())
}

type HitRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    f64,
    String,
    String,
    i64,
    Option<Uuid>,
    Option<i64>,
);

fn hit(r: HitRow) -> Hit {
    Hit {
        id: r.0,
        case_id: r.1,
        watchlist_id: r.2,
        entry_ref: r.3,
        score: r.4,
        explanation: r.5,
        status: r.6,
        created_at: Timestamp::from_micros(r.7),
        reviewed_by: r.8.map(UserId::from_uuid),
        reviewed_at: r.9.map(Timestamp::from_micros),
    }
}

#[derive(sqlx::FromRow)]
struct ListedHitRow {
    id: Uuid,
    case_id: Uuid,
    watchlist_id: Uuid,
    entry_ref: String,
    score: f64,
    explanation: String,
    status: String,
    created_at: i64,
    reviewed_by: Option<Uuid>,
    reviewed_at: Option<i64>,
    number: String,
    name: String,
}

/// Hits on the crossings of one organisation, newest first (only open ones if asked), each
/// with its crossing's case number and its list's name.
pub async fn hits(
    conn: &mut Conn<'_>,
    org: OrgId,
    open_only: bool,
) -> Result<Vec<(Hit, String, String)>, StoreError> {
    let rows: Vec<ListedHitRow> = on_conn!(
        conn,
        sqlx::query_as::<_, ListedHitRow>(
            "select h.id, h.case_id, h.watchlist_id, h.entry_ref, h.score, h.explanation, h.status, h.created_at, \
             h.reviewed_by, h.reviewed_at, c.number, w.name from screening_hits h join cases c on c.id = h.case_id \
             join watchlists w on w.id = h.watchlist_id \
             where c.owner_org = $1 and ($2 = false or h.status = 'open') order by h.created_at desc, h.score desc \
             limit 500"
        )
        .bind(org.as_uuid())
        .bind(open_only),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let h = hit((
                r.id,
                r.case_id,
                r.watchlist_id,
                r.entry_ref,
                r.score,
                r.explanation,
                r.status,
                r.created_at,
                r.reviewed_by,
                r.reviewed_at,
            ));
            (h, r.number, r.name)
        })
        .collect())
}

pub async fn get_hit(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Hit>, StoreError> {
    let row: Option<HitRow> = on_conn!(
        conn,
        sqlx::query_as::<_, HitRow>(
            "select id, case_id, watchlist_id, entry_ref, score, explanation, status, created_at, reviewed_by, \
             reviewed_at from screening_hits where id = $1"
        )
        .bind(id),
        fetch_optional
    )?;
    Ok(row.map(hit))
}

/// Records a decision on an open hit; a hit already decided answers a conflict.
pub async fn review_hit(
    conn: &mut Conn<'_>,
    id: Uuid,
    status: &str,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update screening_hits set status = $1, reviewed_by = $2, reviewed_at = $3 where id = $4 and status = 'open'"
        )
        .bind(status)
        .bind(by.map(|u| u.as_uuid()))
        .bind(at.micros())
        .bind(id)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}
