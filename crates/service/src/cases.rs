//! Cases: registered through a programme's current form, checked by the same rules on every
//! channel, and stored with identifying and sensitive answers sealed under the case's own
//! data key. Only what a permitted reader asks for is decrypted, and every read is audited.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_crypto::envelope::DataKey;
use passage_domain::{Actor, AuditAction, InvalidValue, OrgId, Permission, Scope, Timestamp, UserId};
use passage_store::audit;
pub use passage_store::cases::CaseSort;
use passage_store::cases::{self, CaseFilter, StoredCase};
use passage_xlsform::check::{Instance, check};
use passage_xlsform::{Form, Sensitivity};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A case as a permitted reader sees it.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub id: uuid::Uuid,
    pub number: String,
    pub programme: String,
    pub owner_org: OrgId,
    pub form_version: uuid::Uuid,
    pub stage: String,
    /// Increases with every change; sent back with a change to detect a concurrent edit.
    pub revision: i64,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub person_id: Option<uuid::Uuid>,
    /// The person's name, when the case was read whole.
    pub person_name: Option<String>,
    pub assigned_to: Option<UserId>,
    /// ISO date by which the next step is due.
    pub due_on: Option<String>,
    pub closed: bool,
    pub answers: Instance,
    /// A need-to-know case outside the reader's cases: identifying answers and the person's
    /// name are left out.
    pub identity_hidden: bool,
    /// Closed and past its programme's retention: only the reporting answers are left.
    pub shredded: bool,
}

/// A case in a list: its number, stage and reporting answers only (nothing decrypted).
#[derive(Debug, Clone)]
pub struct CaseSummary {
    pub id: uuid::Uuid,
    pub number: String,
    pub programme: String,
    pub stage: String,
    pub created_at: Timestamp,
    pub person_id: Option<uuid::Uuid>,
    /// The person's name, decrypted for a reader of the list.
    pub person_name: Option<String>,
    pub county: Option<String>,
    pub assigned_to: Option<UserId>,
    pub due_on: Option<String>,
    pub closed: bool,
    pub reporting: Value,
    /// A need-to-know case about someone, outside the reader's cases: no name is given.
    pub identity_hidden: bool,
}

pub(crate) fn summary(c: StoredCase, person_name: Option<String>) -> CaseSummary {
    CaseSummary {
        id: c.id,
        number: c.number,
        programme: c.programme,
        stage: c.stage,
        created_at: c.created_at,
        person_id: c.person_id,
        person_name,
        county: c.county,
        assigned_to: c.assigned_to,
        due_on: c.due_on,
        closed: c.closed,
        reporting: serde_json::from_str(&c.reporting).unwrap_or(Value::Null),
        identity_hidden: false,
    }
}

/// What a case list is narrowed to, as a user asks for it.
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    pub org: Option<OrgId>,
    pub programme: Option<String>,
    pub stage: Option<String>,
    pub county: Option<String>,
    pub assigned_to: Option<UserId>,
    /// A case number, exact (any case).
    pub number: Option<String>,
    /// Words of a person's name; all must match, ignoring case and accents.
    pub name: Option<String>,
    pub registered_from: Option<time::Date>,
    pub registered_to: Option<time::Date>,
    pub open_only: bool,
    /// Open cases whose due date has passed.
    pub overdue: bool,
    pub sort: CaseSort,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

/// One page of a case list.
#[derive(Debug, Clone)]
pub struct CasePage {
    pub cases: Vec<CaseSummary>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// Where a case is filed for county filters: the first of these reporting answers it has.
const COUNTY_FIELDS: [&str; 5] = [
    "office_county",
    "identification_county",
    "county",
    "current_county",
    "destination_county",
];

fn county_of(answers: &Instance) -> Option<String> {
    COUNTY_FIELDS
        .iter()
        .find_map(|f| answers.values.get(*f).filter(|v| !v.is_empty()).cloned())
}

/// Answers flattened to `path → value` (`household[2]/hh_sex`), to tell what an edit changed.
fn flatten(i: &Instance, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (k, v) in &i.values {
        out.insert(format!("{prefix}{k}"), v.clone());
    }
    for (k, list) in &i.repeats {
        for (n, inst) in list.iter().enumerate() {
            flatten(inst, &format!("{prefix}{k}[{}]/", n + 1), out);
        }
    }
}

/// One edit of a case's answers, as its history shows it.
#[derive(Debug, Clone)]
pub struct CaseVersion {
    pub revision: i64,
    pub at: Timestamp,
    pub actor: Option<UserId>,
    /// Changed field paths with the value each had before (none: it was empty).
    pub changes: Vec<(String, Option<String>)>,
}

/// Which permissions guard a programme's records: border crossings are the border
/// officers' work; every other programme is case work.
pub fn record_permissions(programme: &str) -> (Permission, Permission) {
    match programme {
        "border" => (Permission::CrossingsView, Permission::CrossingsRecord),
        _ => (Permission::CasesView, Permission::CasesEdit),
    }
}

/// JSON answers (`{"field": "value", "repeat": [{…}, …]}`) as an [`Instance`].
pub fn instance_from_json(value: &Value) -> Result<Instance, ServiceError> {
    let bad = |path: String, reason: &str| {
        ServiceError::InvalidRecord(vec![passage_xlsform::check::Problem {
            path,
            reason: reason.into(),
        }])
    };
    fn walk(
        value: &Map<String, Value>,
        prefix: &str,
        bad: &dyn Fn(String, &str) -> ServiceError,
    ) -> Result<Instance, ServiceError> {
        let mut out = Instance::default();
        for (k, v) in value {
            let path = format!("{prefix}{k}");
            match v {
                Value::Null => {}
                Value::String(s) => {
                    out.values.insert(k.clone(), s.clone());
                }
                Value::Number(n) => {
                    out.values.insert(k.clone(), n.to_string());
                }
                Value::Array(items) => {
                    let mut instances = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        let Value::Object(map) = item else {
                            return Err(bad(format!("{path}[{}]", i + 1), "must be an object of answers"));
                        };
                        instances.push(walk(map, &format!("{path}[{}]/", i + 1), bad)?);
                    }
                    out.repeats.insert(k.clone(), instances);
                }
                Value::Bool(_) | Value::Object(_) => {
                    return Err(bad(path, "must be text, a number, or a list of repeat answers"));
                }
            }
        }
        Ok(out)
    }
    match value {
        Value::Object(map) => walk(map, "", &bad),
        _ => Err(bad("answers".into(), "must be an object")),
    }
}

pub fn instance_to_json(i: &Instance) -> Value {
    let mut map = Map::new();
    for (k, v) in &i.values {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    for (k, instances) in &i.repeats {
        map.insert(
            k.clone(),
            Value::Array(instances.iter().map(instance_to_json).collect()),
        );
    }
    Value::Object(map)
}

/// The answers of one sensitivity, keeping every repeat instance so that parts merge back
/// by position.
fn part(form: &Form, i: &Instance, level: Sensitivity) -> Instance {
    let sensitivity = |name: &str| form.field(name).and_then(|f| f.sensitivity);
    Instance {
        values: i
            .values
            .iter()
            .filter(|(k, _)| sensitivity(k) == Some(level))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        repeats: i
            .repeats
            .iter()
            .map(|(k, list)| {
                (
                    k.clone(),
                    list.iter().map(|inst| part(form, inst, level)).collect(),
                )
            })
            .collect(),
    }
}

fn merge(into: &mut Instance, other: Instance) {
    into.values.extend(other.values);
    for (k, list) in other.repeats {
        let target = into.repeats.entry(k).or_default();
        for (i, inst) in list.into_iter().enumerate() {
            match target.get_mut(i) {
                Some(existing) => merge(existing, inst),
                None => target.push(inst),
            }
        }
    }
}

/// How identifying answers are normalised before their blind index is computed.
fn normalise(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A checked record made ready to store: its parts split by sensitivity and sealed.
struct Sealed {
    reporting: String,
    identifying: Option<Vec<u8>>,
    sensitive: Option<Vec<u8>>,
}

fn seal_parts(form: &Form, record: &Instance, id: uuid::Uuid, key: &DataKey) -> Result<Sealed, ServiceError> {
    let seal = |level: Sensitivity, field: &str| -> Result<Option<Vec<u8>>, ServiceError> {
        let p = part(form, record, level);
        let mut flat = BTreeMap::new();
        flatten(&p, "", &mut flat);
        if flat.is_empty() {
            return Ok(None);
        }
        Ok(Some(key.seal(
            id.as_bytes(),
            field,
            instance_to_json(&p).to_string().as_bytes(),
        )?))
    };
    Ok(Sealed {
        reporting: instance_to_json(&part(form, record, Sensitivity::Reporting)).to_string(),
        identifying: seal(Sensitivity::Identifying, "identifying")?,
        sensitive: seal(Sensitivity::Sensitive, "sensitive")?,
    })
}

/// Keyed hashes of a record's top-level identifying answers, for exact-match search.
fn index_entries(
    form: &Form,
    record: &Instance,
    key: &passage_crypto::envelope::SearchKey,
) -> Vec<(String, Vec<u8>)> {
    record
        .values
        .iter()
        .filter(|(field, _)| form.field(field).and_then(|f| f.sensitivity) == Some(Sensitivity::Identifying))
        .map(|(field, value)| (field.clone(), key.index(field, &normalise(value)).to_vec()))
        .collect()
}

/// Version `revision` of a case: the changed field names in the clear, the values they had
/// before sealed with the case's key.
fn seal_version<K: serde::Serialize>(
    key: &DataKey,
    id: uuid::Uuid,
    revision: i64,
    at: Timestamp,
    actor: Option<UserId>,
    previous: &BTreeMap<K, Option<String>>,
) -> Result<cases::Version, ServiceError> {
    let internal = |e: serde_json::Error| ServiceError::Internal(e.to_string());
    Ok(cases::Version {
        revision,
        at,
        actor,
        changed: serde_json::to_string(&previous.keys().collect::<Vec<_>>()).map_err(internal)?,
        previous: key.seal(
            id.as_bytes(),
            &format!("version:{revision}"),
            &serde_json::to_vec(previous).map_err(internal)?,
        )?,
    })
}

/// Who a record being registered is about.
enum PersonLink {
    Existing(uuid::Uuid),
    New(Box<crate::persons::NewPerson>),
    None,
}

/// What else a registration writes in its transaction.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// An event summarising the whole batch (an import's).
    pub summary: Option<passage_domain::AuditEvent>,
    /// The form version the answers were made with, if not the programme's current one.
    pub form_version: Option<uuid::Uuid>,
    /// The submission these answers came from: marked processed with the new case.
    pub submission: Option<passage_store::collection::Submission>,
    /// Files to store as the (single) record's documents: (name, content).
    pub files: Vec<(String, Vec<u8>)>,
    /// The submission is not stored yet: insert it (processed) instead of updating it.
    pub new_submission: bool,
}

/// One record to register: its answers and, optionally, the existing person it is about.
#[derive(Debug, Clone, Default)]
pub struct NewCase {
    pub answers: Instance,
    pub person: Option<uuid::Uuid>,
}

impl Passage {
    /// Register a case in `programme` for `org`, with the programme's current form.
    pub async fn register_case(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        org: OrgId,
        answers: &Instance,
    ) -> Result<CaseRecord, ServiceError> {
        let new = NewCase {
            answers: answers.clone(),
            person: None,
        };
        self.register_cases(actor, ctx, programme, org, std::slice::from_ref(&new))
            .await?
            .pop()
            .ok_or_else(|| ServiceError::Internal("no case registered".into()))
    }

    /// The current form of a programme.
    pub async fn current_form(&self, programme: &str) -> Result<(uuid::Uuid, Arc<Form>), ServiceError> {
        let current = self
            .programmes()
            .await?
            .into_iter()
            .find(|p| p.programme.code == programme)
            .ok_or(ServiceError::NotFound)?
            .current
            .ok_or(ServiceError::NotFound)?;
        Ok((current.id, self.form_model(current.id).await?))
    }

    /// Register several cases at once: all are checked first and stored in one transaction,
    /// so either every record is saved or none is. Problems name the record (`[3]/field`)
    /// when there is more than one.
    pub async fn register_cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        org: OrgId,
        records: &[NewCase],
    ) -> Result<Vec<CaseRecord>, ServiceError> {
        self.register_cases_with(actor, ctx, programme, org, records, Extra::default())
            .await
    }

    /// [`Self::register_cases`], with what else belongs in the same transaction.
    pub(crate) async fn register_cases_with(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        org: OrgId,
        records: &[NewCase],
        extra: Extra,
    ) -> Result<Vec<CaseRecord>, ServiceError> {
        let (_, edit) = record_permissions(programme);
        authorize(actor, edit, Scope::Org(org))?;
        let (form_version, form) = match extra.form_version {
            Some(id) => (id, self.form_model(id).await?),
            None => self.current_form(programme).await?,
        };
        let language = form.default_language.clone().unwrap_or_default();
        let now = self.now();
        let today = now.to_datetime().date();
        let mut checked = Vec::with_capacity(records.len());
        let mut problems = Vec::new();
        for (n, r) in records.iter().enumerate() {
            match check(&form, &r.answers, today, &language) {
                Ok(record) => checked.push(record),
                Err(list) if records.len() == 1 => problems.extend(list),
                Err(list) => problems.extend(list.into_iter().map(|p| passage_xlsform::check::Problem {
                    path: format!("[{}]/{}", n + 1, p.path),
                    reason: p.reason,
                })),
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::InvalidRecord(problems));
        }
        let stage = self.first_stage(programme)?;
        let search = self.search_key();
        let year = now.to_datetime().year();
        // Pack space written for a registration that then fails is given back.
        let mut in_files = Vec::new();
        let registered = async {
            // Keys, sealing and keyed hashes first; the transaction then only writes.
            let mut prepared = Vec::with_capacity(checked.len());
            for (record, new) in checked.into_iter().zip(records) {
                let person = match (new.person, crate::persons::identity_of(&record)) {
                    (Some(p), _) => PersonLink::Existing(p),
                    (None, Some(identity)) => PersonLink::New(Box::new(self.new_person(org, &identity)?)),
                    (None, None) => PersonLink::None,
                };
                let id = uuid::Uuid::now_v7();
                let key = DataKey::generate()?;
                let sealed = seal_parts(&form, &record, id, &key)?;
                let stored = StoredCase {
                    id,
                    number: String::new(),
                    programme: programme.to_owned(),
                    owner_org: org,
                    form_version,
                    stage: stage.clone(),
                    wrapped_key: Some(key.wrap(&self.master, id.as_bytes())?),
                    reporting: sealed.reporting,
                    identifying: sealed.identifying,
                    sensitive: sealed.sensitive,
                    created_by: actor.user_id(),
                    created_at: now,
                    updated_at: now,
                    revision: 1,
                    person_id: None,
                    assigned_to: None,
                    due_on: None,
                    county: county_of(&record),
                    closed: false,
                };
                let index = index_entries(&form, &record, search);
                // Border crossings are screened against the organisation's watchlists as they are
                // recorded; the hits are saved with the crossing.
                let hits = match (
                    programme == crate::screening::CROSSINGS,
                    crate::persons::identity_of(&record),
                ) {
                    (true, Some(identity)) => self.screen_traveller(org, &identity),
                    _ => Vec::new(),
                };
                let mut event = self
                    .event(ctx, AuditAction::CaseRegistered, actor.user_id())
                    .org(Some(org))
                    .target("case", id)
                    .detail("programme", programme)
                    .detail("form_version", form_version);
                if programme == crate::screening::CROSSINGS {
                    event = event.detail("screening_hits", hits.len());
                }
                // Files that came with the record (an ODK submission's photos) become its documents.
                let mut documents = Vec::with_capacity(extra.files.len());
                let mut bodies = Vec::with_capacity(extra.files.len());
                for (name, bytes) in &extra.files {
                    let doc_id = uuid::Uuid::now_v7();
                    let doc = passage_store::activity::Document {
                        id: doc_id,
                        case_id: id,
                        name: key.seal(id.as_bytes(), &format!("document-name:{doc_id}"), name.as_bytes())?,
                        content_type: crate::activity::document_type(name, bytes)?.to_owned(),
                        size: bytes.len() as i64,
                        uploaded_by: actor.user_id(),
                        at: now,
                    };
                    bodies.push(key.seal(id.as_bytes(), &format!("document:{doc_id}"), bytes)?);
                    documents.push(doc);
                }
                // Written before the transaction (packs need not wait for the writer).
                let bodies = self.keep_bodies(bodies).await?;
                in_files.extend(crate::activity::packed(&bodies));
                let documents: Vec<_> = documents.into_iter().zip(bodies).collect();
                prepared.push((stored, person, index, event, record, hits, documents));
            }
            // Many small records (ODK submissions) arrive at once: their writes share commits.
            let svc = self.clone();
            let programme = programme.to_owned();
            let Extra {
                submission,
                summary,
                new_submission,
                ..
            } = extra;
            self.write_grouped(move |conn| {
                Box::pin(async move {
                    let mut out = Vec::with_capacity(prepared.len());
                    let mut events = Vec::with_capacity(prepared.len() + 1);
                    for (stored, person, index, event, record, hits, documents) in prepared {
                        let person_id = match person {
                            PersonLink::Existing(p) => Some(svc.person_of_org(conn, p, org).await?.id),
                            PersonLink::New(new) => {
                                svc.insert_person(conn, &new).await?;
                                Some(new.person.id)
                            }
                            PersonLink::None => None,
                        };
                        let n = cases::next_number(conn, &programme, year).await?;
                        let stored = StoredCase {
                            number: format!("{}-{year}-{n:06}", programme.to_uppercase()),
                            person_id,
                            ..stored
                        };
                        cases::insert(conn, &stored).await?;
                        cases::insert_index(conn, stored.id, &index).await?;
                        svc.store_hits(conn, stored.id, hits, now).await?;
                        for (doc, body) in &documents {
                            passage_store::activity::add_document(conn, doc, body).await?;
                        }
                        events.push(event);
                        if let Some(submission) = &submission {
                            let done = passage_store::collection::Submission {
                                state: passage_store::collection::State::Processed,
                                // Kept: a note such as "1 attached file(s) never arrived".
                                problem: submission.problem.clone(),
                                case_id: Some(stored.id),
                                case_revision: Some(stored.revision),
                                updated_at: now,
                                ..submission.clone()
                            };
                            if new_submission {
                                // Received and registered at once: one transaction, nothing to finish later.
                                passage_store::collection::insert_submission(conn, &done).await?;
                            } else {
                                let changed = passage_store::collection::set_outcome(
                                    conn,
                                    &done,
                                    passage_store::collection::State::Received,
                                )
                                .await?;
                                // Another process finished it first: keep its record, not a second one.
                                if changed == 0 {
                                    return Err(ServiceError::Conflict("a record for this submission"));
                                }
                            }
                        }
                        out.push(record_of(stored, record));
                    }
                    events.extend(summary);
                    audit::append_all(conn, &events).await?;
                    Ok(out)
                })
            })
            .await
        }
        .await;
        if registered.is_err() {
            self.release_bodies(in_files).await;
        }
        registered
    }

    /// A stored case and the permissions it needs, or "not found" for those who may not see it.
    pub(crate) async fn readable_case(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
    ) -> Result<StoredCase, ServiceError> {
        let stored = {
            let mut pooled = self.db.acquire().await?;
            cases::get(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let (view, _) = record_permissions(&stored.programme);
        authorize(actor, view, Scope::Org(stored.owner_org))?;
        Ok(stored)
    }

    /// A case the actor may change (they may read it and edit its programme's records).
    pub(crate) async fn editable_case(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
    ) -> Result<StoredCase, ServiceError> {
        let stored = self.readable_case(actor, id).await?;
        let (_, edit) = record_permissions(&stored.programme);
        authorize(actor, edit, Scope::Org(stored.owner_org))?;
        if stored.wrapped_key.is_none() {
            return Err(InvalidValue::new(
                "case",
                "was closed long enough ago that its details were destroyed under the retention schedule; it can no longer be changed",
            )
            .into());
        }
        self.require_identity(actor, &stored).await?;
        Ok(stored)
    }

    /// The case's data key.
    pub(crate) fn case_key(&self, stored: &StoredCase) -> Result<DataKey, ServiceError> {
        let wrapped = stored
            .wrapped_key
            .as_ref()
            .ok_or_else(|| ServiceError::Internal("case has no data key".into()))?;
        Ok(DataKey::unwrap(wrapped, &self.master, stored.id.as_bytes())?)
    }

    /// All answers of a stored case, decrypted.
    pub(crate) fn open_answers(&self, stored: &StoredCase) -> Result<Instance, ServiceError> {
        let mut answers = instance_from_json(&serde_json::from_str(&stored.reporting).unwrap_or(Value::Null))
            .unwrap_or_default();
        if stored.identifying.is_none() && stored.sensitive.is_none() {
            return Ok(answers);
        }
        let key = self.case_key(stored)?;
        for (sealed, field) in [
            (&stored.identifying, "identifying"),
            (&stored.sensitive, "sensitive"),
        ] {
            if let Some(sealed) = sealed {
                let plain = key.open(stored.id.as_bytes(), field, sealed)?;
                let value: Value =
                    serde_json::from_slice(&plain).map_err(|e| ServiceError::Internal(e.to_string()))?;
                merge(&mut answers, instance_from_json(&value)?);
            }
        }
        Ok(answers)
    }

    /// One case, decrypted for a reader of its organisation (audited). Other organisations'
    /// cases are "not found".
    pub async fn case(&self, actor: &Actor, ctx: &Ctx, id: uuid::Uuid) -> Result<CaseRecord, ServiceError> {
        let stored = self.readable_case(actor, id).await?;
        let (visible, by_grant) = self.identity_access(actor, &stored).await?;
        let mut answers = match self.open_answers(&stored) {
            Err(ServiceError::Tampered) => return Err(self.integrity_failure(ctx, actor, &stored).await),
            other => other?,
        };
        let person_name = match stored.person_id {
            Some(p) if visible => {
                let mut pooled = self.db.acquire().await?;
                self.person_names(&mut pooled.conn(), &[p]).await?.remove(&p)
            }
            _ => None,
        };
        if !visible {
            crate::need_to_know::mask_identity(&*self.form_model(stored.form_version).await?, &mut answers);
        }
        let mut event = self
            .event(ctx, AuditAction::CaseViewed, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", id);
        if by_grant {
            event = event.detail("break_glass", true);
        } else if !visible {
            event = event.detail("masked", true);
        }
        self.audit_read(&event).await?;
        Ok(CaseRecord {
            person_name,
            identity_hidden: !visible,
            ..record_of(stored, answers)
        })
    }

    /// A case's sealed answers did not open: flag it and record the event (the reader gets
    /// [`ServiceError::Tampered`], and the case is not served).
    async fn integrity_failure(&self, ctx: &Ctx, actor: &Actor, stored: &StoredCase) -> ServiceError {
        let event = self
            .event(ctx, AuditAction::CaseIntegrityFailed, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", stored.id)
            .outcome(passage_domain::Outcome::Failure);
        let flagged = async {
            let mut tx = self.begin().await?;
            cases::flag_integrity_failure(&mut tx.conn(), stored.id, self.now()).await?;
            audit::append(&mut tx.conn(), &event).await?;
            tx.commit().await?;
            Ok::<(), ServiceError>(())
        };
        match flagged.await {
            Ok(()) => ServiceError::Tampered,
            Err(e) => e,
        }
    }

    /// Change a case's answers. `revision` is the revision the user started from: if someone
    /// else changed the case since, nothing is saved and the conflict names what they changed.
    /// The answers are checked against the form version the case was made with.
    pub async fn update_case(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        answers: &Instance,
        revision: i64,
    ) -> Result<CaseRecord, ServiceError> {
        let stored = self.editable_case(actor, id).await?;
        if stored.revision != revision {
            return Err(self.stale(&stored, revision).await);
        }
        let form = self.form_model(stored.form_version).await?;
        let language = form.default_language.clone().unwrap_or_default();
        let now = self.now();
        let record = check(&form, answers, now.to_datetime().date(), &language)
            .map_err(ServiceError::InvalidRecord)?;
        let before = self.open_answers(&stored)?;
        let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
        flatten(&before, "", &mut old);
        flatten(&record, "", &mut new);
        let changed: BTreeMap<String, Option<String>> = old
            .keys()
            .chain(new.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .map(|k| (k.clone(), old.get(k).cloned()))
            .collect();
        if changed.is_empty() {
            return Ok(record_of(stored, before));
        }
        let key = self.case_key(&stored)?;
        let sealed = seal_parts(&form, &record, id, &key)?;
        let version = seal_version(&key, id, revision + 1, now, actor.user_id(), &changed)?;
        let updated = StoredCase {
            reporting: sealed.reporting,
            identifying: sealed.identifying,
            sensitive: sealed.sensitive,
            county: county_of(&record),
            updated_at: now,
            revision: revision + 1,
            ..stored
        };
        let mut tx = self.begin().await?;
        if let Err(e) = cases::update_answers(&mut tx.conn(), &updated, revision).await {
            drop(tx);
            return Err(match e {
                passage_store::StoreError::Conflict => self.stale(&updated, revision).await,
                other => other.into(),
            });
        }
        cases::add_version(&mut tx.conn(), id, &version).await?;
        cases::clear_index(&mut tx.conn(), id).await?;
        cases::insert_index(
            &mut tx.conn(),
            id,
            &index_entries(&form, &record, self.search_key()),
        )
        .await?;
        if let (Some(person), Some(identity)) = (updated.person_id, crate::persons::identity_of(&record)) {
            self.refresh_person(&mut tx.conn(), person, &identity).await?;
        }
        let event = self
            .event(ctx, AuditAction::CaseUpdated, actor.user_id())
            .org(Some(updated.owner_org))
            .target("case", id)
            .detail("revision", revision + 1)
            .detail("fields", changed.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(record_of(updated, record))
    }

    /// The conflict answered when a case moved on past `seen`: which fields others changed.
    pub(crate) async fn stale(&self, stored: &StoredCase, seen: i64) -> ServiceError {
        let mut fields = Vec::new();
        if let Ok(mut pooled) = self.db.acquire().await
            && let Ok(versions) = cases::versions(&mut pooled.conn(), stored.id, seen).await
        {
            for v in versions {
                for f in serde_json::from_str::<Vec<String>>(&v.changed).unwrap_or_default() {
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
            }
        }
        ServiceError::Stale { fields }
    }

    /// The edits of a case, oldest first, with the earlier values decrypted for its reader.
    pub async fn case_versions(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
    ) -> Result<Vec<CaseVersion>, ServiceError> {
        let stored = self.readable_case(actor, id).await?;
        let versions = {
            let mut pooled = self.db.acquire().await?;
            cases::versions(&mut pooled.conn(), id, 0).await?
        };
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        // Earlier values of identifying fields are the identity too.
        let hidden: Vec<String> = if self.identity_access(actor, &stored).await?.0 {
            Vec::new()
        } else {
            let form = self.form_model(stored.form_version).await?;
            form.fields()
                .into_iter()
                .filter(|(f, _)| f.sensitivity == Some(passage_xlsform::Sensitivity::Identifying))
                .map(|(f, _)| f.name.clone())
                .collect()
        };
        let is_hidden = |path: &str| {
            let leaf = path.rsplit('/').next().unwrap_or(path);
            hidden.iter().any(|h| h == leaf)
        };
        let key = self.case_key(&stored)?;
        versions
            .into_iter()
            .map(|v| {
                let plain = key.open(id.as_bytes(), &format!("version:{}", v.revision), &v.previous)?;
                let previous: BTreeMap<String, Option<String>> =
                    serde_json::from_slice(&plain).map_err(|e| ServiceError::Internal(e.to_string()))?;
                Ok(CaseVersion {
                    revision: v.revision,
                    at: v.at,
                    actor: v.actor,
                    changes: previous
                        .into_iter()
                        .map(|(path, value)| {
                            let value = if is_hidden(&path) {
                                value.map(|_| "(restricted)".to_owned())
                            } else {
                                value
                            };
                            (path, value)
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Assign a case to a member of its organisation who may work on it, and set (or clear)
    /// the date its next step is due.
    pub async fn assign_case(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        assignee: Option<UserId>,
        due_on: Option<time::Date>,
        revision: Option<i64>,
    ) -> Result<(), ServiceError> {
        let stored = self.editable_case(actor, id).await?;
        let (_, edit) = record_permissions(&stored.programme);
        let mut tx = self.begin().await?;
        if let Some(user) = assignee {
            let (grants, _) = passage_store::users::grants(&mut tx.conn(), user).await?;
            if !grants
                .iter()
                .any(|g| g.org == stored.owner_org && g.permissions.contains(&edit))
            {
                return Err(InvalidValue::new(
                    "assignee",
                    "is not a member of the case's organisation who may work on its records",
                )
                .into());
            }
        }
        let due = due_on
            .map(|d| d.format(&time::format_description::well_known::Iso8601::DATE))
            .transpose()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let seen = revision.unwrap_or(stored.revision);
        if let Err(e) = cases::assign(&mut tx.conn(), id, assignee, due.as_deref(), seen, self.now()).await {
            drop(tx);
            return Err(match e {
                passage_store::StoreError::Conflict => self.stale(&stored, seen).await,
                other => other.into(),
            });
        }
        // Kept with the answer edits, so the history shows who reassigned the case and when.
        let mut previous = BTreeMap::new();
        if stored.assigned_to != assignee {
            previous.insert("assigned_to", stored.assigned_to.map(|u| u.to_string()));
        }
        if stored.due_on != due {
            previous.insert("due_on", stored.due_on.clone());
        }
        if !previous.is_empty() {
            let key = self.case_key(&stored)?;
            let version = seal_version(&key, id, seen + 1, self.now(), actor.user_id(), &previous)?;
            cases::add_version(&mut tx.conn(), id, &version).await?;
        }
        let event = self
            .event(ctx, AuditAction::CaseAssigned, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", id)
            .detail("assignee", assignee.map(|u| u.to_string()).unwrap_or_default())
            .detail("due_on", due.unwrap_or_default());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of an organisation's cases narrowed by `q` (audited; the audit keeps which
    /// filters were used, never a searched name). Names are shown decrypted.
    pub async fn search_cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        q: &CaseQuery,
    ) -> Result<CasePage, ServiceError> {
        let org = q.org.ok_or(ServiceError::NotFound)?;
        let may = |p: Permission| actor.authorize(p, Scope::Org(org)).is_ok();
        let programmes: Vec<String> = match &q.programme {
            Some(p) => {
                authorize(actor, record_permissions(p).0, Scope::Org(org))?;
                vec![p.clone()]
            }
            None => {
                if !may(Permission::CasesView) && !may(Permission::CrossingsView) {
                    authorize(actor, Permission::CasesView, Scope::Org(org))?;
                }
                self.programmes()
                    .await?
                    .into_iter()
                    .map(|p| p.programme.code)
                    .filter(|p| may(record_permissions(p).0))
                    .collect()
            }
        };
        let day_start = |d: time::Date| Timestamp::from_datetime(d.midnight().assume_utc());
        let today = self.now().to_datetime().date();
        let page_size = q.page_size.clamp(1, 500);
        let page = q.page.max(1);
        let filter = CaseFilter {
            org: Some(org),
            programmes,
            stage: q.stage.clone(),
            county: q.county.clone(),
            assigned_to: q.assigned_to,
            number: q.number.as_ref().map(|n| n.trim().to_uppercase()),
            name_hashes: q
                .name
                .as_deref()
                .map(|n| crate::persons::name_query(self.search_key(), n))
                .unwrap_or_default(),
            from: q.registered_from.map(day_start),
            to: q
                .registered_to
                .and_then(|d| d.next_day())
                .map(|d| Timestamp::from_micros(day_start(d).micros() - 1)),
            open_only: q.open_only,
            due_before: q.overdue.then(|| today.to_string()),
            sort: q.sort,
            limit: i64::from(page_size),
            offset: i64::from(page - 1) * i64::from(page_size),
        };
        let (mut rows, mut total) = {
            let mut pooled = self.db.acquire().await?;
            cases::search(&mut pooled.conn(), &filter).await?
        };
        let grants = self.grants_of(actor, &rows).await?;
        let names = {
            let mut pooled = self.db.acquire().await?;
            if q.name.is_some() {
                // A name must not lead to a need-to-know case outside the reader's cases.
                let before = rows.len();
                rows.retain(|c| self.identity_visible(actor, &grants, c));
                total -= (before - rows.len()) as i64;
            }
            let people: Vec<uuid::Uuid> = rows
                .iter()
                .filter(|c| self.identity_visible(actor, &grants, c))
                .filter_map(|c| c.person_id)
                .collect();
            self.person_names(&mut pooled.conn(), &people).await?
        };
        let used: Vec<&str> = [
            ("programme", q.programme.is_some()),
            ("stage", q.stage.is_some()),
            ("county", q.county.is_some()),
            ("assignee", q.assigned_to.is_some()),
            ("number", q.number.is_some()),
            ("name", q.name.is_some()),
            ("dates", q.registered_from.is_some() || q.registered_to.is_some()),
            ("overdue", q.overdue),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let action = if q.name.is_some() || q.number.is_some() {
            AuditAction::CasesSearched
        } else {
            AuditAction::CasesListed
        };
        let event = self
            .event(ctx, action, actor.user_id())
            .org(Some(org))
            .detail("filters", used.join(","))
            .detail("count", rows.len());
        self.audit_read(&event).await?;
        Ok(CasePage {
            cases: rows
                .into_iter()
                .map(|c| {
                    let visible = self.identity_visible(actor, &grants, &c);
                    let name = c
                        .person_id
                        .filter(|_| visible)
                        .and_then(|p| names.get(&p).cloned());
                    CaseSummary {
                        identity_hidden: !visible && c.person_id.is_some(),
                        ..summary(c, name)
                    }
                })
                .collect(),
            total,
            page,
            page_size,
        })
    }

    /// The newest cases of an organisation, optionally of one programme.
    pub async fn cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        programme: Option<&str>,
    ) -> Result<Vec<CaseSummary>, ServiceError> {
        let q = CaseQuery {
            org: Some(org),
            programme: programme.map(str::to_owned),
            page_size: 200,
            ..CaseQuery::default()
        };
        Ok(self.search_cases(actor, ctx, &q).await?.cases)
    }

    /// Cases of the organisation whose identifying `field` equals `value` (exact, after
    /// normalising case and spaces), found through the blind index without decrypting.
    pub async fn find_cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        field: &str,
        value: &str,
    ) -> Result<Vec<uuid::Uuid>, ServiceError> {
        authorize(actor, Permission::CasesView, Scope::Org(org))?;
        let hash = self.search_key().index(field, &normalise(value));
        let mut pooled = self.db.acquire().await?;
        let mut found = Vec::new();
        for id in cases::find_by_index(&mut pooled.conn(), field, &hash).await? {
            if cases::get(&mut pooled.conn(), id)
                .await?
                .is_some_and(|c| c.owner_org == org)
            {
                found.push(id);
            }
        }
        drop(pooled);
        // The searched value is personal: the audit keeps only which field was searched.
        let event = self
            .event(ctx, AuditAction::CasesSearched, actor.user_id())
            .org(Some(org))
            .detail("field", field)
            .detail("found", found.len());
        self.audit_read(&event).await?;
        Ok(found)
    }
}

fn record_of(s: StoredCase, answers: Instance) -> CaseRecord {
    CaseRecord {
        id: s.id,
        number: s.number,
        programme: s.programme,
        owner_org: s.owner_org,
        form_version: s.form_version,
        stage: s.stage,
        revision: s.revision,
        created_by: s.created_by,
        created_at: s.created_at,
        person_id: s.person_id,
        person_name: None,
        assigned_to: s.assigned_to,
        due_on: s.due_on,
        closed: s.closed,
        shredded: s.wrapped_key.is_none(),
        answers,
        identity_hidden: false,
    }
}
