//! Workflows: each programme's stages and allowed moves (data), and each case's history.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stage {
    pub code: String,
    pub label: String,
    pub position: i32,
    pub closed: bool,
}

pub async fn stages(conn: &mut Conn<'_>, programme: &str) -> Result<Vec<Stage>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, Stage>(
            "select code, label, position, closed from stages where programme = $1 order by position"
        )
        .bind(programme),
        fetch_all
    )?)
}

/// Moves allowed from `from`: (to stage, needs approval).
pub async fn moves(
    conn: &mut Conn<'_>,
    programme: &str,
    from: &str,
) -> Result<Vec<(String, bool)>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (String, bool)>(
            "select t.to_stage, t.needs_approval from transitions t \
             join stages s on s.programme = t.programme and s.code = t.to_stage \
             where t.programme = $1 and t.from_stage = $2 order by s.position"
        )
        .bind(programme)
        .bind(from),
        fetch_all
    )?)
}

/// Move a case if it is still at `from` and at `revision`; [`StoreError::Conflict`] if
/// someone else changed it meanwhile (nothing is overwritten).
pub async fn move_case(
    conn: &mut Conn<'_>,
    case: Uuid,
    from: &str,
    to: &str,
    revision: i64,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update cases set stage = $1, updated_at = $2, revision = revision + 1, \
             closed = (select closed from stages where programme = cases.programme and code = $1) \
             where id = $3 and stage = $4 and revision = $5"
        )
        .bind(to)
        .bind(at.micros())
        .bind(case)
        .bind(from)
        .bind(revision)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub actor: Option<UserId>,
    pub from_stage: String,
    pub to_stage: String,
    pub reason: Option<String>,
}

pub async fn add_history(conn: &mut Conn<'_>, case: Uuid, e: &HistoryEntry) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into case_history (case_id, at, actor, from_stage, to_stage, reason) values ($1, $2, $3, $4, $5, $6)"
        )
        .bind(case)
        .bind(e.at.micros())
        .bind(e.actor.map(|a| a.as_uuid()))
        .bind(&e.from_stage)
        .bind(&e.to_stage)
        .bind(&e.reason)
    )?;
    Ok(())
}

pub async fn history(conn: &mut Conn<'_>, case: Uuid) -> Result<Vec<HistoryEntry>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        at: i64,
        actor: Option<Uuid>,
        from_stage: String,
        to_stage: String,
        reason: Option<String>,
    }
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select at, actor, from_stage, to_stage, reason from case_history where case_id = $1 order by at, id"
        )
        .bind(case),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|r| HistoryEntry {
            at: Timestamp::from_micros(r.at),
            actor: r.actor.map(UserId::from_uuid),
            from_stage: r.from_stage,
            to_stage: r.to_stage,
            reason: r.reason,
        })
        .collect())
}
