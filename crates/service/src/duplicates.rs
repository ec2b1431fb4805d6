//! Persons registered twice: a queue of likely pairs within an organisation, merge (the cases of
//! one person move to the other; nothing is deleted), unmerge (exactly those cases move back),
//! and "not the same person", remembered. Pairs are found through the stored keyed hashes of
//! blocking keys; only the candidates are decrypted, in memory.

use crate::error::{ServiceError, conflict_as};
use crate::persons::{display_name, match_record};
use crate::{Ctx, Passage, authorize};
use passage_domain::{Actor, AuditAction, OrgId, Permission, Scope, Timestamp};
use passage_store::persons::{self, Merge};

/// A legal basis for linking records across programmes is said in at least this many
/// characters (e.g. "Vital interests: identifying a victim of trafficking").
pub const MIN_LEGAL_BASIS_CHARS: usize = 15;

enum LinkingBasis {
    Consent,
    Legal(String),
}

/// Candidate pairs examined per queue, at most.
const QUEUE_CANDIDATES: i64 = 500;

/// Two persons who may be one, and why.
#[derive(Debug, Clone)]
pub struct DuplicatePair {
    pub first: uuid::Uuid,
    pub first_name: String,
    pub second: uuid::Uuid,
    pub second_name: String,
    pub probability: f64,
    pub explanation: String,
}

/// A merge as listed (person ids; the pages link to them).
#[derive(Debug, Clone)]
pub struct MergeRecord {
    pub id: uuid::Uuid,
    pub kept: uuid::Uuid,
    pub merged: uuid::Uuid,
    pub cases_moved: usize,
    pub merged_at: Timestamp,
    pub undone: bool,
}

impl From<Merge> for MergeRecord {
    fn from(m: Merge) -> Self {
        Self {
            id: m.id,
            kept: m.kept,
            merged: m.merged,
            cases_moved: m.cases.len(),
            merged_at: m.merged_at,
            undone: m.undone_at.is_some(),
        }
    }
}

impl Passage {
    /// The organisation's likely duplicate persons, most likely first (audited: names are shown).
    pub async fn duplicate_pairs(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
    ) -> Result<Vec<DuplicatePair>, ServiceError> {
        authorize(actor, Permission::CasesView, Scope::Org(org))?;
        let (pairs, stored) = {
            let mut pooled = self.db.acquire().await?;
            let pairs = persons::candidate_pairs(&mut pooled.conn(), org, QUEUE_CANDIDATES).await?;
            let mut ids: Vec<uuid::Uuid> = pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
            ids.sort_unstable();
            ids.dedup();
            (pairs, persons::get_many(&mut pooled.conn(), &ids).await?)
        };
        // A pair is shown only if the reader may know both people.
        let ids: Vec<uuid::Uuid> = stored.iter().map(|p| p.id).collect();
        let hidden = self.hidden_persons(actor, &ids).await?;
        let stored: Vec<_> = stored.into_iter().filter(|p| !hidden.contains(&p.id)).collect();
        let mut prepared = std::collections::HashMap::new();
        for p in stored {
            let identity = self.open_identity(&p)?;
            let (record, _) = passage_match::Prepared::new(&match_record(&identity));
            prepared.insert(p.id, (display_name(&identity), record));
        }
        let model = self.match_model(org);
        let mut out = Vec::new();
        for (a, b) in pairs {
            let (Some((a_name, a_rec)), Some((b_name, b_rec))) = (prepared.get(&a), prepared.get(&b)) else {
                continue;
            };
            let score = model.model.score(a_rec, b_rec);
            if score.probability >= 0.5 {
                out.push(DuplicatePair {
                    first: a,
                    first_name: a_name.clone(),
                    second: b,
                    second_name: b_name.clone(),
                    probability: score.probability,
                    explanation: score.explanation(),
                });
            }
        }
        out.sort_by(|x, y| {
            y.probability
                .total_cmp(&x.probability)
                .then((x.first, x.second).cmp(&(y.first, y.second)))
        });
        self.audit_read(
            &self
                .event(ctx, AuditAction::DuplicatesListed, actor.user_id())
                .org(Some(org))
                .detail("pairs", out.len()),
        )
        .await?;
        Ok(out)
    }

    /// Two persons of one organisation the actor may edit records of, neither merged away.
    async fn mergeable(&self, actor: &Actor, a: uuid::Uuid, b: uuid::Uuid) -> Result<OrgId, ServiceError> {
        if a == b {
            return Err(ServiceError::Invalid(passage_domain::InvalidValue::new(
                "person",
                "a person cannot be merged with themself",
            )));
        }
        let mut pooled = self.db.acquire().await?;
        let (pa, pb) = (
            persons::get(&mut pooled.conn(), a).await?,
            persons::get(&mut pooled.conn(), b).await?,
        );
        let (Some(pa), Some(pb)) = (pa, pb) else {
            return Err(ServiceError::NotFound);
        };
        authorize(actor, Permission::CasesEdit, Scope::Org(pa.owner_org))?;
        if pb.owner_org != pa.owner_org {
            return Err(ServiceError::NotFound);
        }
        for id in [a, b] {
            if persons::merged_into(&mut pooled.conn(), id).await?.is_some() {
                return Err(ServiceError::Conflict("a merge of this person"));
            }
        }
        drop(pooled);
        // Merging someone known only through need-to-know cases would reveal them.
        if !self.hidden_persons(actor, &[a, b]).await?.is_empty() {
            return Err(ServiceError::Denied(passage_domain::Denied::NeedToKnow));
        }
        Ok(pa.owner_org)
    }

    /// Merges `merged` into `kept`: every case of `merged` now belongs to `kept`. Reversible.
    /// A merge that puts cases of more than one programme under one person links their records
    /// across programmes: it needs the consent to linking of one of them, or a legal basis the
    /// caseworker records here (kept sealed under the kept person's key).
    pub async fn merge_persons(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        kept: uuid::Uuid,
        merged: uuid::Uuid,
        legal_basis: Option<&str>,
    ) -> Result<MergeRecord, ServiceError> {
        let org = self.mergeable(actor, kept, merged).await?;
        let basis = self.linking_basis(kept, merged, legal_basis).await?;
        let id = uuid::Uuid::now_v7();
        let mut tx = self.begin().await?;
        let cases = persons::case_ids(&mut tx.conn(), merged).await?;
        let merge = Merge {
            id,
            owner_org: org,
            kept,
            merged,
            cases,
            merged_by: actor.user_id(),
            merged_at: self.now(),
            undone_at: None,
        };
        persons::merge_persons(&mut tx.conn(), &merge)
            .await
            .map_err(conflict_as("a merge of this person"))?;
        let event = self
            .event(ctx, AuditAction::PersonsMerged, actor.user_id())
            .org(Some(org))
            .target("person_merge", id)
            .detail("kept", kept)
            .detail("merged", merged)
            .detail("cases", merge.cases.len());
        let event = match &basis {
            None => event,
            Some(LinkingBasis::Consent) => event.detail("basis", "consent"),
            Some(LinkingBasis::Legal(_)) => event.detail("basis", "legal_basis"),
        };
        match &basis {
            None => {}
            Some(LinkingBasis::Consent) => {
                persons::set_merge_basis(&mut tx.conn(), id, "consent", None).await?
            }
            Some(LinkingBasis::Legal(text)) => {
                let sealed = self
                    .seal_for_person(kept, &format!("merge-basis:{id}"), text.as_bytes())
                    .await?;
                persons::set_merge_basis(&mut tx.conn(), id, "legal_basis", Some(&sealed)).await?;
            }
        }
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(merge.into())
    }

    /// Why a merge may link records across programmes; `None` when it links nothing new
    /// (both persons' cases are in one programme).
    async fn linking_basis(
        &self,
        kept: uuid::Uuid,
        merged: uuid::Uuid,
        legal_basis: Option<&str>,
    ) -> Result<Option<LinkingBasis>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        if persons::programmes_of(&mut pooled.conn(), [kept, merged])
            .await?
            .len()
            < 2
        {
            return Ok(None);
        }
        let today = self.today().to_string();
        for person in [kept, merged] {
            let consented = passage_store::consent::of_person(&mut pooled.conn(), person)
                .await?
                .iter()
                .any(|c| c.scope == "linking" && c.withdrawn_on.is_none() && c.given_on <= today);
            if consented {
                return Ok(Some(LinkingBasis::Consent));
            }
        }
        match legal_basis.map(str::trim).filter(|b| !b.is_empty()) {
            Some(b) if b.chars().count() >= MIN_LEGAL_BASIS_CHARS => Ok(Some(LinkingBasis::Legal(b.to_owned()))),
            Some(_) => Err(passage_domain::InvalidValue::new(
                "legal_basis",
                format!("must say in at least {MIN_LEGAL_BASIS_CHARS} characters on what basis the records are linked"),
            )
            .into()),
            None => Err(passage_domain::InvalidValue::new(
                "legal_basis",
                "this merge links the person's records across programmes: record their consent to linking on the person page, or give the legal basis",
            )
            .into()),
        }
    }

    async fn seal_for_person(
        &self,
        person: uuid::Uuid,
        field: &str,
        text: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        let p = {
            let mut pooled = self.db.acquire().await?;
            persons::get(&mut pooled.conn(), person)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let key = passage_crypto::envelope::DataKey::unwrap(&p.wrapped_key, &self.master, person.as_bytes())?;
        Ok(key.seal(person.as_bytes(), field, text)?)
    }

    /// Undoes a merge: the cases it moved go back to the person they came from.
    pub async fn unmerge_persons(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        merge_id: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        let merge = {
            let mut pooled = self.db.acquire().await?;
            persons::get_merge(&mut pooled.conn(), merge_id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::CasesEdit, Scope::Org(merge.owner_org))?;
        let mut tx = self.begin().await?;
        persons::unmerge(&mut tx.conn(), &merge, actor.user_id(), self.now())
            .await
            .map_err(conflict_as("an undo of this merge"))?;
        let event = self
            .event(ctx, AuditAction::PersonsUnmerged, actor.user_id())
            .org(Some(merge.owner_org))
            .target("person_merge", merge_id);
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that two persons are different people: the queue stops offering them.
    pub async fn mark_distinct(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        a: uuid::Uuid,
        b: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        let org = self.mergeable(actor, a, b).await?;
        let (low, high) = if a < b { (a, b) } else { (b, a) };
        let mut tx = self.begin().await?;
        persons::set_distinct(&mut tx.conn(), low, high, actor.user_id(), self.now())
            .await
            .map_err(conflict_as("a decision on these persons"))?;
        let event = self
            .event(ctx, AuditAction::PersonsDistinct, actor.user_id())
            .org(Some(org))
            .detail("first", low)
            .detail("second", high);
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The organisation's merges, newest first.
    pub async fn person_merges(&self, actor: &Actor, org: OrgId) -> Result<Vec<MergeRecord>, ServiceError> {
        authorize(actor, Permission::CasesView, Scope::Org(org))?;
        let mut pooled = self.db.acquire().await?;
        Ok(persons::merges(&mut pooled.conn(), org)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
