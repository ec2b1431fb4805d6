//! Signing in and out, browser sessions and API tokens.

use crate::error::ServiceError;
use crate::second_factor::{PENDING_SECS, PendingSignIn};
use crate::{Ctx, Passage};
use passage_crypto::{keyed_hash, random_token, sha256};
use passage_domain::{
    Actor, AuditAction, AuditEvent, Outcome, Timestamp, TokenId, TokenScope, UserId, Username,
};
use passage_store::auth::{self, ApiToken, FactorState, Session};
use passage_store::users::{self, User};
use passage_store::{Conn, audit};

/// A fresh browser session: the secret goes into the cookie, only its digest is stored.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub user_id: UserId,
    /// Whether the session still waits for a second factor (and can do nothing else).
    pub second_factor: FactorState,
}

/// What a session cookie stands for.
#[derive(Debug, Clone)]
pub enum SessionState {
    SignedIn(Authenticated),
    /// Past the password, not yet the second factor: the session may only finish signing in.
    Pending(PendingSignIn),
}

/// A request's authenticated identity.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub user: User,
    /// Set for browser sessions: the token every state-changing request must carry.
    pub csrf_token: Option<String>,
    /// Set for browser sessions: identifies the session for sign-out.
    pub session_hash: Option<Vec<u8>>,
}

/// Do not write `last_seen_at` on every request; once a minute is precise enough for a
/// 30-minute idle limit and keeps reads from becoming writes.
const TOUCH_EVERY_SECS: i64 = 60;

impl Passage {
    pub(crate) async fn actor_for(
        &self,
        conn: &mut Conn<'_>,
        user: UserId,
        token_scope: Option<TokenScope>,
    ) -> Result<Actor, ServiceError> {
        let (grants, host_org) = users::grants(conn, user).await?;
        Ok(Actor::User {
            id: user,
            host_org,
            grants,
            token_scope,
        })
    }

    /// Check a username and password and open a session. Failures are counted per account and
    /// per client address (stored only as keyed hashes) and refused beyond the limits.
    pub async fn login(
        &self,
        ctx: &Ctx,
        username: &str,
        password: &str,
        client_address: &str,
    ) -> Result<NewSession, ServiceError> {
        let now = self.clock.now();
        let normalised = username.trim().to_lowercase();
        let (account_key, address_key) = throttle_keys(&self.throttle_key, &normalised, client_address);
        let found = {
            let mut pooled = self.db.acquire().await?;
            match Username::parse(&normalised) {
                Ok(name) => users::by_username(&mut pooled.conn(), &name).await?,
                Err(_) => None,
            }
        };
        let target = found.as_ref().map(|(u, _)| u.id);
        self.refuse_if_throttled(ctx, &account_key, &address_key, target)
            .await?;

        // Argon2 is deliberately slow: run it off the async workers, and outside any
        // transaction so that it never holds SQLite's write lock.
        let hasher = self.hasher.clone();
        let (password, stored) = (password.to_owned(), found.as_ref().map(|(_, h)| h.clone()));
        let verified = tokio::task::spawn_blocking(move || hasher.verify(&password, stored.as_deref()))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let user = match found {
            Some((user, _)) if verified && !user.disabled => user,
            _ => {
                let mut tx = self.begin().await?;
                auth::record_login_failure(&mut tx.conn(), &account_key, &address_key, now).await?;
                let event = self
                    .event(ctx, AuditAction::LoginFailed, None)
                    .outcome(Outcome::Failure);
                audit::append(&mut tx.conn(), &with_target(event, target)).await?;
                tx.commit().await?;
                return Err(ServiceError::BadCredentials);
            }
        };
        let second_factor = {
            let mut pooled = self.db.acquire().await?;
            self.factor_state_at_sign_in(&mut pooled.conn(), user.id).await?
        };

        self.open_session(ctx, &user, second_factor, &account_key, "password")
            .await
    }

    /// Open a session for a user whose first factor passed (`method`: password or sso).
    pub(crate) async fn open_session(
        &self,
        ctx: &Ctx,
        user: &User,
        second_factor: FactorState,
        account_key: &[u8],
        method: &'static str,
    ) -> Result<NewSession, ServiceError> {
        let now = self.clock.now();
        let token = random_token("")?;
        let csrf_token = random_token("")?;
        let session = Session {
            token_hash: sha256(token.as_bytes()).to_vec(),
            user_id: user.id,
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: now.plus_seconds(self.settings.session_absolute_secs),
            second_factor,
        };
        let mut tx = self.begin().await?;
        // Failures are forgiven only once the whole sign-in, second factor included, is done.
        if second_factor == FactorState::Done {
            auth::clear_login_failures(&mut tx.conn(), account_key).await?;
        }
        auth::insert_session(&mut tx.conn(), &session).await?;
        let event = self
            .event(ctx, AuditAction::Login, Some(user.id))
            .detail("method", method)
            .detail("second_factor", second_factor.as_str());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(NewSession {
            token,
            csrf_token,
            user_id: user.id,
            second_factor,
        })
    }

    /// Refuse (and audit) a sign-in step when the account or address has failed too often.
    pub(crate) async fn refuse_if_throttled(
        &self,
        ctx: &Ctx,
        account_key: &[u8],
        address_key: &[u8],
        target: Option<UserId>,
    ) -> Result<(), ServiceError> {
        let window_start = self.clock.now().plus_seconds(-self.settings.throttle_window_secs);
        let (by_account, by_address) = {
            let mut pooled = self.db.acquire().await?;
            auth::login_failures_since(&mut pooled.conn(), account_key, address_key, window_start).await?
        };
        if by_account < self.settings.max_failures_per_account
            && by_address < self.settings.max_failures_per_address
        {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::LoginThrottled, None)
            .outcome(Outcome::Denied);
        audit::append(&mut tx.conn(), &with_target(event, target)).await?;
        tx.commit().await?;
        Err(ServiceError::Throttled {
            retry_after_secs: self.settings.throttle_window_secs,
        })
    }

    /// Resolve a session cookie, enforcing the idle and absolute limits: a signed-in user, or a
    /// sign-in that still waits for its second factor (which has [`PENDING_SECS`] to finish).
    pub async fn resolve_session(&self, token: &str) -> Result<SessionState, ServiceError> {
        let now = self.clock.now();
        let hash = sha256(token.as_bytes()).to_vec();
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let (session, user) = users::by_session(&mut c, &hash)
            .await?
            .ok_or(ServiceError::SessionExpired)?;
        let idle_limit = session.last_seen_at.plus_seconds(self.settings.session_idle_secs);
        if now >= session.expires_at || now >= idle_limit {
            auth::delete_session(&mut c, &hash).await?;
            return Err(ServiceError::SessionExpired);
        }
        if session.second_factor != FactorState::Done {
            if user.disabled || now >= session.created_at.plus_seconds(PENDING_SECS) {
                auth::delete_session(&mut c, &hash).await?;
                return Err(ServiceError::SessionExpired);
            }
            return Ok(SessionState::Pending(PendingSignIn {
                user,
                csrf_token: session.csrf_token,
                session_hash: hash,
                state: session.second_factor,
            }));
        }
        if user.disabled {
            return Err(ServiceError::SessionExpired);
        }
        if session.last_seen_at.seconds_until(now) >= TOUCH_EVERY_SECS {
            auth::touch_session(&mut c, &hash, now).await?;
        }
        let actor = self.actor_for(&mut c, user.id, None).await?;
        Ok(SessionState::SignedIn(Authenticated {
            actor,
            user,
            csrf_token: Some(session.csrf_token),
            session_hash: Some(hash),
        }))
    }

    /// A signed-in user's session; a sign-in still waiting for its second factor is refused.
    pub async fn authenticate_session(&self, token: &str) -> Result<Authenticated, ServiceError> {
        match self.resolve_session(token).await? {
            SessionState::SignedIn(who) => Ok(who),
            SessionState::Pending(_) => Err(ServiceError::SecondFactorRequired),
        }
    }

    /// The sign-in behind a session cookie that still needs its second factor.
    pub async fn pending_sign_in(&self, token: &str) -> Result<PendingSignIn, ServiceError> {
        match self.resolve_session(token).await? {
            SessionState::Pending(p) => Ok(p),
            SessionState::SignedIn(_) => Err(ServiceError::NotFound),
        }
    }

    /// Resolve an API token (`Authorization: Bearer psg_…`).
    pub async fn authenticate_token(&self, token: &str) -> Result<Authenticated, ServiceError> {
        let now = self.clock.now();
        let hash = sha256(token.as_bytes());
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let stored = auth::token_by_hash(&mut c, &hash)
            .await?
            .ok_or(ServiceError::BadToken)?;
        if stored.revoked_at.is_some() || stored.expires_at.is_some_and(|e| now >= e) {
            return Err(ServiceError::BadToken);
        }
        let user = users::get(&mut c, stored.user_id)
            .await?
            .ok_or(ServiceError::BadToken)?;
        if user.disabled {
            return Err(ServiceError::BadToken);
        }
        if stored
            .last_used_at
            .is_none_or(|t| t.seconds_until(now) >= TOUCH_EVERY_SECS)
        {
            auth::touch_token(&mut c, stored.id, now).await?;
        }
        let actor = self.actor_for(&mut c, user.id, Some(stored.scope)).await?;
        Ok(Authenticated {
            actor,
            user,
            csrf_token: None,
            session_hash: None,
        })
    }

    /// End this session.
    pub async fn logout(&self, ctx: &Ctx, who: &Authenticated) -> Result<(), ServiceError> {
        let mut tx = self.begin().await?;
        if let Some(hash) = &who.session_hash {
            auth::delete_session(&mut tx.conn(), hash).await?;
        }
        audit::append(
            &mut tx.conn(),
            &self.event(ctx, AuditAction::Logout, Some(who.user.id)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// End every session of this user (a lost tablet, a shared computer).
    pub async fn logout_everywhere(&self, ctx: &Ctx, user: UserId) -> Result<u64, ServiceError> {
        let mut tx = self.begin().await?;
        let ended = auth::delete_user_sessions(&mut tx.conn(), user).await?;
        let event = self
            .event(ctx, AuditAction::LogoutEverywhere, Some(user))
            .detail("sessions_ended", ended);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Remove sessions, failure records and indicator fact changes that no longer matter (run
    /// periodically).
    pub async fn prune(&self) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        auth::delete_stale_sessions(
            &mut tx.conn(),
            now,
            now.plus_seconds(-self.settings.session_idle_secs),
        )
        .await?;
        auth::prune_login_failures(
            &mut tx.conn(),
            now.plus_seconds(-self.settings.throttle_window_secs),
        )
        .await?;
        // Every process loads its indicator facts in full at least twice a day.
        passage_store::facts::prune_changes(&mut tx.conn(), 24 * 3600).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issue a personal access token; the secret is returned once and never stored.
    /// Only a signed-in person can issue one (not another token).
    pub async fn create_token(
        &self,
        ctx: &Ctx,
        who: &Authenticated,
        name: &str,
        scope: TokenScope,
        valid_days: Option<i64>,
    ) -> Result<(ApiToken, String), ServiceError> {
        if who.session_hash.is_none() {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(passage_domain::InvalidValue::new("name", "must be 1 to 80 characters").into());
        }
        if let Some(days) = valid_days
            && !(1..=366).contains(&days)
        {
            return Err(passage_domain::InvalidValue::new("valid_days", "must be between 1 and 366").into());
        }
        let now = self.clock.now();
        let secret = random_token("psg_")?;
        let token = ApiToken {
            id: TokenId::generate(),
            user_id: who.user.id,
            name: name.to_owned(),
            scope,
            created_at: now,
            expires_at: valid_days.map(|d| now.plus_seconds(d * 86_400)),
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.begin().await?;
        auth::insert_token(&mut tx.conn(), &token, &sha256(secret.as_bytes())).await?;
        let event = self
            .event(ctx, AuditAction::TokenCreated, Some(who.user.id))
            .target("api_token", token.id)
            .detail("scope", scope.as_str());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok((token, secret))
    }

    pub async fn tokens(&self, who: &Authenticated) -> Result<Vec<ApiToken>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(auth::tokens_of(&mut pooled.conn(), who.user.id).await?)
    }

    pub async fn revoke_token(
        &self,
        ctx: &Ctx,
        who: &Authenticated,
        id: TokenId,
    ) -> Result<(), ServiceError> {
        let mut tx = self.begin().await?;
        auth::revoke_token(&mut tx.conn(), id, who.user.id, self.clock.now()).await?;
        let event = self
            .event(ctx, AuditAction::TokenRevoked, Some(who.user.id))
            .target("api_token", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn active_sessions(&self, user: UserId) -> Result<i64, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(auth::count_user_sessions(&mut pooled.conn(), user, self.clock.now()).await?)
    }

    /// An audit event stamped with now, the channel and the request id.
    pub(crate) fn event(&self, ctx: &Ctx, action: AuditAction, actor: Option<UserId>) -> AuditEvent {
        AuditEvent::new(self.clock.now(), action, ctx.channel)
            .actor(actor)
            .request_id(ctx.request_id.clone())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Append one event in its own short transaction: for reads, which are done first on a
    /// pooled connection so that they never hold SQLite's single write lock; the data is
    /// returned only once its read is on the audit trail.
    pub(crate) async fn audit_read(&self, event: &AuditEvent) -> Result<(), ServiceError> {
        // A read changes no figures: not a use case's write transaction.
        let mut tx = self.db.begin().await?;
        passage_store::audit::append(&mut tx.conn(), event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Today's date (UTC: Liberia keeps GMT all year).
    pub fn today(&self) -> time::Date {
        self.clock.now().to_datetime().date()
    }
}

/// Pseudonymous keys under which failed sign-ins of an account and of an address are counted.
pub(crate) fn throttle_keys(key: &[u8], username: &str, client_address: &str) -> ([u8; 32], [u8; 32]) {
    let normalised = username.trim().to_lowercase();
    (
        keyed_hash(key, format!("account:{normalised}").as_bytes()),
        keyed_hash(key, format!("address:{client_address}").as_bytes()),
    )
}

fn with_target(event: AuditEvent, user: Option<UserId>) -> AuditEvent {
    match user {
        Some(id) => event.target("user", id),
        None => event.detail("account", "unknown"),
    }
}

impl Passage {
    /// A signed-in person changes their own password: the current one must be given, and
    /// every session (this one included) ends.
    pub async fn change_own_password(
        &self,
        ctx: &Ctx,
        who: &Authenticated,
        current: &str,
        new_password: &str,
    ) -> Result<(), ServiceError> {
        if who.session_hash.is_none() {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let stored = {
            let mut pooled = self.db.acquire().await?;
            users::by_username(&mut pooled.conn(), &who.user.username)
                .await?
                .map(|(_, h)| h)
        };
        let hasher = self.hasher.clone();
        let current = current.to_owned();
        let verified = tokio::task::spawn_blocking(move || hasher.verify(&current, stored.as_deref()))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if !verified {
            return Err(passage_domain::InvalidValue::new("current password", "is not right").into());
        }
        self.reset_password(&who.actor, ctx, who.user.username.as_str(), new_password)
            .await?;
        Ok(())
    }
}
