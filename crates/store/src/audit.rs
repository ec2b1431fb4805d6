//! The audit trail: append-only rows, each chained to the one before by a SHA-256 link.
//! Appending happens inside the caller's transaction, so an action and its audit event are
//! committed together or not at all.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::audit::{ChainedEvent, details_json};
use passage_domain::{AuditEvent, OrgId, Timestamp, UserId};
use uuid::Uuid;

/// Append `event` to the chain; returns its sequence number.
pub async fn append(conn: &mut Conn<'_>, event: &AuditEvent) -> Result<i64, StoreError> {
    append_all(conn, std::slice::from_ref(event)).await
}

/// Events per insert statement: 13 bound values each, well inside both databases' limits.
const EVENTS_PER_INSERT: usize = 500;

/// Append `events` to the chain in order; returns the last one's sequence number (0 for
/// none). The head moves once and the rows go in multi-row inserts, so a batch costs a few
/// statements whatever its size.
///
/// Bumping the single `audit_head` row first serialises concurrent appenders (a row lock on
/// PostgreSQL; SQLite write transactions are already serial), so the chain never forks.
pub async fn append_all(conn: &mut Conn<'_>, events: &[AuditEvent]) -> Result<i64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let count = events.len() as i64;
    let (last, mut prev_hash): (i64, Vec<u8>) = on_conn!(
        conn,
        sqlx::query_as::<_, (i64, Vec<u8>)>(
            "update audit_head set last_seq = last_seq + $1 where id = 1 returning last_seq, last_hash"
        )
        .bind(count),
        fetch_one
    )?;
    let mut chained = Vec::with_capacity(events.len());
    for (seq, event) in (last - count + 1..).zip(events) {
        let mut link = ChainedEvent {
            seq,
            at: event.at,
            actor: event.actor,
            org: event.org,
            action: event.action.as_str().to_owned(),
            target_type: event.target_type.map(str::to_owned),
            target_id: event.target_id.clone(),
            outcome: event.outcome.as_str().to_owned(),
            channel: event.channel.as_str().to_owned(),
            request_id: event.request_id.clone(),
            details: details_json(&event.details),
            prev_hash,
            hash: Vec::new(),
        };
        link.hash = passage_crypto::chain_hash(&link.prev_hash, &link.canonical_bytes()).to_vec();
        prev_hash = link.hash.clone();
        chained.push(link);
    }
    for part in chained.chunks(EVENTS_PER_INSERT) {
        let rows: Vec<String> = (0..part.len())
            .map(|r| {
                let marks: Vec<String> = (1..=13).map(|c| format!("${}", r * 13 + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        // Only placeholders are added to the text; the values are bound.
        let sql = format!(
            "insert into audit_events (seq, at, actor_user_id, org_id, action, target_type, target_id, \
             outcome, channel, request_id, details, prev_hash, hash) values {}",
            rows.join(", ")
        );
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        macro_rules! bind_events {
            ($q:expr) => {{
                let mut q = $q;
                for e in part {
                    q = q
                        .bind(e.seq)
                        .bind(e.at.micros())
                        .bind(e.actor.map(|a| a.as_uuid()))
                        .bind(e.org.map(|o| o.as_uuid()))
                        .bind(&e.action)
                        .bind(&e.target_type)
                        .bind(&e.target_id)
                        .bind(&e.outcome)
                        .bind(&e.channel)
                        .bind(&e.request_id)
                        .bind(&e.details)
                        .bind(&e.prev_hash)
                        .bind(&e.hash);
                }
                q
            }};
        }
        exec!(conn, bind_events!(sqlx::query(sql)))?;
    }
    exec!(
        conn,
        sqlx::query("update audit_head set last_hash = $1 where id = 1").bind(&prev_hash)
    )?;
    Ok(last)
}

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    actor_user_id: Option<Uuid>,
    org_id: Option<Uuid>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    channel: String,
    request_id: Option<String>,
    details: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl From<EventRow> for ChainedEvent {
    fn from(r: EventRow) -> Self {
        Self {
            seq: r.seq,
            at: Timestamp::from_micros(r.at),
            actor: r.actor_user_id.map(UserId::from_uuid),
            org: r.org_id.map(OrgId::from_uuid),
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            outcome: r.outcome,
            channel: r.channel,
            request_id: r.request_id,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

macro_rules! select_event {
    ($rest:literal) => {
        concat!(
            "select seq, at, actor_user_id, org_id, action, target_type, target_id, outcome, channel, \
             request_id, details, prev_hash, hash from audit_events",
            $rest
        )
    };
}

/// The head of the chain: (last sequence number, last hash).
pub async fn head(conn: &mut Conn<'_>) -> Result<(i64, Vec<u8>), StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (i64, Vec<u8>)>("select last_seq, last_hash from audit_head where id = 1"),
        fetch_one
    )?)
}

/// Events with `seq > after`, in order, at most `limit`: for verifying the whole chain in
/// batches without loading it into memory.
pub async fn batch_after(
    conn: &mut Conn<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<EventRow> = on_conn!(
        conn,
        sqlx::query_as::<_, EventRow>(select_event!(" where seq > $1 order by seq limit $2"))
            .bind(after)
            .bind(limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(ChainedEvent::from).collect())
}

/// What an auditor filters by. `org: None` means every organisation (the caller has checked
/// that the reader may see them all).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub org: Option<OrgId>,
    pub action_prefix: Option<String>,
    pub actor: Option<UserId>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Page backwards: only events older than this sequence number.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(conn: &mut Conn<'_>, f: &Filter) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<EventRow> = on_conn!(
        conn,
        sqlx::query_as::<_, EventRow>(select_event!(
            " where ($1 is null or org_id = $1) \
              and ($2 is null or action like $2) \
              and ($3 is null or actor_user_id = $3) \
              and ($4 is null or at >= $4) \
              and ($5 is null or at < $5) \
              and ($6 is null or seq < $6) \
              order by seq desc limit $7"
        ))
        .bind(f.org.map(|o| o.as_uuid()))
        .bind(
            f.action_prefix
                .as_ref()
                .map(|p| format!("{}%", p.replace(['%', '_'], "")))
        )
        .bind(f.actor.map(|a| a.as_uuid()))
        .bind(f.since.map(Timestamp::micros))
        .bind(f.until.map(Timestamp::micros))
        .bind(f.before_seq)
        .bind(f.limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(ChainedEvent::from).collect())
}

/// How many events since `since`, for one organisation or all.
pub async fn count_since(
    conn: &mut Conn<'_>,
    org: Option<OrgId>,
    since: Timestamp,
) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>(
            "select count(*) from audit_events where ($1 is null or org_id = $1) and at >= $2"
        )
        .bind(org.map(|o| o.as_uuid()))
        .bind(since.micros()),
        fetch_one
    )?)
}

/// Events about one target (e.g. `case`, its id), newest first.
pub async fn for_target(
    conn: &mut Conn<'_>,
    target_type: &str,
    target_id: &str,
    limit: i64,
) -> Result<Vec<ChainedEvent>, StoreError> {
    let rows: Vec<EventRow> = on_conn!(
        conn,
        sqlx::query_as::<_, EventRow>(select_event!(
            " where target_type = $1 and target_id = $2 order by seq desc limit $3"
        ))
        .bind(target_type)
        .bind(target_id)
        .bind(limit),
        fetch_all
    )?;
    Ok(rows.into_iter().map(ChainedEvent::from).collect())
}
