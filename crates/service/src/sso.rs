//! Signing in through the organisation's identity provider (OpenID Connect). The provider
//! says who the person is; Passage decides whether that is one of its users: the provider
//! account linked before, or else the one user whose e-mail address is the provider's verified
//! address (then linked, so later sign-ins go by the provider's subject only). Accounts,
//! roles and organisations stay managed in Passage: nobody is created by signing in.

use crate::error::ServiceError;
use crate::sessions::{NewSession, throttle_keys};
use crate::{Ctx, Passage};
use passage_domain::{AuditAction, Outcome};
use passage_store::auth::{self, FactorState};
use passage_store::{audit, sso};

/// Whom the provider vouches for.
#[derive(Debug, Clone)]
pub struct SsoSignIn {
    pub issuer: String,
    pub subject: String,
    /// A verified address only.
    pub email: Option<String>,
    /// The provider used more than a password: Passage then asks no code of its own.
    pub multi_factor: bool,
}

impl Passage {
    pub async fn sso_sign_in(
        &self,
        ctx: &Ctx,
        who: &SsoSignIn,
        client_address: &str,
    ) -> Result<NewSession, ServiceError> {
        let account = format!("sso:{}:{}", who.issuer, who.subject);
        let (account_key, address_key) = throttle_keys(&self.throttle_key, &account, client_address);
        self.refuse_if_throttled(ctx, &account_key, &address_key, None)
            .await?;
        let now = self.clock.now();
        let mut tx = self.begin().await?;
        let linked = sso::linked_user(&mut tx.conn(), &who.issuer, &who.subject).await?;
        let user = match linked {
            Some(user) => Some(user),
            None => match who.email.as_deref() {
                Some(email) => match sso::users_with_email(&mut tx.conn(), email).await?.as_slice() {
                    [only] => {
                        sso::link(&mut tx.conn(), &who.issuer, &who.subject, only.id, now).await?;
                        let event = self
                            .event(ctx, AuditAction::SsoLinked, Some(only.id))
                            .target("user", only.id);
                        audit::append(&mut tx.conn(), &event).await?;
                        Some(only.clone())
                    }
                    _ => None,
                },
                None => None,
            },
        };
        let Some(user) = user.filter(|u| !u.disabled) else {
            auth::record_login_failure(&mut tx.conn(), &account_key, &address_key, now).await?;
            let event = self
                .event(ctx, AuditAction::LoginFailed, None)
                .detail("method", "sso")
                .detail("account", "unknown")
                .outcome(Outcome::Failure);
            audit::append(&mut tx.conn(), &event).await?;
            tx.commit().await?;
            return Err(ServiceError::NoAccountForSso);
        };
        tx.commit().await?;
        let second_factor = if who.multi_factor {
            FactorState::Done
        } else {
            let mut pooled = self.db.acquire().await?;
            self.factor_state_at_sign_in(&mut pooled.conn(), user.id).await?
        };
        self.open_session(ctx, &user, second_factor, &account_key, "sso")
            .await
    }
}
