//! Persons: the identity that a person's cases in several programmes share. The identity is
//! taken from a case's answers by well-known field names, sealed under the person's own data
//! key, and found again only through keyed hashes of normalised values.

use crate::cases::{CaseSummary, summary};
use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_crypto::envelope::{DataKey, SearchKey};
use passage_domain::{Actor, AuditAction, OrgId, Permission, Scope, Timestamp};
use passage_store::persons::{self, StoredPerson};
use passage_store::{Conn, cases};
use passage_xlsform::check::Instance;
use std::collections::{BTreeMap, HashMap};
use unicode_normalization::UnicodeNormalization;

/// Identity attributes and the form field names they are read from, first match wins. Forms
/// written for KoboToolbox or HTCDS use these names already; a field named otherwise is kept
/// with its case but not shared as identity.
pub const PERSON_FIELDS: [(&str, &[&str]); 9] = [
    (
        "given_name",
        &["first_name", "given_name", "given_names", "prs_FirstName"],
    ),
    ("middle_name", &["middle_name", "prs_MiddleName"]),
    (
        "surname",
        &["last_name", "surname", "family_name", "prs_SecondName"],
    ),
    ("other_names", &["other_names"]),
    ("date_of_birth", &["date_of_birth", "dob"]),
    ("sex", &["sex"]),
    ("nationality", &["nationality"]),
    ("phone", &["phone", "prs_MobilePhone"]),
    ("document_number", &["doc_number", "prs_IdentityNumber"]),
];

const NAME_PARTS: [&str; 4] = ["given_name", "middle_name", "surname", "other_names"];

/// A person prepared for storing: the sealed record and its keyed hashes.
pub(crate) struct NewPerson {
    pub person: StoredPerson,
    pub index: Vec<(String, Vec<u8>)>,
}

/// A person's identity attributes (attribute → value).
pub type Identity = BTreeMap<String, String>;

/// A person as a permitted reader sees them, with the cases the reader may see.
#[derive(Debug, Clone)]
pub struct PersonRecord {
    pub id: uuid::Uuid,
    pub owner_org: OrgId,
    pub identity: Identity,
    pub created_at: Timestamp,
    pub cases: Vec<CaseSummary>,
}

/// The identity in a case's top-level answers; none when it names nobody.
pub fn identity_of(answers: &Instance) -> Option<Identity> {
    let identity: Identity = PERSON_FIELDS
        .iter()
        .filter_map(|(attribute, names)| {
            names
                .iter()
                .find_map(|n| answers.values.get(*n).filter(|v| !v.trim().is_empty()))
                .map(|v| ((*attribute).to_owned(), v.trim().to_owned()))
        })
        .collect();
    NAME_PARTS[..3]
        .iter()
        .any(|p| identity.contains_key(*p))
        .then_some(identity)
}

/// Words of a name without case, accents or punctuation: "N'Dri  Kolliè" → ["n", "dri", "kollie"].
pub fn name_tokens(text: &str) -> Vec<String> {
    let plain: String = text
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    plain.split_whitespace().map(str::to_owned).collect()
}

/// The name as people read it: given, middle and surname.
pub fn display_name(identity: &Identity) -> String {
    NAME_PARTS[..3]
        .iter()
        .filter_map(|p| identity.get(*p))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keyed hashes to find the person by: each name word, date of birth, phone digits and
/// document number.
fn index_entries(key: &SearchKey, identity: &Identity) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for part in NAME_PARTS {
        for token in identity.get(part).map(|v| name_tokens(v)).unwrap_or_default() {
            out.push(("name".to_owned(), key.index("name", &token).to_vec()));
        }
    }
    let normalised = [
        ("date_of_birth", identity.get("date_of_birth").cloned()),
        (
            "phone",
            identity
                .get("phone")
                .map(|p| p.chars().filter(char::is_ascii_digit).collect()),
        ),
        (
            "document_number",
            identity.get("document_number").map(|d| {
                d.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
                    .to_uppercase()
            }),
        ),
    ];
    for (field, value) in normalised {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push((field.to_owned(), key.index(field, &v).to_vec()));
        }
    }
    out.extend(
        match_keys(key, identity)
            .into_iter()
            .map(|h| ("match".to_owned(), h)),
    );
    out
}

/// The identity as the matcher reads it.
pub(crate) fn match_record(identity: &Identity) -> passage_match::Record {
    let get = |k: &str| identity.get(k).cloned().unwrap_or_default();
    passage_match::Record {
        given_name: get("given_name"),
        middle_name: get("middle_name"),
        surname: get("surname"),
        full_name: get("other_names"),
        date_of_birth: get("date_of_birth"),
        sex: get("sex"),
        nationality: get("nationality"),
        phone: get("phone"),
        document_number: get("document_number"),
        ..passage_match::Record::default()
    }
}

/// Keyed hashes of the matcher's blocking keys: likely duplicates are found through these
/// without decrypting anyone.
fn match_keys(key: &SearchKey, identity: &Identity) -> Vec<Vec<u8>> {
    let (prepared, _) = passage_match::Prepared::new(&match_record(identity));
    passage_match::blocking::stored_keys(&prepared)
        .iter()
        .map(|k| key.index("match", k).to_vec())
        .collect()
}

/// An existing person who may be the one being registered, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimilarPerson {
    pub id: uuid::Uuid,
    pub name: String,
    pub probability: f64,
    /// Which fields agreed and how much each weighed; no values.
    pub explanation: String,
}

/// Candidates compared at most, and shown at most.
const MATCH_CANDIDATES: i64 = 50;
const MATCH_SHOWN: usize = 5;

/// The hashes a name search looks for (every word must match).
pub(crate) fn name_query(key: &SearchKey, text: &str) -> Vec<Vec<u8>> {
    name_tokens(text)
        .iter()
        .map(|t| key.index("name", t).to_vec())
        .collect()
}

impl Passage {
    pub(crate) fn seal_identity(
        &self,
        key: &DataKey,
        id: uuid::Uuid,
        identity: &Identity,
    ) -> Result<Vec<u8>, ServiceError> {
        let json = serde_json::to_vec(identity).map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(key.seal(id.as_bytes(), "identity", &json)?)
    }

    pub(crate) fn open_identity(&self, p: &StoredPerson) -> Result<Identity, ServiceError> {
        let key = DataKey::unwrap(&p.wrapped_key, &self.master, p.id.as_bytes())?;
        let plain = key.open(p.id.as_bytes(), "identity", &p.identity)?;
        serde_json::from_slice(&plain).map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// A new person owned by `org`, sealed and with its blind index, ready to store (the work
    /// is done before a transaction begins, so that the write lock is held for SQL only).
    pub(crate) fn new_person(&self, org: OrgId, identity: &Identity) -> Result<NewPerson, ServiceError> {
        let id = uuid::Uuid::now_v7();
        let key = DataKey::generate()?;
        let now = self.now();
        Ok(NewPerson {
            person: StoredPerson {
                id,
                owner_org: org,
                wrapped_key: key.wrap(&self.master, id.as_bytes())?,
                identity: self.seal_identity(&key, id, identity)?,
                created_at: now,
                updated_at: now,
            },
            index: index_entries(self.search_key(), identity),
        })
    }

    /// Store a prepared person inside the caller's transaction.
    pub(crate) async fn insert_person(
        &self,
        conn: &mut Conn<'_>,
        new: &NewPerson,
    ) -> Result<(), ServiceError> {
        persons::insert(conn, &new.person).await?;
        persons::add_index(conn, new.person.id, &new.index).await?;
        Ok(())
    }

    /// Bring a person's identity up to date with a case's newer answers.
    pub(crate) async fn refresh_person(
        &self,
        conn: &mut Conn<'_>,
        id: uuid::Uuid,
        newer: &Identity,
    ) -> Result<(), ServiceError> {
        let stored = persons::get(conn, id).await?.ok_or(ServiceError::NotFound)?;
        let mut identity = self.open_identity(&stored)?;
        if newer.iter().all(|(k, v)| identity.get(k) == Some(v)) {
            return Ok(());
        }
        identity.extend(newer.clone());
        let key = DataKey::unwrap(&stored.wrapped_key, &self.master, id.as_bytes())?;
        persons::update_identity(conn, id, &self.seal_identity(&key, id, &identity)?, self.now()).await?;
        persons::set_index(conn, id, &index_entries(self.search_key(), &identity)).await?;
        Ok(())
    }

    /// A person owned by `org` (for linking a new case); others are "not found".
    pub(crate) async fn person_of_org(
        &self,
        conn: &mut Conn<'_>,
        id: uuid::Uuid,
        org: OrgId,
    ) -> Result<StoredPerson, ServiceError> {
        persons::get(conn, id)
            .await?
            .filter(|p| p.owner_org == org)
            .ok_or(ServiceError::NotFound)
    }

    /// Display names of persons, for a list the caller has already been allowed to read.
    pub(crate) async fn person_names(
        &self,
        conn: &mut Conn<'_>,
        ids: &[uuid::Uuid],
    ) -> Result<HashMap<uuid::Uuid, String>, ServiceError> {
        let mut out = HashMap::new();
        for p in persons::get_many(conn, ids).await? {
            // A person shredded under the retention schedule has no name left.
            let name = display_name(&self.open_identity(&p)?);
            if !name.is_empty() {
                out.insert(p.id, name);
            }
        }
        Ok(out)
    }

    /// Persons of `org` who may be the person described, most likely first (at most five, each
    /// with a match probability of at least one half and the reasons). Candidates are found
    /// through keyed hashes; only they are decrypted, in memory. Audited when any is shown.
    pub async fn similar_persons(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        identity: &Identity,
    ) -> Result<Vec<SimilarPerson>, ServiceError> {
        authorize(actor, Permission::CasesView, Scope::Org(org))?;
        let mut found = self.find_similar(org, identity).await?;
        let ids: Vec<uuid::Uuid> = found.iter().map(|p| p.id).collect();
        let hidden = self.hidden_persons(actor, &ids).await?;
        found.retain(|p| !hidden.contains(&p.id));
        if !found.is_empty() {
            let event = self
                .event(ctx, AuditAction::PersonsMatched, actor.user_id())
                .org(Some(org))
                .detail("shown", found.len());
            self.audit_read(&event).await?;
        }
        Ok(found)
    }

    /// Rebuild every person's search index (name words, date of birth, phone, document and
    /// the matcher's blocking keys) from their sealed identity, for persons registered before
    /// the blocking keys existed or after the keys change. Identities are decrypted in memory
    /// a page at a time; each page is rewritten in one transaction. Persons whose identity
    /// was destroyed under the retention schedule cannot be read and are counted apart.
    /// Returns (reindexed, unreadable).
    pub async fn reindex_persons(&self, actor: &Actor, ctx: &Ctx) -> Result<(u64, u64), ServiceError> {
        if !matches!(actor, Actor::Operator) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        const PAGE: i64 = 500;
        let (mut done, mut unreadable, mut after) = (0u64, 0u64, None);
        loop {
            let page = {
                let mut pooled = self.db.acquire().await?;
                persons::page(&mut pooled.conn(), after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let mut entries = Vec::with_capacity(page.len());
            for p in &page {
                match self.open_identity(p) {
                    Ok(identity) => entries.push((p.id, index_entries(self.search_key(), &identity))),
                    Err(_) => unreadable += 1,
                }
            }
            let mut tx = self.begin().await?;
            for (id, e) in &entries {
                persons::set_index(&mut tx.conn(), *id, e).await?;
            }
            tx.commit().await?;
            done += entries.len() as u64;
        }
        let event = self
            .event(ctx, AuditAction::PersonsReindexed, actor.user_id())
            .detail("persons", done)
            .detail("unreadable", unreadable);
        let mut tx = self.begin().await?;
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok((done, unreadable))
    }

    /// [`Self::similar_persons`] without the check and the audit event (the caller does both).
    pub(crate) async fn find_similar(
        &self,
        org: OrgId,
        identity: &Identity,
    ) -> Result<Vec<SimilarPerson>, ServiceError> {
        let keys = match_keys(self.search_key(), identity);
        let stored = {
            let mut pooled = self.db.acquire().await?;
            let ids = persons::matching(&mut pooled.conn(), org, &keys, MATCH_CANDIDATES).await?;
            persons::get_many(&mut pooled.conn(), &ids).await?
        };
        let model = self.match_model(org);
        let (wanted, _) = passage_match::Prepared::new(&match_record(identity));
        let mut found = Vec::new();
        for p in stored {
            let existing = self.open_identity(&p)?;
            let (candidate, _) = passage_match::Prepared::new(&match_record(&existing));
            let score = model.model.score(&wanted, &candidate);
            if score.probability >= 0.5 {
                found.push(SimilarPerson {
                    id: p.id,
                    name: display_name(&existing),
                    probability: score.probability,
                    explanation: score.explanation(),
                });
            }
        }
        found.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(a.id.cmp(&b.id)));
        found.truncate(MATCH_SHOWN);
        Ok(found)
    }

    /// [`Self::similar_persons`] for the identity in a programme's answers (none if they name
    /// nobody, or if the actor may not read the organisation's persons).
    pub async fn similar_persons_for_answers(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        answers: &Instance,
    ) -> Result<Vec<SimilarPerson>, ServiceError> {
        // Someone who registers records they may not read (a border officer and the
        // organisation's persons) is not shown anyone; their registration goes ahead.
        if actor.authorize(Permission::CasesView, Scope::Org(org)).is_err() {
            return Ok(Vec::new());
        }
        match identity_of(answers) {
            Some(identity) => self.similar_persons(actor, ctx, org, &identity).await,
            None => Ok(Vec::new()),
        }
    }

    /// A person with the cases of theirs the actor may read (audited).
    pub async fn person(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<PersonRecord, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let stored = persons::get(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        authorize(actor, Permission::CasesView, Scope::Org(stored.owner_org))?;
        let identity = self.open_identity(&stored)?;
        let name = display_name(&identity);
        let all = cases::of_person(&mut pooled.conn(), id).await?;
        let grants = self.grants_of(actor, &all).await?;
        if self.hides_person(actor, &grants, &all) {
            return Err(ServiceError::Denied(passage_domain::Denied::NeedToKnow));
        }
        let cases: Vec<_> = all
            .iter()
            .filter(|c| {
                let (view, _) = crate::cases::record_permissions(&c.programme);
                actor.authorize(view, Scope::Org(c.owner_org)).is_ok()
                    && self.identity_visible(actor, &grants, c)
            })
            .cloned()
            .map(|c| summary(c, Some(name.clone())))
            .collect();
        let event = self
            .event(ctx, AuditAction::PersonViewed, actor.user_id())
            .org(Some(stored.owner_org))
            .target("person", id);
        drop(pooled);
        self.audit_read(&event).await?;
        Ok(PersonRecord {
            id,
            owner_org: stored.owner_org,
            identity,
            created_at: stored.created_at,
            cases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_tokens_ignore_case_accents_and_punctuation() {
        assert_eq!(name_tokens("  N'Dri  KOLLIÈ-Doe "), ["n", "dri", "kollie", "doe"]);
        assert_eq!(name_tokens("Ñúñez"), ["nunez"]);
    }

    #[test]
    fn identity_comes_from_known_field_names() {
        let mut answers = Instance::default();
        answers.values.insert("prs_FirstName".into(), "Demo".into());
        answers.values.insert("family_name".into(), "Example".into());
        answers.values.insert("sex".into(), "female".into());
        let identity = identity_of(&answers).unwrap();
        assert_eq!(display_name(&identity), "Demo Example");
        assert_eq!(identity.get("sex").map(String::as_str), Some("female"));
        answers.values.clear();
        answers.values.insert("sex".into(), "female".into());
        assert!(identity_of(&answers).is_none(), "no name, no person");
    }
}
