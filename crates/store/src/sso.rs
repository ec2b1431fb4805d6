//! Links between single sign-on provider accounts and Passage users.

use crate::users::{User, UserRow};
use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, UserId};

/// The user a provider account is linked to.
pub async fn linked_user(
    conn: &mut Conn<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = on_conn!(
        conn,
        sqlx::query_as::<_, UserRow>(
            "select u.id, u.username, u.display_name, u.email, u.disabled, u.created_at, u.password_hash \
             from sso_identities s join users u on u.id = s.user_id where s.issuer = $1 and s.subject = $2"
        )
        .bind(issuer)
        .bind(subject),
        fetch_optional
    )?;
    Ok(row.map(UserRow::into_user).transpose()?.map(|(u, _)| u))
}

/// Users whose e-mail address is this one (case-insensitive): a link is made only when
/// exactly one matches.
pub async fn users_with_email(conn: &mut Conn<'_>, email: &str) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = on_conn!(
        conn,
        sqlx::query_as::<_, UserRow>(
            "select id, username, display_name, email, disabled, created_at, password_hash \
             from users where lower(email) = lower($1)"
        )
        .bind(email),
        fetch_all
    )?;
    rows.into_iter().map(|r| r.into_user().map(|(u, _)| u)).collect()
}

pub async fn link(
    conn: &mut Conn<'_>,
    issuer: &str,
    subject: &str,
    user: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into sso_identities (issuer, subject, user_id, linked_at) values ($1, $2, $3, $4)"
        )
        .bind(issuer)
        .bind(subject)
        .bind(user.as_uuid())
        .bind(now.micros())
    )?;
    Ok(())
}
