//! Cases: registered through a programme's current form, checked by the same rules on every
//! channel, and stored with identifying and sensitive answers sealed under the case's own
//! data key. Only what a permitted reader asks for is decrypted, and every read is audited.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_crypto::envelope::DataKey;
use passage_domain::{Actor, AuditAction, OrgId, Permission, Scope, Timestamp, UserId};
use passage_store::audit;
use passage_store::cases::{self, StoredCase};
use passage_xlsform::check::{Instance, check};
use passage_xlsform::{Form, Sensitivity};
use serde_json::{Map, Value};

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
    pub answers: Instance,
}

/// A case in a list: its number, stage and reporting answers only (nothing decrypted).
#[derive(Debug, Clone)]
pub struct CaseSummary {
    pub id: uuid::Uuid,
    pub number: String,
    pub programme: String,
    pub stage: String,
    pub created_at: Timestamp,
    pub reporting: Value,
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
        let (_, edit) = record_permissions(programme);
        authorize(actor, edit, Scope::Org(org))?;
        let current = self
            .programmes()
            .await?
            .into_iter()
            .find(|p| p.programme.code == programme)
            .ok_or(ServiceError::NotFound)?
            .current
            .ok_or(ServiceError::NotFound)?;
        let form = self.form_model(current.id).await?;
        let language = form.default_language.clone().unwrap_or_default();
        let now = self.now();
        let record = check(&form, answers, now.to_datetime().date(), &language)
            .map_err(ServiceError::InvalidRecord)?;

        let id = uuid::Uuid::now_v7();
        let key = DataKey::generate()?;
        let seal = |level: Sensitivity, field: &str| -> Result<Option<Vec<u8>>, ServiceError> {
            let p = part(&form, &record, level);
            if p.values.is_empty() && p.repeats.values().all(|l| l.iter().all(|i| i.values.is_empty())) {
                return Ok(None);
            }
            Ok(Some(key.seal(
                id.as_bytes(),
                field,
                instance_to_json(&p).to_string().as_bytes(),
            )?))
        };
        let stored = StoredCase {
            id,
            number: String::new(),
            programme: programme.to_owned(),
            owner_org: org,
            form_version: current.id,
            stage: self.first_stage(programme).await?,
            wrapped_key: Some(key.wrap(&self.master, id.as_bytes())?),
            reporting: instance_to_json(&part(&form, &record, Sensitivity::Reporting)).to_string(),
            identifying: seal(Sensitivity::Identifying, "identifying")?,
            sensitive: seal(Sensitivity::Sensitive, "sensitive")?,
            created_by: actor.user_id(),
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let search = self.master.search_key();
        let year = now.to_datetime().year();
        let mut tx = self.db.begin().await?;
        let n = cases::next_number(&mut tx.conn(), programme, year).await?;
        let stored = StoredCase {
            number: format!("{}-{year}-{n:06}", programme.to_uppercase()),
            ..stored
        };
        cases::insert(&mut tx.conn(), &stored).await?;
        for (field, value) in &record.values {
            if form.field(field).and_then(|f| f.sensitivity) == Some(Sensitivity::Identifying) {
                cases::insert_index(&mut tx.conn(), id, field, &search.index(field, &normalise(value)))
                    .await?;
            }
        }
        let event = self
            .event(ctx, AuditAction::CaseRegistered, actor.user_id())
            .org(Some(org))
            .target("case", id)
            .detail("programme", programme)
            .detail("form_version", current.id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(CaseRecord {
            id,
            number: stored.number,
            programme: stored.programme,
            owner_org: org,
            form_version: current.id,
            stage: stored.stage,
            revision: stored.revision,
            created_by: stored.created_by,
            created_at: now,
            answers: record,
        })
    }

    /// One case, decrypted for a reader of its organisation (audited). Other organisations'
    /// cases are "not found".
    pub async fn case(&self, actor: &Actor, ctx: &Ctx, id: uuid::Uuid) -> Result<CaseRecord, ServiceError> {
        let stored = {
            let mut pooled = self.db.acquire().await?;
            cases::get(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let (view, _) = record_permissions(&stored.programme);
        authorize(actor, view, Scope::Org(stored.owner_org))?;
        let mut answers = instance_from_json(&serde_json::from_str(&stored.reporting).unwrap_or(Value::Null))
            .unwrap_or_default();
        if let Some(wrapped) = &stored.wrapped_key {
            let key = DataKey::unwrap(wrapped, &self.master, id.as_bytes())?;
            for (sealed, field) in [
                (&stored.identifying, "identifying"),
                (&stored.sensitive, "sensitive"),
            ] {
                if let Some(sealed) = sealed {
                    let plain = key.open(id.as_bytes(), field, sealed)?;
                    let value: Value =
                        serde_json::from_slice(&plain).map_err(|e| ServiceError::Internal(e.to_string()))?;
                    merge(&mut answers, instance_from_json(&value)?);
                }
            }
        }
        let mut tx = self.db.begin().await?;
        let event = self
            .event(ctx, AuditAction::CaseViewed, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(CaseRecord {
            id,
            number: stored.number,
            programme: stored.programme,
            owner_org: stored.owner_org,
            form_version: stored.form_version,
            stage: stored.stage,
            revision: stored.revision,
            created_by: stored.created_by,
            created_at: stored.created_at,
            answers,
        })
    }

    /// The newest cases of an organisation (numbers, stages and reporting answers; audited).
    pub async fn cases(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        programme: Option<&str>,
    ) -> Result<Vec<CaseSummary>, ServiceError> {
        let (view, _) = record_permissions(programme.unwrap_or(""));
        authorize(actor, view, Scope::Org(org))?;
        let mut tx = self.db.begin().await?;
        let mut rows = cases::list(&mut tx.conn(), org, programme, 200).await?;
        // Border crossings need their own permission even in an unfiltered list.
        if programme.is_none()
            && actor
                .authorize(Permission::CrossingsView, Scope::Org(org))
                .is_err()
        {
            rows.retain(|c| c.programme != "border");
        }
        let event = self
            .event(ctx, AuditAction::CasesListed, actor.user_id())
            .org(Some(org))
            .detail("count", rows.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|c| CaseSummary {
                id: c.id,
                number: c.number,
                programme: c.programme,
                stage: c.stage,
                created_at: c.created_at,
                reporting: serde_json::from_str(&c.reporting).unwrap_or(Value::Null),
            })
            .collect())
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
        let hash = self.master.search_key().index(field, &normalise(value));
        let mut tx = self.db.begin().await?;
        let mut found = Vec::new();
        for id in cases::find_by_index(&mut tx.conn(), field, &hash).await? {
            if cases::get(&mut tx.conn(), id)
                .await?
                .is_some_and(|c| c.owner_org == org)
            {
                found.push(id);
            }
        }
        // The searched value is personal: the audit keeps only which field was searched.
        let event = self
            .event(ctx, AuditAction::CasesSearched, actor.user_id())
            .org(Some(org))
            .detail("field", field)
            .detail("found", found.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(found)
    }
}
