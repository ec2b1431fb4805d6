//! Retention schedules and crypto-shredding: a closed case past its programme's schedule loses
//! its data key and every sealed part; its reporting answers stay for the indicators.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::Timestamp;
use uuid::Uuid;

/// Each programme's schedule: (code, name, years after closure; none = kept).
pub async fn schedules(conn: &mut Conn<'_>) -> Result<Vec<(String, String, Option<i64>)>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (String, String, Option<i64>)>(
            "select code, name, cast(retention_years as bigint) from programmes order by position"
        ),
        fetch_all
    )?)
}

pub async fn set_schedule(
    conn: &mut Conn<'_>,
    programme: &str,
    years: Option<i64>,
) -> Result<(), StoreError> {
    let n = exec!(
        conn,
        sqlx::query("update programmes set retention_years = $2 where code = $1")
            .bind(programme)
            .bind(years)
    )?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Closed, not yet shredded cases of `programme` closed before `cutoff` (the closing move's
/// time, or the last change for cases closed without one), with their person: at most `limit`.
pub async fn expired(
    conn: &mut Conn<'_>,
    programme: &str,
    cutoff: Timestamp,
    limit: i64,
) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid, Option<Uuid>)>(
            "select c.id, c.person_id from cases c where c.programme = $1 and c.closed and c.shredded_at is null \
             and coalesce((select max(h.at) from case_history h where h.case_id = c.id), c.updated_at) < $2 \
             order by c.id limit $3"
        )
        .bind(programme)
        .bind(cutoff.micros())
        .bind(limit),
        fetch_all
    )?)
}

/// Destroy a case's data key and remove what it sealed: identifying and sensitive answers, its
/// blind index, earlier versions, notes, documents and submission files; break-glass reasons
/// under its key become empty. Returns where its packed document bodies were, to release
/// once this commits.
pub async fn shred_case(
    conn: &mut Conn<'_>,
    case: Uuid,
    at: Timestamp,
) -> Result<Vec<crate::BodyAt>, StoreError> {
    let packed = crate::activity::packed_bodies_of(conn, case).await?;
    exec!(
        conn,
        sqlx::query(
            "update cases set wrapped_key = null, identifying = null, sensitive = null, shredded_at = $2 where id = $1"
        )
        .bind(case)
        .bind(at.micros())
    )?;
    for sql in [
        "delete from case_index where case_id = $1",
        "delete from case_versions where case_id = $1",
        "delete from case_notes where case_id = $1",
        "delete from case_documents where case_id = $1",
        "delete from submission_files where submission_id in (select id from submissions where case_id = $1)",
    ] {
        exec!(conn, sqlx::query(sql).bind(case))?;
    }
    exec!(
        conn,
        sqlx::query("update break_glass set reason = $2 where case_id = $1")
            .bind(case)
            .bind(Vec::<u8>::new())
    )?;
    Ok(packed)
}

/// The referrals and submissions of a case, whose sealed parts get a new, empty seal.
pub async fn sealed_children(conn: &mut Conn<'_>, case: Uuid) -> Result<(Vec<Uuid>, Vec<Uuid>), StoreError> {
    let referrals: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>("select id from referrals where case_id = $1").bind(case),
        fetch_all
    )?;
    let submissions: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>("select id from submissions where case_id = $1").bind(case),
        fetch_all
    )?;
    Ok((
        referrals.into_iter().map(|(r,)| r).collect(),
        submissions.into_iter().map(|(s,)| s).collect(),
    ))
}

pub async fn reseal_referral(
    conn: &mut Conn<'_>,
    id: Uuid,
    wrapped: &[u8],
    shared: &[u8],
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update referrals set wrapped_key = $2, shared = $3 where id = $1")
            .bind(id)
            .bind(wrapped)
            .bind(shared)
    )?;
    Ok(())
}

pub async fn reseal_submission(
    conn: &mut Conn<'_>,
    id: Uuid,
    wrapped: &[u8],
    xml: &[u8],
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update submissions set wrapped_key = $2, xml = $3 where id = $1")
            .bind(id)
            .bind(wrapped)
            .bind(xml)
    )?;
    Ok(())
}

/// Whether every case of the person is shredded (then the person is, too).
pub async fn person_fully_shredded(conn: &mut Conn<'_>, person: Uuid) -> Result<bool, StoreError> {
    let (left,): (i64,) = on_conn!(
        conn,
        sqlx::query_as::<_, (i64,)>(
            "select count(*) from cases where person_id = $1 and shredded_at is null"
        )
        .bind(person),
        fetch_one
    )?;
    Ok(left == 0)
}

/// Replace a person's key and identity (a new key sealing nothing) and drop their blind index.
pub async fn shred_person(
    conn: &mut Conn<'_>,
    person: Uuid,
    wrapped: &[u8],
    identity: &[u8],
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update persons set wrapped_key = $2, identity = $3, shredded_at = $4, updated_at = $4 where id = $1")
            .bind(person)
            .bind(wrapped)
            .bind(identity)
            .bind(at.micros())
    )?;
    exec!(
        conn,
        sqlx::query("delete from person_index where person_id = $1").bind(person)
    )?;
    Ok(())
}
