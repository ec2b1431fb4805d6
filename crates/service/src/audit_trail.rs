//! Reading and verifying the audit trail.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_domain::audit::ChainedEvent;
use passage_domain::{Actor, AuditAction, Permission, Scope};
use passage_store::audit::{self, Filter};

/// What an auditor asks for (`org: None` means every organisation they may audit;
/// `limit` 0 means the default page size).
pub use passage_store::audit::Filter as AuditQuery;

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<ChainedEvent>,
    /// Pass as `before_seq` for the next (older) page.
    pub next_before: Option<i64>,
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub checked: i64,
    pub first_break: Option<ChainBreak>,
}

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

impl Passage {
    /// Audit events, newest first. The reader sees the organisations they may audit; events
    /// about no organisation (sign-ins) only with installation-wide audit rights.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        q: &AuditQuery,
    ) -> Result<AuditPage, ServiceError> {
        let org = match (q.org, actor.orgs_with(Permission::AuditView)) {
            (Some(org), _) => {
                authorize(actor, Permission::AuditView, Scope::Org(org))?;
                Some(org)
            }
            (None, None) => None,
            (None, Some(orgs)) => match orgs.as_slice() {
                [only] => Some(*only),
                [] => return Err(ServiceError::Denied(passage_domain::Denied::Forbidden)),
                // Several organisations: show the first; the page offers the others.
                [first, ..] => Some(*first),
            },
        };
        let limit = if q.limit <= 0 {
            DEFAULT_PAGE
        } else {
            q.limit.min(MAX_PAGE)
        };
        let filter = Filter {
            org,
            action_prefix: q.action_prefix.clone().filter(|a| !a.trim().is_empty()),
            limit,
            ..q.clone()
        };
        let mut tx = self.db.begin().await?;
        let events = audit::list(&mut tx.conn(), &filter).await?;
        let viewed = self
            .event(ctx, AuditAction::AuditViewed, actor.user_id())
            .org(org)
            .detail("count", events.len());
        audit::append(&mut tx.conn(), &viewed).await?;
        tx.commit().await?;
        let next_before = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.seq))
            .flatten();
        Ok(AuditPage { events, next_before })
    }

    /// Walk the whole chain and report the first broken link: an edited event (its hash no
    /// longer matches), a deleted or inserted one (the sequence or the link to the previous
    /// hash breaks), or events removed from the end (the head disagrees).
    pub async fn verify_audit_chain(&self, actor: &Actor) -> Result<ChainReport, ServiceError> {
        authorize(actor, Permission::AuditView, Scope::Installation)?;
        const BATCH: i64 = 1000;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let mut expected_seq = 1;
        let mut prev_hash = vec![0u8; 32];
        let broken = |seq, reason: &str| ChainReport {
            checked: seq - 1,
            first_break: Some(ChainBreak {
                seq,
                reason: reason.to_owned(),
            }),
        };
        loop {
            let batch = audit::batch_after(&mut c, expected_seq - 1, BATCH).await?;
            let done = (batch.len() as i64) < BATCH;
            for event in batch {
                if event.seq != expected_seq {
                    return Ok(broken(expected_seq, "event is missing: it was deleted"));
                }
                if event.prev_hash != prev_hash {
                    return Ok(broken(
                        event.seq,
                        "does not link to the event before it: an event was changed, inserted or deleted",
                    ));
                }
                let hash = passage_crypto::chain_hash(&event.prev_hash, &event.canonical_bytes());
                if !passage_crypto::constant_time_eq(&hash, &event.hash) {
                    return Ok(broken(event.seq, "contents were changed after it was written"));
                }
                prev_hash = event.hash;
                expected_seq += 1;
            }
            if done {
                break;
            }
        }
        let (head_seq, head_hash) = audit::head(&mut c).await?;
        if head_seq != expected_seq - 1 || head_hash != prev_hash {
            return Ok(broken(
                expected_seq,
                &format!(
                    "the chain ends at event {} but {head_seq} were written: events at the end were deleted",
                    expected_seq - 1
                ),
            ));
        }
        Ok(ChainReport {
            checked: expected_seq - 1,
            first_break: None,
        })
    }
}

impl Passage {
    /// The organisations whose audit trail the actor may read (for the auditor's filter).
    pub async fn auditable_organisations(
        &self,
        actor: &Actor,
    ) -> Result<Vec<passage_store::orgs::Organisation>, ServiceError> {
        let reach = actor.orgs_with(Permission::AuditView);
        let mut pooled = self.db.acquire().await?;
        let all = passage_store::orgs::list(&mut pooled.conn()).await?;
        Ok(all
            .into_iter()
            .filter(|o| reach.as_ref().is_none_or(|r| r.contains(&o.id)))
            .collect())
    }
}
