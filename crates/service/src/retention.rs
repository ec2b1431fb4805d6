//! Retention: closed cases past their programme's schedule are crypto-shredded — the data key
//! destroyed, every sealed part removed or replaced by an empty seal under a new key — while
//! the reporting answers stay, so that indicators keep their figures. The audit trail keeps
//! the fact (case id, programme, schedule), never what was destroyed.

use crate::{Ctx, Passage, ServiceError, authorize};
use passage_crypto::envelope::DataKey;
use passage_domain::{Actor, AuditAction, InvalidValue, Permission, Scope};
use passage_store::{audit, retention};

/// Cases shredded per transaction: a long run never holds the write lock for long.
const BATCH: i64 = 200;
const YEAR_SECS: i64 = 365 * 24 * 3600 + 6 * 3600;

/// A programme's retention schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub programme: String,
    pub name: String,
    /// Years after closure; none: kept.
    pub years: Option<i64>,
}

/// What a retention run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// (programme, cases shredded).
    pub cases: Vec<(String, u64)>,
    pub persons: u64,
}

impl Passage {
    pub async fn retention_schedules(&self) -> Result<Vec<Schedule>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(retention::schedules(&mut pooled.conn())
            .await?
            .into_iter()
            .map(|(programme, name, years)| Schedule {
                programme,
                name,
                years,
            })
            .collect())
    }

    /// Set (or, with `None`, remove) a programme's schedule: the data protection focal point's
    /// decision, audited.
    pub async fn set_retention(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        years: Option<i64>,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        if years.is_some_and(|y| !(1..=100).contains(&y)) {
            return Err(InvalidValue::new("years", "must be between 1 and 100").into());
        }
        let mut tx = self.begin().await?;
        retention::set_schedule(&mut tx.conn(), programme, years)
            .await
            .map_err(|e| match e {
                passage_store::StoreError::NotFound => {
                    ServiceError::from(InvalidValue::new("programme", "is not a programme code"))
                }
                other => other.into(),
            })?;
        let mut event = self
            .event(ctx, AuditAction::RetentionScheduled, actor.user_id())
            .target("programme", programme);
        if let Some(y) = years {
            event = event.detail("years", y);
        }
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Shred every closed case past its schedule (`dry_run`: only count them).
    pub async fn run_retention(&self, ctx: &Ctx, dry_run: bool) -> Result<RetentionReport, ServiceError> {
        let now = self.now();
        let mut report = RetentionReport::default();
        for schedule in self.retention_schedules().await? {
            let Some(years) = schedule.years else { continue };
            let cutoff = now.plus_seconds(-years * YEAR_SECS);
            let mut done = 0u64;
            loop {
                let mut tx = self.begin().await?;
                let limit = if dry_run { i64::MAX } else { BATCH };
                let expired = retention::expired(&mut tx.conn(), &schedule.programme, cutoff, limit).await?;
                if dry_run {
                    done = expired.len() as u64;
                    break;
                }
                if expired.is_empty() {
                    break;
                }
                let mut document_files = Vec::new();
                for (case, person) in &expired {
                    if self
                        .shred_case(
                            ctx,
                            &mut tx,
                            (*case, *person),
                            &schedule,
                            years,
                            &mut document_files,
                        )
                        .await?
                    {
                        report.persons += 1;
                    }
                }
                done += expired.len() as u64;
                tx.commit().await?;
                // Sealed under keys now destroyed; removed as well, once the rows are gone.
                self.release_bodies(document_files).await;
            }
            if done > 0 {
                report.cases.push((schedule.programme.clone(), done));
            }
        }
        Ok(report)
    }

    /// Shred one case (and its person, if no case of theirs is left): whether the person went.
    async fn shred_case(
        &self,
        ctx: &Ctx,
        tx: &mut crate::WriteTx,
        (case, person): (uuid::Uuid, Option<uuid::Uuid>),
        schedule: &Schedule,
        years: i64,
        document_files: &mut Vec<passage_store::BodyAt>,
    ) -> Result<bool, ServiceError> {
        let now = self.now();
        document_files.extend(retention::shred_case(&mut tx.conn(), case, now).await?);
        // What was shared or received keeps its row (indicators count referrals), sealed anew
        // around nothing under a key that never sealed the data.
        let (referrals, submissions) = retention::sealed_children(&mut tx.conn(), case).await?;
        for id in referrals {
            let key = DataKey::generate()?;
            let shared = key.seal(id.as_bytes(), "shared", b"[]")?;
            retention::reseal_referral(
                &mut tx.conn(),
                id,
                &key.wrap(&self.master, id.as_bytes())?,
                &shared,
            )
            .await?;
        }
        for id in submissions {
            let key = DataKey::generate()?;
            let xml = key.seal(id.as_bytes(), "xml", b"")?;
            retention::reseal_submission(&mut tx.conn(), id, &key.wrap(&self.master, id.as_bytes())?, &xml)
                .await?;
        }
        let mut person_shredded = false;
        if let Some(person) = person
            && retention::person_fully_shredded(&mut tx.conn(), person).await?
        {
            let key = DataKey::generate()?;
            let identity = self.seal_identity(&key, person, &crate::Identity::default())?;
            retention::shred_person(
                &mut tx.conn(),
                person,
                &key.wrap(&self.master, person.as_bytes())?,
                &identity,
                now,
            )
            .await?;
            person_shredded = true;
        }
        let event = self
            .event(ctx, AuditAction::RetentionShredded, None)
            .target("case", case)
            .detail("programme", &schedule.programme)
            .detail("years", years);
        audit::append(&mut tx.conn(), &event).await?;
        Ok(person_shredded)
    }
}
