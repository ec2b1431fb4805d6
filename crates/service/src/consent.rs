//! Consent as data, and the policy that reads it: a referral shares who someone is only while
//! the person consents to sharing with the receiving organisation, and a withdrawal stops that
//! sharing at once (the receiving organisation no longer sees the identifying answers).

use crate::{Ctx, Passage, ServiceError, authorize};
use passage_crypto::envelope::DataKey;
use passage_domain::{Actor, AuditAction, Denied, InvalidValue, OrgId, Permission, Scope, Timestamp, UserId};
use passage_store::consent::{self, Consent};
use passage_store::{audit, persons};

pub const CONSENT_SCOPES: [(&str, &str); 4] = [
    ("processing", "Processing of their data for their case"),
    ("sharing", "Sharing with named organisations"),
    ("tracing", "Tracing family members"),
    ("linking", "Linking their records across programmes"),
];

/// A consent to record.
#[derive(Debug, Clone)]
pub struct NewConsent {
    pub scope: String,
    pub purpose: String,
    /// For a sharing consent: the organisations it names.
    pub recipients: Vec<OrgId>,
    pub given_on: time::Date,
    /// Who witnessed it, which signed form: sealed under the person's key.
    pub evidence: Option<String>,
}

/// A consent as its reader sees it.
#[derive(Debug, Clone)]
pub struct ConsentRecord {
    pub id: uuid::Uuid,
    pub scope: String,
    pub purpose: String,
    pub recipients: Vec<OrgId>,
    pub given_on: String,
    pub withdrawn_on: Option<String>,
    pub evidence: Option<String>,
    pub recorded_by: Option<UserId>,
    pub recorded_at: Timestamp,
}

fn in_force(c: &Consent, scope: &str, today: &str) -> bool {
    c.scope == scope && c.given_on.as_str() <= today && c.withdrawn_on.as_deref().is_none_or(|w| w > today)
}

impl Passage {
    /// The person, if the actor may work on their records (their organisation's case work,
    /// and not someone known only through need-to-know cases outside the actor's cases).
    async fn consent_person(
        &self,
        actor: &Actor,
        person: uuid::Uuid,
        permission: Permission,
    ) -> Result<persons::StoredPerson, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let p = persons::get(&mut pooled.conn(), person)
            .await?
            .ok_or(ServiceError::NotFound)?;
        authorize(actor, permission, Scope::Org(p.owner_org))?;
        let cases = passage_store::cases::of_person(&mut pooled.conn(), person).await?;
        drop(pooled);
        if self.hides_person(actor, &self.grants_of(actor, &cases).await?, &cases) {
            return Err(ServiceError::Denied(Denied::NeedToKnow));
        }
        Ok(p)
    }

    pub async fn record_consent(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        person: uuid::Uuid,
        new: &NewConsent,
    ) -> Result<uuid::Uuid, ServiceError> {
        let p = self.consent_person(actor, person, Permission::CasesEdit).await?;
        if !CONSENT_SCOPES.iter().any(|(s, _)| *s == new.scope) {
            return Err(InvalidValue::new("scope", "must be processing, sharing, tracing or linking").into());
        }
        let purpose = new.purpose.trim();
        if purpose.is_empty() || purpose.chars().count() > 500 {
            return Err(InvalidValue::new(
                "purpose",
                "must say what the consent is for (at most 500 characters)",
            )
            .into());
        }
        match (new.scope.as_str(), new.recipients.is_empty()) {
            ("sharing", true) => {
                return Err(InvalidValue::new(
                    "recipients",
                    "must name the organisations the person agrees to share with",
                )
                .into());
            }
            ("sharing", false) => {}
            (_, false) => {
                return Err(InvalidValue::new("recipients", "are only for a sharing consent").into());
            }
            _ => {}
        }
        for org in &new.recipients {
            self.organisation(&Actor::Operator, *org)
                .await
                .map_err(|_| InvalidValue::new("recipients", "name an organisation that does not exist"))?;
        }
        if new.given_on > self.today() {
            return Err(InvalidValue::new("given_on", "cannot be in the future").into());
        }
        let id = uuid::Uuid::now_v7();
        let evidence = match new.evidence.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                let key = DataKey::unwrap(&p.wrapped_key, &self.master, person.as_bytes())?;
                Some(key.seal(person.as_bytes(), &format!("consent-evidence:{id}"), e.as_bytes())?)
            }
            None => None,
        };
        let record = Consent {
            id,
            person_id: person,
            org_id: p.owner_org,
            scope: new.scope.clone(),
            purpose: purpose.to_owned(),
            recipients: new.recipients.clone(),
            given_on: new.given_on.to_string(),
            withdrawn_on: None,
            evidence,
            recorded_by: actor.user_id(),
            recorded_at: self.now(),
        };
        let mut tx = self.begin().await?;
        consent::insert(&mut tx.conn(), &record).await?;
        let event = self
            .event(ctx, AuditAction::ConsentRecorded, actor.user_id())
            .org(Some(p.owner_org))
            .target("person", person)
            .detail("consent", id)
            .detail("scope", &record.scope);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The person withdraws a consent (from `on`, today or earlier): sharing stops at once.
    pub async fn withdraw_consent(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        person: uuid::Uuid,
        id: uuid::Uuid,
        on: time::Date,
    ) -> Result<(), ServiceError> {
        let p = self.consent_person(actor, person, Permission::CasesEdit).await?;
        if on > self.today() {
            return Err(InvalidValue::new("withdrawn_on", "cannot be in the future").into());
        }
        let mut tx = self.begin().await?;
        if !consent::withdraw(&mut tx.conn(), id, person, &on.to_string(), actor.user_id()).await? {
            return Err(ServiceError::Conflict("a withdrawal of this consent"));
        }
        let event = self
            .event(ctx, AuditAction::ConsentWithdrawn, actor.user_id())
            .org(Some(p.owner_org))
            .target("person", person)
            .detail("consent", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A person's consents, with their evidence (audited as a read of the person).
    pub async fn consents(
        &self,
        actor: &Actor,
        person: uuid::Uuid,
    ) -> Result<Vec<ConsentRecord>, ServiceError> {
        let p = self.consent_person(actor, person, Permission::CasesView).await?;
        let stored = {
            let mut pooled = self.db.acquire().await?;
            consent::of_person(&mut pooled.conn(), person).await?
        };
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        let key = DataKey::unwrap(&p.wrapped_key, &self.master, person.as_bytes())?;
        stored
            .into_iter()
            .map(|c| {
                let evidence = match &c.evidence {
                    Some(sealed) => Some(
                        String::from_utf8(key.open(
                            person.as_bytes(),
                            &format!("consent-evidence:{}", c.id),
                            sealed,
                        )?)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                    ),
                    None => None,
                };
                Ok(ConsentRecord {
                    id: c.id,
                    scope: c.scope,
                    purpose: c.purpose,
                    recipients: c.recipients,
                    given_on: c.given_on,
                    withdrawn_on: c.withdrawn_on,
                    evidence,
                    recorded_by: c.recorded_by,
                    recorded_at: c.recorded_at,
                })
            })
            .collect()
    }

    /// Whether the person consents, today, to sharing with `org`.
    pub(crate) async fn may_share_with(&self, person: uuid::Uuid, org: OrgId) -> Result<bool, ServiceError> {
        let today = self.today().to_string();
        let mut pooled = self.db.acquire().await?;
        Ok(consent::of_person(&mut pooled.conn(), person)
            .await?
            .iter()
            .any(|c| in_force(c, "sharing", &today) && c.recipients.contains(&org)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_is_in_force_from_its_date_until_its_withdrawal() {
        let c = Consent {
            id: uuid::Uuid::nil(),
            person_id: uuid::Uuid::nil(),
            org_id: OrgId::generate(),
            scope: "sharing".into(),
            purpose: "p".into(),
            recipients: vec![],
            given_on: "2026-03-01".into(),
            withdrawn_on: Some("2026-06-01".into()),
            evidence: None,
            recorded_by: None,
            recorded_at: Timestamp::from_micros(0),
        };
        assert!(!in_force(&c, "sharing", "2026-02-28"));
        assert!(in_force(&c, "sharing", "2026-03-01") && in_force(&c, "sharing", "2026-05-31"));
        assert!(!in_force(&c, "sharing", "2026-06-01"), "withdrawn that day");
        assert!(!in_force(&c, "tracing", "2026-04-01"));
    }
}
