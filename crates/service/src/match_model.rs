//! Each organisation's matching model, learned from its own persons: how often its records
//! agree on each field by chance (u), how much true duplicates agree (m, by EM without
//! labels), and how common each name is (a shared "Kollie" says less than a shared "Zoewu").
//! Identities are decrypted in memory a page at a time and the model is kept in memory only.
//! Until an organisation has enough persons to learn from, the hand-set standard model scores
//! its pairs.

use crate::error::ServiceError;
use crate::persons::match_record;
use crate::{Ctx, Passage};
use passage_domain::{AuditAction, OrgId, Timestamp};
use passage_store::persons;
use std::collections::HashMap;
use std::sync::Arc;

/// Fewer persons than this give EM too few pairs to learn from.
pub const MIN_PERSONS: usize = 500;
/// Persons read per organisation at most (the earliest registered): enough for stable
/// estimates, and bounded memory and time at national scale.
const MAX_PERSONS: usize = 200_000;

/// What scores an organisation's pairs.
#[derive(Debug)]
pub struct MatchModel {
    pub model: passage_match::Model,
    /// Persons it was learned from; `None` for the standard model.
    pub learned_from: Option<usize>,
    pub learned_at: Option<Timestamp>,
}

/// The models learned so far, by organisation.
pub(crate) type MatchModels = std::sync::RwLock<HashMap<OrgId, Arc<MatchModel>>>;

impl Passage {
    /// The model that scores `org`'s pairs: its learned one, or the standard one.
    pub fn match_model(&self, org: OrgId) -> Arc<MatchModel> {
        let learned = self.match_models.read().ok().and_then(|m| m.get(&org).cloned());
        learned.unwrap_or_else(|| {
            Arc::new(MatchModel {
                model: passage_match::Model::standard(),
                learned_from: None,
                learned_at: None,
            })
        })
    }

    /// Learn every organisation's model from its persons (at start and twice a day; audited
    /// with counts only). Returns (organisation, persons learned from) for those learned.
    pub async fn learn_match_models(&self, ctx: &Ctx) -> Result<Vec<(OrgId, usize)>, ServiceError> {
        const PAGE: i64 = 1000;
        let mut by_org: HashMap<OrgId, Vec<passage_match::Prepared>> = HashMap::new();
        let mut after = None;
        loop {
            let page = {
                let mut pooled = self.db.acquire().await?;
                persons::page(&mut pooled.conn(), after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for p in &page {
                let records = by_org.entry(p.owner_org).or_default();
                if records.len() >= MAX_PERSONS {
                    continue;
                }
                // A person shredded under the retention schedule has nothing left to learn from.
                let Ok(identity) = self.open_identity(p) else {
                    continue;
                };
                if identity.is_empty() {
                    continue;
                }
                records.push(passage_match::Prepared::new(&match_record(&identity)).0);
            }
        }
        let mut learned = Vec::new();
        for (org, records) in by_org {
            if records.len() < MIN_PERSONS {
                continue;
            }
            let count = records.len();
            let model = tokio::task::spawn_blocking(move || {
                let mode = passage_match::Mode::Dedupe;
                let blocks = passage_match::blocking::Blocks::new(&records, mode);
                passage_match::Model::train(&records, &blocks, mode)
            })
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
            if !plausible(&model) {
                tracing::warn!(
                    persons = count,
                    "the learned matching model is implausible; the standard one stays"
                );
                continue;
            }
            let entry = Arc::new(MatchModel {
                model,
                learned_from: Some(count),
                learned_at: Some(self.now()),
            });
            if let Ok(mut models) = self.match_models.write() {
                models.insert(org, entry);
            }
            learned.push((org, count));
        }
        learned.sort();
        for (org, count) in &learned {
            let event = self
                .event(ctx, AuditAction::MatchModelLearned, None)
                .org(Some(*org))
                .detail("persons", count);
            self.audit_read(&event).await?;
        }
        Ok(learned)
    }
}

/// A model in which exact agreement on the names is evidence for a match and whose prior is a
/// share of pairs: EM on odd data (one family registered many times, a test import) can
/// converge elsewhere, and then the standard model is the safer judge.
fn plausible(model: &passage_match::Model) -> bool {
    let names_say_match = [0, 1].iter().all(|&c| {
        let (m, u) = (&model.m[c], &model.u[c]);
        let top = m.iter().rposition(|&p| p > 0.0).unwrap_or(0);
        m[top] > u[top]
    });
    names_say_match
        && model.prior > 0.0
        && model.prior < 0.5
        && model.m.iter().chain(&model.u).flatten().all(|p| p.is_finite())
}
