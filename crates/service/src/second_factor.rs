//! The second factor: TOTP codes from an authenticator app. A password opens a session that
//! can do nothing but finish signing in — type a code, or, where the user's role requires a
//! second factor and none is set up yet, set one up. The secret is sealed under its own data
//! key; a code is accepted once; failures count towards the account's sign-in lockout.

use crate::error::ServiceError;
use crate::sessions::{Authenticated, throttle_keys};
use crate::{Ctx, Passage};
use passage_crypto::envelope::DataKey;
use passage_crypto::{random_bytes, totp};
use passage_domain::{Actor, AuditAction, Outcome, Timestamp, UserId, Username};
use passage_store::auth::{self, FactorState};
use passage_store::second_factor::{self, SecondFactor};
use passage_store::users::User;
use passage_store::{Conn, audit};

/// A session past its password but not its second factor has this long to finish.
pub(crate) const PENDING_SECS: i64 = 10 * 60;
const SECRET_FIELD: &str = "totp_secret";
const ISSUER: &str = "Passage";

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub user: User,
    pub csrf_token: String,
    pub session_hash: Vec<u8>,
    /// `Verify` (type a code) or `Enrol` (set up an authenticator first).
    pub state: FactorState,
}

/// What an authenticator app needs: the secret as a QR code's URI and as text to type.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// A user's second factor as their account page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorStatus {
    pub enrolled: bool,
    pub required: bool,
}

fn step_at(t: Timestamp) -> i64 {
    totp::step_at(t.micros().div_euclid(1_000_000))
}

impl Passage {
    /// The state a session opened by a right password starts in.
    pub(crate) async fn factor_state_at_sign_in(
        &self,
        conn: &mut Conn<'_>,
        user: UserId,
    ) -> Result<FactorState, ServiceError> {
        let enrolled = second_factor::of_user(conn, user)
            .await?
            .is_some_and(|f| f.confirmed_at.is_some());
        Ok(if enrolled {
            FactorState::Verify
        } else if second_factor::required_for(conn, user).await? {
            FactorState::Enrol
        } else {
            FactorState::Done
        })
    }

    /// A secret for the user's authenticator app, kept unconfirmed until a first code from it
    /// is typed. Asking again before then gives the same secret (a reloaded page still matches
    /// the phone); a confirmed factor must be reset by an administrator before a new one.
    pub async fn start_enrolment(&self, user: &User) -> Result<Enrolment, ServiceError> {
        let mut tx = self.db.begin().await?;
        let existing = second_factor::of_user(&mut tx.conn(), user.id).await?;
        let secret = match existing {
            Some(f) if f.confirmed_at.is_some() => return Err(ServiceError::Conflict("a second factor")),
            Some(f) => self.open_secret(&f)?,
            None => {
                let secret: [u8; 20] = random_bytes()?;
                let key = DataKey::generate()?;
                let record = user.id.as_uuid().as_bytes().to_vec();
                let row = SecondFactor {
                    user_id: user.id,
                    wrapped_key: key.wrap(&self.master, &record)?,
                    secret: key.seal(&record, SECRET_FIELD, &secret)?,
                    created_at: self.clock.now(),
                    confirmed_at: None,
                    last_step: 0,
                };
                second_factor::put_unconfirmed(&mut tx.conn(), &row).await?;
                secret.to_vec()
            }
        };
        tx.commit().await?;
        Ok(Enrolment {
            secret: totp::display_secret(&secret),
            otpauth_uri: totp::otpauth_uri(ISSUER, user.username.as_str(), &secret),
        })
    }

    fn open_secret(&self, f: &SecondFactor) -> Result<Vec<u8>, ServiceError> {
        let record = f.user_id.as_uuid().as_bytes().to_vec();
        let key = DataKey::unwrap(&f.wrapped_key, &self.master, &record)?;
        Ok(key.open(&record, SECRET_FIELD, &f.secret)?)
    }

    /// Finish a sign-in with a code: from the enrolled authenticator, or, while enrolling,
    /// from the one being set up (which confirms it). A wrong or replayed code counts as a
    /// failed sign-in of the account; too many and the account is throttled.
    pub async fn complete_sign_in(
        &self,
        ctx: &Ctx,
        pending: &PendingSignIn,
        code: &str,
        client_address: &str,
    ) -> Result<(), ServiceError> {
        let (account_key, address_key) =
            throttle_keys(&self.throttle_key, pending.user.username.as_str(), client_address);
        self.refuse_if_throttled(ctx, &account_key, &address_key, Some(pending.user.id))
            .await?;
        let enrolling = pending.state == FactorState::Enrol;
        let mut tx = self.begin().await?;
        let accepted = self
            .accept_code(&mut tx.conn(), pending.user.id, code, enrolling)
            .await?;
        if !accepted {
            auth::record_login_failure(&mut tx.conn(), &account_key, &address_key, self.clock.now()).await?;
            let event = self
                .event(ctx, AuditAction::SecondFactorFailed, Some(pending.user.id))
                .target("user", pending.user.id)
                .outcome(Outcome::Failure);
            audit::append(&mut tx.conn(), &event).await?;
            tx.commit().await?;
            return Err(passage_domain::InvalidValue::new(
                "code",
                "is not the current code of your authenticator app",
            )
            .into());
        }
        if !auth::complete_second_factor(&mut tx.conn(), &pending.session_hash).await? {
            return Err(ServiceError::SessionExpired);
        }
        auth::clear_login_failures(&mut tx.conn(), &account_key).await?;
        let action = if enrolling {
            AuditAction::SecondFactorEnrolled
        } else {
            AuditAction::SecondFactorVerified
        };
        audit::append(
            &mut tx.conn(),
            &self
                .event(ctx, action, Some(pending.user.id))
                .target("user", pending.user.id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Check a code against the user's secret (the unconfirmed one only when `enrolling`) and
    /// mark its time step used.
    async fn accept_code(
        &self,
        conn: &mut Conn<'_>,
        user: UserId,
        code: &str,
        enrolling: bool,
    ) -> Result<bool, ServiceError> {
        let Some(factor) = second_factor::of_user(conn, user).await? else {
            return Ok(false);
        };
        if factor.confirmed_at.is_some() == enrolling {
            return Ok(false);
        }
        let now = self.clock.now();
        let secret = self.open_secret(&factor)?;
        let Some(step) = totp::matching_step(&secret, code, step_at(now)) else {
            return Ok(false);
        };
        Ok(second_factor::use_step(conn, user, step, enrolling.then_some(now)).await?)
    }

    /// A signed-in user whose role does not require a second factor sets one up anyway.
    pub async fn confirm_enrolment(
        &self,
        ctx: &Ctx,
        who: &Authenticated,
        code: &str,
    ) -> Result<(), ServiceError> {
        let mut tx = self.begin().await?;
        if !self.accept_code(&mut tx.conn(), who.user.id, code, true).await? {
            return Err(passage_domain::InvalidValue::new(
                "code",
                "is not the current code of your authenticator app",
            )
            .into());
        }
        audit::append(
            &mut tx.conn(),
            &self
                .event(ctx, AuditAction::SecondFactorEnrolled, Some(who.user.id))
                .target("user", who.user.id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn factor_status(&self, user: UserId) -> Result<FactorStatus, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        Ok(FactorStatus {
            enrolled: second_factor::of_user(&mut c, user)
                .await?
                .is_some_and(|f| f.confirmed_at.is_some()),
            required: second_factor::required_for(&mut c, user).await?,
        })
    }

    /// Remove a user's second factor (a lost phone) and end their sessions: at their next
    /// sign-in they set up a new one. Administrators of the user's organisations only.
    pub async fn reset_second_factor(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        username: &str,
    ) -> Result<User, ServiceError> {
        let username = Username::parse(username)?;
        let user = self.managed_user(actor, &username).await?;
        if actor.user_id() == Some(user.id) && !matches!(actor, Actor::Operator) {
            // Removing one's own factor would let a stolen password disable it.
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let mut tx = self.begin().await?;
        let removed = second_factor::delete(&mut tx.conn(), user.id).await?;
        let ended = auth::delete_user_sessions(&mut tx.conn(), user.id).await?;
        let event = self
            .event(ctx, AuditAction::SecondFactorReset, actor.user_id())
            .target("user", user.id)
            .detail("removed", removed)
            .detail("sessions_ended", ended);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(user)
    }
}
