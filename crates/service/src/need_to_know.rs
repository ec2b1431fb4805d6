//! Need to know: in a need-to-know programme (counter-trafficking) a case's identity — the
//! person's name and every identifying answer — is shown only to the case's team: whoever
//! registered it, the caseworker it is assigned to, and supervisors (members who approve stage
//! changes). Other readers of the programme's records see the case masked and cannot change
//! it, unless they break the glass: a reasoned grant for one case that expires, is highlighted
//! in the audit trail and waits for the data protection focal point's review.

use crate::{Ctx, Passage, ServiceError, authorize};
use passage_domain::{Actor, AuditAction, Denied, InvalidValue, OrgId, Permission, Scope, Timestamp, UserId};
use passage_store::break_glass::{self, Grant};
use passage_store::cases::StoredCase;
use passage_xlsform::check::Instance;
use passage_xlsform::{Form, Node, Sensitivity};
use std::collections::HashSet;

/// The shortest reason accepted for breaking the glass.
const MIN_REASON_CHARS: usize = 15;

/// Which need-to-know cases an actor holds a live break-glass grant for (read once per list).
pub(crate) struct Grants(HashSet<uuid::Uuid>);

/// A break-glass grant as the data protection focal point reviews it.
#[derive(Debug, Clone)]
pub struct BreakGlass {
    pub id: uuid::Uuid,
    pub case_id: uuid::Uuid,
    pub case_number: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub user_name: String,
    pub reason: String,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    pub active: bool,
    pub reviewed_at: Option<Timestamp>,
}

/// Remove the answers of identifying fields (in repeats too).
pub(crate) fn mask_identity(form: &Form, answers: &mut Instance) {
    fn walk(nodes: &[Node], answers: &mut Instance) {
        for node in nodes {
            match node {
                Node::Field(f) if f.sensitivity == Some(Sensitivity::Identifying) => {
                    answers.values.remove(&f.name);
                }
                Node::Field(_) => {}
                Node::Group(g) if g.repeat => {
                    for instance in answers.repeats.get_mut(&g.name).into_iter().flatten() {
                        walk(&g.children, instance);
                    }
                }
                Node::Group(g) => walk(&g.children, answers),
            }
        }
    }
    walk(&form.children, answers);
}

impl Passage {
    pub(crate) fn need_to_know(&self, programme: &str) -> bool {
        self.reference.need_to_know.contains(programme)
    }

    /// The actor's live break-glass grants that matter for `cases`: none are read when the
    /// actor is on every one's team (the usual case, so lists pay no extra query).
    pub(crate) async fn grants_of(
        &self,
        actor: &Actor,
        cases: &[StoredCase],
    ) -> Result<Grants, ServiceError> {
        let Some(user) = actor.user_id() else {
            return Ok(Grants(HashSet::new()));
        };
        if cases.iter().all(|c| self.on_team(actor, c)) {
            return Ok(Grants(HashSet::new()));
        }
        let mut pooled = self.db.acquire().await?;
        let open = break_glass::open_cases(&mut pooled.conn(), user, self.now()).await?;
        Ok(Grants(open.into_iter().collect()))
    }

    /// Whether the actor is on the case's team (or the case is not need-to-know).
    fn on_team(&self, actor: &Actor, case: &StoredCase) -> bool {
        if !self.need_to_know(&case.programme) {
            return true;
        }
        match actor.user_id() {
            None => true,
            Some(me) => {
                case.created_by == Some(me)
                    || case.assigned_to == Some(me)
                    || actor
                        .authorize(Permission::CasesApprove, Scope::Org(case.owner_org))
                        .is_ok()
            }
        }
    }

    /// Whether the actor may see who the case is about.
    pub(crate) fn identity_visible(&self, actor: &Actor, grants: &Grants, case: &StoredCase) -> bool {
        self.on_team(actor, case) || grants.0.contains(&case.id)
    }

    /// Whether a person, known through `cases`, is hidden from the actor: every case of theirs
    /// is a need-to-know case outside the actor's cases.
    pub(crate) fn hides_person(&self, actor: &Actor, grants: &Grants, cases: &[StoredCase]) -> bool {
        !cases.is_empty() && cases.iter().all(|c| !self.identity_visible(actor, grants, c))
    }

    /// The persons among `ids` hidden from the actor ([`Self::hides_person`]).
    pub(crate) async fn hidden_persons(
        &self,
        actor: &Actor,
        ids: &[uuid::Uuid],
    ) -> Result<HashSet<uuid::Uuid>, ServiceError> {
        let mut out = HashSet::new();
        if self.reference.need_to_know.is_empty() || ids.is_empty() {
            return Ok(out);
        }
        let mut theirs = Vec::with_capacity(ids.len());
        {
            let mut pooled = self.db.acquire().await?;
            for id in ids {
                theirs.push((
                    *id,
                    passage_store::cases::of_person(&mut pooled.conn(), *id).await?,
                ));
            }
        }
        let all: Vec<StoredCase> = theirs.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
        let grants = self.grants_of(actor, &all).await?;
        for (id, cases) in &theirs {
            if self.hides_person(actor, &grants, cases) {
                out.insert(*id);
            }
        }
        Ok(out)
    }

    /// [`Self::identity_visible`] for one case; `Ok(true)` also says whether a grant was used.
    pub(crate) async fn identity_access(
        &self,
        actor: &Actor,
        case: &StoredCase,
    ) -> Result<(bool, bool), ServiceError> {
        if self.on_team(actor, case) {
            return Ok((true, false));
        }
        let by_grant = self
            .grants_of(actor, std::slice::from_ref(case))
            .await?
            .0
            .contains(&case.id);
        Ok((by_grant, by_grant))
    }

    /// Refuse a change to a need-to-know case from outside its team without a live grant.
    pub(crate) async fn require_identity(
        &self,
        actor: &Actor,
        case: &StoredCase,
    ) -> Result<(), ServiceError> {
        match self.identity_access(actor, case).await? {
            (true, _) => Ok(()),
            (false, _) => Err(ServiceError::Denied(Denied::NeedToKnow)),
        }
    }

    /// Break the glass: see and work on one need-to-know case for a while, with a reason.
    /// The grant is highlighted in the audit trail and waits for the focal point's review.
    pub async fn break_glass(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        reason: &str,
    ) -> Result<Timestamp, ServiceError> {
        let stored = self.readable_case(actor, case).await?;
        let user = actor.user_id().ok_or(ServiceError::Denied(Denied::Forbidden))?;
        // Breaking the glass grants access: never through a read-only token (a leaked one
        // must not unmask anyone).
        if matches!(
            actor,
            Actor::User {
                token_scope: Some(passage_domain::TokenScope::Read),
                ..
            }
        ) {
            return Err(ServiceError::Denied(Denied::Forbidden));
        }
        if stored.wrapped_key.is_none() {
            return Err(InvalidValue::new(
                "break glass",
                "is not possible: this case's identity was destroyed under the retention schedule",
            )
            .into());
        }
        if self.on_team(actor, &stored) {
            return Err(
                InvalidValue::new("break glass", "is not needed: you are on this case's team").into(),
            );
        }
        let reason = reason.trim();
        if reason.chars().count() < MIN_REASON_CHARS {
            return Err(InvalidValue::new(
                "reason",
                format!("must say why you need this case (at least {MIN_REASON_CHARS} characters)"),
            )
            .into());
        }
        let now = self.now();
        let id = uuid::Uuid::now_v7();
        let key = self.case_key(&stored)?;
        let grant = Grant {
            id,
            case_id: case,
            org_id: stored.owner_org,
            user_id: user,
            reason: key.seal(case.as_bytes(), &format!("break-glass:{id}"), reason.as_bytes())?,
            granted_at: now,
            expires_at: now.plus_seconds(self.settings.break_glass_secs),
            reviewed_by: None,
            reviewed_at: None,
        };
        let mut tx = self.begin().await?;
        break_glass::insert(&mut tx.conn(), &grant).await?;
        let event = self
            .event(ctx, AuditAction::BreakGlass, Some(user))
            .org(Some(stored.owner_org))
            .target("case", case)
            .detail("grant", id)
            .detail("minutes", self.settings.break_glass_secs / 60);
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(grant.expires_at)
    }

    /// The actor's live grant for a case, if any: when it ends.
    pub async fn break_glass_until(
        &self,
        actor: &Actor,
        case: uuid::Uuid,
    ) -> Result<Option<Timestamp>, ServiceError> {
        let Some(user) = actor.user_id() else {
            return Ok(None);
        };
        let mut pooled = self.db.acquire().await?;
        let now = self.now();
        Ok(break_glass::latest(&mut pooled.conn(), user, case)
            .await?
            .map(|g| g.expires_at)
            .filter(|at| *at > now))
    }

    /// Break-glass grants in the organisations whose data protection the actor oversees,
    /// newest first, with their reasons (audited).
    pub async fn break_glass_grants(
        &self,
        actor: &Actor,
        ctx: &Ctx,
    ) -> Result<Vec<BreakGlass>, ServiceError> {
        let orgs = actor.orgs_with(Permission::DataProtectionOversee);
        if orgs.as_ref().is_some_and(Vec::is_empty) {
            authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        }
        let now = self.now();
        let mut out = Vec::new();
        {
            let mut pooled = self.db.acquire().await?;
            let mut c = pooled.conn();
            for g in break_glass::list(&mut c, orgs.as_deref(), 200).await? {
                let Some(case) = passage_store::cases::get(&mut c, g.case_id).await? else {
                    continue;
                };
                let reason = match case.wrapped_key {
                    Some(_) => self.case_key(&case)?.open(
                        case.id.as_bytes(),
                        &format!("break-glass:{}", g.id),
                        &g.reason,
                    )?,
                    None => b"(destroyed with the case under the retention schedule)".to_vec(),
                };
                let user_name = passage_store::users::get(&mut c, g.user_id)
                    .await?
                    .map(|u| u.display_name.as_str().to_owned())
                    .unwrap_or_default();
                out.push(BreakGlass {
                    id: g.id,
                    case_id: g.case_id,
                    case_number: case.number,
                    org_id: g.org_id,
                    user_id: g.user_id,
                    user_name,
                    reason: String::from_utf8_lossy(&reason).into_owned(),
                    granted_at: g.granted_at,
                    expires_at: g.expires_at,
                    active: g.expires_at > now,
                    reviewed_at: g.reviewed_at,
                });
            }
        }
        let event = self
            .event(ctx, AuditAction::BreakGlassListed, actor.user_id())
            .detail("shown", out.len());
        self.audit_read(&event).await?;
        Ok(out)
    }

    /// How many grants wait for the actor's review (none if they oversee nothing).
    pub async fn break_glass_to_review(&self, actor: &Actor) -> Result<i64, ServiceError> {
        let orgs = actor.orgs_with(Permission::DataProtectionOversee);
        if orgs.as_ref().is_some_and(Vec::is_empty) {
            return Ok(0);
        }
        let mut pooled = self.db.acquire().await?;
        Ok(break_glass::unreviewed_count(&mut pooled.conn(), orgs.as_deref()).await?)
    }

    /// The focal point marks a grant reviewed.
    pub async fn review_break_glass(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        let grant = {
            let mut pooled = self.db.acquire().await?;
            break_glass::get(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::DataProtectionOversee, Scope::Org(grant.org_id))?;
        let by = actor.user_id().ok_or(ServiceError::Denied(Denied::Forbidden))?;
        let mut tx = self.begin().await?;
        if !break_glass::mark_reviewed(&mut tx.conn(), id, by, self.now()).await? {
            return Err(ServiceError::Conflict("a review of this access"));
        }
        let event = self
            .event(ctx, AuditAction::BreakGlassReviewed, Some(by))
            .org(Some(grant.org_id))
            .target("case", grant.case_id)
            .detail("grant", id);
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
