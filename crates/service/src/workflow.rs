//! Moving cases through their programme's workflow: only along allowed moves, approvals only
//! by those who may approve, closure only with a reason, never over someone else's change.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_domain::{Actor, AuditAction, InvalidValue, Permission, Scope};
use passage_store::workflow::{self, HistoryEntry, Stage};
use passage_store::{audit, cases};

/// Why a case was closed (coded, so that the reason itself holds no personal detail).
pub const CLOSURE_REASONS: [(&str, &str); 9] = [
    ("completed", "Assistance completed"),
    ("no_longer_eligible", "No longer eligible"),
    ("withdrew", "The person withdrew"),
    ("lost_contact", "Lost contact"),
    ("relocated", "Moved out of the area"),
    ("referred_elsewhere", "Referred to another organisation"),
    ("deceased", "Deceased"),
    ("duplicate", "Duplicate record"),
    ("other", "Other"),
];

/// A move the actor may make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: Stage,
    pub needs_approval: bool,
}

/// A case's workflow as its reader sees it.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub stages: Vec<Stage>,
    pub current: String,
    pub moves: Vec<Move>,
    /// Next stages the actor could reach only with someone else's approval.
    pub awaiting_approval: Vec<Stage>,
    pub history: Vec<HistoryEntry>,
}

impl Passage {
    /// The first stage of a programme's workflow.
    pub(crate) fn first_stage(&self, programme: &str) -> Result<String, ServiceError> {
        self.stages(programme)
            .first()
            .map(|s| s.code.clone())
            .ok_or_else(|| ServiceError::Internal(format!("programme {programme} has no workflow")))
    }

    /// A programme's stages in order (loaded at start; they change only with a migration).
    pub fn stages(&self, programme: &str) -> &[Stage] {
        self.reference.stages.get(programme).map_or(&[], Vec::as_slice)
    }

    /// The stages, the moves this actor may make now, and the history of a case.
    pub async fn workflow(&self, actor: &Actor, id: uuid::Uuid) -> Result<Workflow, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let case = cases::get(&mut c, id).await?.ok_or(ServiceError::NotFound)?;
        let (view, edit) = crate::cases::record_permissions(&case.programme);
        authorize(actor, view, Scope::Org(case.owner_org))?;
        let stages = self.stages(&case.programme).to_vec();
        let may = |p| actor.authorize(p, Scope::Org(case.owner_org)).is_ok();
        let possible = workflow::moves(&mut c, &case.programme, &case.stage).await?;
        let awaiting_approval = possible
            .iter()
            .filter(|(_, approval)| *approval && may(edit) && !may(Permission::CasesApprove))
            .filter_map(|(to, _)| stages.iter().find(|s| &s.code == to).cloned())
            .collect();
        let moves = possible
            .into_iter()
            .filter(|(_, approval)| may(edit) && (!approval || may(Permission::CasesApprove)))
            .filter_map(|(to, needs_approval)| {
                stages.iter().find(|s| s.code == to).map(|s| Move {
                    to: s.clone(),
                    needs_approval,
                })
            })
            .collect();
        let history = workflow::history(&mut c, id).await?;
        Ok(Workflow {
            stages,
            current: case.stage,
            moves,
            awaiting_approval,
            history,
        })
    }

    /// Move a case to `to`. `revision` is the revision the user saw; if the case changed
    /// since, the move is refused rather than applied over the other change.
    pub async fn move_case(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        to: &str,
        reason: Option<&str>,
        revision: Option<i64>,
    ) -> Result<(), ServiceError> {
        let case = {
            let mut pooled = self.db.acquire().await?;
            cases::get(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let (view, edit) = crate::cases::record_permissions(&case.programme);
        authorize(actor, view, Scope::Org(case.owner_org))?;
        authorize(actor, edit, Scope::Org(case.owner_org))?;
        self.require_identity(actor, &case).await?;
        let mut tx = self.begin().await?;
        let moves = workflow::moves(&mut tx.conn(), &case.programme, &case.stage).await?;
        let Some((_, needs_approval)) = moves.iter().find(|(t, _)| t == to) else {
            return Err(
                InvalidValue::new("stage", format!("cannot move from `{}` to `{to}`", case.stage)).into(),
            );
        };
        if *needs_approval {
            authorize(actor, Permission::CasesApprove, Scope::Org(case.owner_org))?;
        }
        let stages = self.stages(&case.programme);
        let closing = stages.iter().any(|s| s.code == to && s.closed);
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        match (closing, reason) {
            (true, None) => return Err(InvalidValue::new("reason", "is required to close a case").into()),
            (true, Some(r)) if !CLOSURE_REASONS.iter().any(|(code, _)| *code == r) => {
                return Err(InvalidValue::new("reason", "is not one of the closure reasons").into());
            }
            (false, Some(_)) => return Err(InvalidValue::new("reason", "is only given when closing").into()),
            _ => {}
        }
        let now = self.now();
        if let Err(e) = workflow::move_case(
            &mut tx.conn(),
            id,
            &case.stage,
            to,
            revision.unwrap_or(case.revision),
            now,
        )
        .await
        {
            drop(tx);
            let seen = revision.unwrap_or(case.revision);
            return Err(match e {
                passage_store::StoreError::Conflict => self.stale(&case, seen).await,
                other => other.into(),
            });
        }
        let entry = HistoryEntry {
            at: now,
            actor: actor.user_id(),
            from_stage: case.stage.clone(),
            to_stage: to.to_owned(),
            reason: reason.map(str::to_owned),
        };
        workflow::add_history(&mut tx.conn(), id, &entry).await?;
        let mut event = self
            .event(ctx, AuditAction::CaseStageChanged, actor.user_id())
            .org(Some(case.owner_org))
            .target("case", id)
            .detail("from", &case.stage)
            .detail("to", to);
        if let Some(r) = reason {
            event = event.detail("reason", r);
        }
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
