//! Break-glass grants: one person's reasoned, expiring access to the identity of one
//! need-to-know case.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Uuid,
    pub case_id: Uuid,
    pub org_id: OrgId,
    pub user_id: UserId,
    /// Sealed under the case's data key.
    pub reason: Vec<u8>,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_by: Option<UserId>,
    pub reviewed_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    case_id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    reason: Vec<u8>,
    granted_at: i64,
    expires_at: i64,
    reviewed_by: Option<Uuid>,
    reviewed_at: Option<i64>,
}

impl From<Row> for Grant {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            case_id: r.case_id,
            org_id: OrgId::from_uuid(r.org_id),
            user_id: UserId::from_uuid(r.user_id),
            reason: r.reason,
            granted_at: Timestamp::from_micros(r.granted_at),
            expires_at: Timestamp::from_micros(r.expires_at),
            reviewed_by: r.reviewed_by.map(UserId::from_uuid),
            reviewed_at: r.reviewed_at.map(Timestamp::from_micros),
        }
    }
}

const SELECT: &str = "select id, case_id, org_id, user_id, reason, granted_at, expires_at, reviewed_by, reviewed_at from break_glass";

pub async fn insert(conn: &mut Conn<'_>, g: &Grant) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into break_glass (id, case_id, org_id, user_id, reason, granted_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(g.id)
        .bind(g.case_id)
        .bind(g.org_id.as_uuid())
        .bind(g.user_id.as_uuid())
        .bind(&g.reason)
        .bind(g.granted_at.micros())
        .bind(g.expires_at.micros())
    )?;
    Ok(())
}

/// The cases whose identity `user` holds an unexpired grant for at `now`.
pub async fn open_cases(conn: &mut Conn<'_>, user: UserId, now: Timestamp) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>(
            "select case_id from break_glass where user_id = $1 and expires_at > $2"
        )
        .bind(user.as_uuid())
        .bind(now.micros()),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

/// `user`'s latest grant for `case`, expired or not.
pub async fn latest(conn: &mut Conn<'_>, user: UserId, case: Uuid) -> Result<Option<Grant>, StoreError> {
    let sql = format!("{SELECT} where user_id = $1 and case_id = $2 order by granted_at desc limit 1");
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
            .bind(user.as_uuid())
            .bind(case),
        fetch_optional
    )?;
    Ok(row.map(Grant::from))
}

/// Grants in the organisations given (all when `None`), newest first.
pub async fn list(conn: &mut Conn<'_>, orgs: Option<&[OrgId]>, limit: i64) -> Result<Vec<Grant>, StoreError> {
    let rows: Vec<Row> = match orgs {
        None => {
            let sql = format!("{SELECT} order by granted_at desc limit $1");
            on_conn!(
                conn,
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(limit),
                fetch_all
            )?
        }
        Some(orgs) => {
            let mut out = Vec::new();
            for org in orgs {
                let sql = format!("{SELECT} where org_id = $1 order by granted_at desc limit $2");
                let rows: Vec<Row> = on_conn!(
                    conn,
                    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
                        .bind(org.as_uuid())
                        .bind(limit),
                    fetch_all
                )?;
                out.extend(rows);
            }
            out.sort_by_key(|r| std::cmp::Reverse(r.granted_at));
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            out
        }
    };
    Ok(rows.into_iter().map(Grant::from).collect())
}

pub async fn get(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Grant>, StoreError> {
    let sql = format!("{SELECT} where id = $1");
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(id),
        fetch_optional
    )?;
    Ok(row.map(Grant::from))
}

/// Mark a grant reviewed; false if it was already.
pub async fn mark_reviewed(
    conn: &mut Conn<'_>,
    id: Uuid,
    by: UserId,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "update break_glass set reviewed_by = $2, reviewed_at = $3 where id = $1 and reviewed_at is null"
        )
        .bind(id)
        .bind(by.as_uuid())
        .bind(at.micros())
    )?;
    Ok(n == 1)
}

/// Grants not yet reviewed, in the organisations given (all when `None`).
pub async fn unreviewed_count(conn: &mut Conn<'_>, orgs: Option<&[OrgId]>) -> Result<i64, StoreError> {
    match orgs {
        None => {
            let (n,): (i64,) = on_conn!(
                conn,
                sqlx::query_as::<_, (i64,)>("select count(*) from break_glass where reviewed_at is null"),
                fetch_one
            )?;
            Ok(n)
        }
        Some(orgs) => {
            let mut total = 0;
            for org in orgs {
                let (n,): (i64,) = on_conn!(
                    conn,
                    sqlx::query_as::<_, (i64,)>(
                        "select count(*) from break_glass where reviewed_at is null and org_id = $1"
                    )
                    .bind(org.as_uuid()),
                    fetch_one
                )?;
                total += n;
            }
            Ok(total)
        }
    }
}
