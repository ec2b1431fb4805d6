//! TOTP secrets (sealed by the service; stored here as opaque bytes) and which roles require
//! one.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    pub user_id: UserId,
    pub wrapped_key: Vec<u8>,
    pub secret: Vec<u8>,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub last_step: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    wrapped_key: Vec<u8>,
    secret: Vec<u8>,
    created_at: i64,
    confirmed_at: Option<i64>,
    last_step: i64,
}

pub async fn of_user(conn: &mut Conn<'_>, user: UserId) -> Result<Option<SecondFactor>, StoreError> {
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select id, wrapped_key, secret, created_at, confirmed_at, last_step \
             from second_factors where id = $1"
        )
        .bind(user.as_uuid()),
        fetch_optional
    )?;
    Ok(row.map(|r| SecondFactor {
        user_id: UserId::from_uuid(r.id),
        wrapped_key: r.wrapped_key,
        secret: r.secret,
        created_at: Timestamp::from_micros(r.created_at),
        confirmed_at: r.confirmed_at.map(Timestamp::from_micros),
        last_step: r.last_step,
    }))
}

/// Store a secret awaiting its first code, replacing an earlier unconfirmed one; a confirmed
/// secret is never replaced here ([`StoreError::Conflict`]): it must be reset first.
pub async fn put_unconfirmed(conn: &mut Conn<'_>, f: &SecondFactor) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from second_factors where id = $1 and confirmed_at is null")
            .bind(f.user_id.as_uuid())
    )?;
    exec!(
        conn,
        sqlx::query(
            "insert into second_factors (id, wrapped_key, secret, created_at, confirmed_at, last_step) \
             values ($1, $2, $3, $4, null, 0)"
        )
        .bind(f.user_id.as_uuid())
        .bind(&f.wrapped_key)
        .bind(&f.secret)
        .bind(f.created_at.micros())
    )?;
    Ok(())
}

/// Accept a code of time step `step` once: false if this or a later step was already used
/// (a replayed code), so two requests racing with one code cannot both pass.
pub async fn use_step(
    conn: &mut Conn<'_>,
    user: UserId,
    step: i64,
    confirm_at: Option<Timestamp>,
) -> Result<bool, StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update second_factors set last_step = $2, confirmed_at = coalesce(confirmed_at, $3) \
             where id = $1 and last_step < $2"
        )
        .bind(user.as_uuid())
        .bind(step)
        .bind(confirm_at.map(|t| t.micros()))
    )?;
    Ok(changed == 1)
}

pub async fn delete(conn: &mut Conn<'_>, user: UserId) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from second_factors where id = $1").bind(user.as_uuid())
    )?)
}

/// Whether any of the user's roles requires a second factor.
pub async fn required_for(conn: &mut Conn<'_>, user: UserId) -> Result<bool, StoreError> {
    let (required,): (bool,) = on_conn!(
        conn,
        sqlx::query_as(
            "select exists (select 1 from memberships m join roles r on r.name = m.role \
             where m.user_id = $1 and r.requires_second_factor)"
        )
        .bind(user.as_uuid()),
        fetch_one
    )?;
    Ok(required)
}
