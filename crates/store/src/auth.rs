//! Sessions, API tokens, failed-login records and the installation's throttling key.
//! Tokens are stored only as SHA-256 digests.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, TokenId, TokenScope, UserId};
use uuid::Uuid;

/// Create the installation row on first start (idempotent) and return its throttling key.
pub async fn installation_key(
    conn: &mut Conn<'_>,
    now: Timestamp,
    fresh_key: &[u8],
) -> Result<Vec<u8>, StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into installation (id, created_at, throttle_key) values (1, $1, $2) \
             on conflict (id) do nothing"
        )
        .bind(now.micros())
        .bind(fresh_key)
    )?;
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, Vec<u8>>("select throttle_key from installation where id = 1"),
        fetch_one
    )?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub second_factor: FactorState,
}

/// Where a session stands with its second factor: only `Done` sessions act for their user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorState {
    Done,
    /// The password was right; a code from the user's authenticator is awaited.
    Verify,
    /// The password was right, the user's role requires a second factor and none is set up.
    Enrol,
}

impl FactorState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Verify => "verify",
            Self::Enrol => "enrol",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "done" => Ok(Self::Done),
            "verify" => Ok(Self::Verify),
            "enrol" => Ok(Self::Enrol),
            other => Err(StoreError::Corrupt(format!(
                "unknown second-factor state {other:?}"
            ))),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    second_factor: String,
}

pub async fn insert_session(conn: &mut Conn<'_>, s: &Session) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, second_factor) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&s.token_hash)
        .bind(s.user_id.as_uuid())
        .bind(&s.csrf_token)
        .bind(s.created_at.micros())
        .bind(s.last_seen_at.micros())
        .bind(s.expires_at.micros())
        .bind(s.second_factor.as_str())
    )?;
    Ok(())
}

/// Mark a session's second factor done; false if the session is gone.
pub async fn complete_second_factor(conn: &mut Conn<'_>, token_hash: &[u8]) -> Result<bool, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("update sessions set second_factor = 'done' where token_hash = $1").bind(token_hash)
    )? == 1)
}

pub async fn session(conn: &mut Conn<'_>, token_hash: &[u8]) -> Result<Option<Session>, StoreError> {
    let row: Option<SessionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, SessionRow>(
            "select token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, second_factor \
             from sessions where token_hash = $1"
        )
        .bind(token_hash),
        fetch_optional
    )?;
    row.map(|r| {
        Ok(Session {
            token_hash: r.token_hash,
            user_id: UserId::from_uuid(r.user_id),
            csrf_token: r.csrf_token,
            created_at: Timestamp::from_micros(r.created_at),
            last_seen_at: Timestamp::from_micros(r.last_seen_at),
            expires_at: Timestamp::from_micros(r.expires_at),
            second_factor: FactorState::parse(&r.second_factor)?,
        })
    })
    .transpose()
}

pub async fn touch_session(conn: &mut Conn<'_>, token_hash: &[u8], at: Timestamp) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update sessions set last_seen_at = $1 where token_hash = $2")
            .bind(at.micros())
            .bind(token_hash)
    )?;
    Ok(())
}

pub async fn delete_session(conn: &mut Conn<'_>, token_hash: &[u8]) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from sessions where token_hash = $1").bind(token_hash)
    )?)
}

/// Sign the user out everywhere; returns how many sessions ended.
pub async fn delete_user_sessions(conn: &mut Conn<'_>, user: UserId) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from sessions where user_id = $1").bind(user.as_uuid())
    )?)
}

pub async fn count_user_sessions(
    conn: &mut Conn<'_>,
    user: UserId,
    now: Timestamp,
) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>("select count(*) from sessions where user_id = $1 and expires_at > $2")
            .bind(user.as_uuid())
            .bind(now.micros()),
        fetch_one
    )?)
}

/// Remove sessions past their absolute or idle limit.
pub async fn delete_stale_sessions(
    conn: &mut Conn<'_>,
    now: Timestamp,
    idle_cutoff: Timestamp,
) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from sessions where expires_at <= $1 or last_seen_at <= $2")
            .bind(now.micros())
            .bind(idle_cutoff.micros())
    )?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    scope: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: TokenId::from_uuid(r.id),
            user_id: UserId::from_uuid(r.user_id),
            name: r.name,
            scope: TokenScope::parse(&r.scope)
                .ok_or_else(|| StoreError::Corrupt(format!("token scope {}", r.scope)))?,
            created_at: Timestamp::from_micros(r.created_at),
            expires_at: r.expires_at.map(Timestamp::from_micros),
            revoked_at: r.revoked_at.map(Timestamp::from_micros),
            last_used_at: r.last_used_at.map(Timestamp::from_micros),
        })
    }
}

macro_rules! select_token {
    ($rest:literal) => {
        concat!(
            "select id, user_id, name, scope, created_at, expires_at, revoked_at, last_used_at from api_tokens",
            $rest
        )
    };
}

pub async fn insert_token(conn: &mut Conn<'_>, t: &ApiToken, token_hash: &[u8]) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into api_tokens (id, user_id, name, token_hash, scope, created_at, expires_at) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(t.id.as_uuid())
        .bind(t.user_id.as_uuid())
        .bind(&t.name)
        .bind(token_hash)
        .bind(t.scope.as_str())
        .bind(t.created_at.micros())
        .bind(t.expires_at.map(Timestamp::micros))
    )?;
    Ok(())
}

pub async fn token_by_hash(conn: &mut Conn<'_>, token_hash: &[u8]) -> Result<Option<ApiToken>, StoreError> {
    let row: Option<TokenRow> = on_conn!(
        conn,
        sqlx::query_as::<_, TokenRow>(select_token!(" where token_hash = $1")).bind(token_hash),
        fetch_optional
    )?;
    row.map(ApiToken::try_from).transpose()
}

pub async fn tokens_of(conn: &mut Conn<'_>, user: UserId) -> Result<Vec<ApiToken>, StoreError> {
    let rows: Vec<TokenRow> = on_conn!(
        conn,
        sqlx::query_as::<_, TokenRow>(select_token!(" where user_id = $1 order by created_at desc"))
            .bind(user.as_uuid()),
        fetch_all
    )?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

/// Revoke one of the user's own tokens; [`StoreError::NotFound`] if it is not theirs or
/// already revoked.
pub async fn revoke_token(
    conn: &mut Conn<'_>,
    id: TokenId,
    user: UserId,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update api_tokens set revoked_at = $1 where id = $2 and user_id = $3 and revoked_at is null"
        )
        .bind(at.micros())
        .bind(id.as_uuid())
        .bind(user.as_uuid())
    )?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn touch_token(conn: &mut Conn<'_>, id: TokenId, at: Timestamp) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update api_tokens set last_used_at = $1 where id = $2")
            .bind(at.micros())
            .bind(id.as_uuid())
    )?;
    Ok(())
}

pub async fn record_login_failure(
    conn: &mut Conn<'_>,
    account_key: &[u8],
    address_key: &[u8],
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("insert into login_failures (account_key, address_key, at) values ($1, $2, $3)")
            .bind(account_key)
            .bind(address_key)
            .bind(at.micros())
    )?;
    Ok(())
}

/// Failures since `since` for this account and for this address.
pub async fn login_failures_since(
    conn: &mut Conn<'_>,
    account_key: &[u8],
    address_key: &[u8],
    since: Timestamp,
) -> Result<(i64, i64), StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (i64, i64)>(
            "select \
               (select count(*) from login_failures where account_key = $1 and at > $3), \
               (select count(*) from login_failures where address_key = $2 and at > $3)"
        )
        .bind(account_key)
        .bind(address_key)
        .bind(since.micros()),
        fetch_one
    )?)
}

/// After a successful sign-in the account's earlier failures no longer count.
pub async fn clear_login_failures(conn: &mut Conn<'_>, account_key: &[u8]) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from login_failures where account_key = $1").bind(account_key)
    )?;
    Ok(())
}

pub async fn prune_login_failures(conn: &mut Conn<'_>, before: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from login_failures where at < $1").bind(before.micros())
    )?)
}
