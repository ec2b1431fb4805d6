//! Case activity: services and assistance delivered, notes, documents and referrals to other
//! organisations. Notes, document names and bodies are sealed with the case's key; a referral
//! seals a snapshot of the shared answers under its own key, so the receiving organisation
//! reads exactly what was shared and never the case itself.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_crypto::envelope::DataKey;
use passage_domain::{Actor, AuditAction, InvalidValue, OrgId, Permission, Scope, Timestamp, UserId};
use passage_store::activity::{self, Attachment, Document, DocumentBody, Referral, SavedFilter, Service};
use passage_store::audit;

/// Kinds of service and assistance (coded, so that reports can count them).
pub const SERVICE_TYPES: [(&str, &str); 14] = [
    ("counselling", "Counselling"),
    ("medical", "Medical care"),
    ("psychosocial", "Psychosocial support"),
    ("shelter", "Shelter and accommodation"),
    ("legal", "Legal assistance"),
    ("documentation", "Travel or identity documents"),
    ("transport", "Transport"),
    ("cash", "Cash assistance"),
    ("in_kind", "In-kind assistance"),
    ("education", "Education"),
    ("vocational_training", "Vocational training"),
    ("business_support", "Business start-up support"),
    ("family_tracing", "Family tracing and reunification"),
    ("other", "Other"),
];

/// Why a referral was declined (coded: the reason holds no personal detail).
pub const DECLINE_REASONS: [(&str, &str); 4] = [
    ("no_capacity", "No capacity"),
    ("not_eligible", "Outside our mandate or criteria"),
    ("out_of_area", "Outside our area"),
    ("other", "Other"),
];

/// Largest document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// Document types accepted, recognised by their first bytes and their file name.
const DOCUMENT_TYPES: [(&str, &[u8], &[&str]); 4] = [
    ("application/pdf", b"%PDF-", &["pdf"]),
    ("image/png", b"\x89PNG\r\n\x1a\n", &["png"]),
    ("image/jpeg", b"\xff\xd8\xff", &["jpg", "jpeg"]),
    ("text/plain", b"", &["txt"]),
];

/// A service to record.
#[derive(Debug, Clone)]
pub struct NewService {
    pub service_type: String,
    pub delivered_on: time::Date,
    pub provider_org: Option<OrgId>,
    /// Decimal amount, with `currency` (ISO 4217), when the service has a money value.
    pub value: Option<String>,
    pub currency: Option<String>,
}

/// A service as shown in a case.
#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub id: uuid::Uuid,
    pub service_type: String,
    pub delivered_on: String,
    pub provider_org: Option<OrgId>,
    pub value: Option<String>,
    pub currency: Option<String>,
    pub recorded_by: Option<UserId>,
    pub recorded_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NoteRecord {
    pub id: uuid::Uuid,
    pub body: String,
    pub author: Option<UserId>,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct DocumentInfo {
    pub id: uuid::Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub uploaded_by: Option<UserId>,
    pub at: Timestamp,
}

/// A referral as either organisation sees it; `shared` is filled only when asked for one.
#[derive(Debug, Clone)]
pub struct ReferralRecord {
    pub id: uuid::Uuid,
    pub case_id: uuid::Uuid,
    pub from_org: OrgId,
    pub to_org: OrgId,
    pub status: String,
    pub service_type: String,
    pub shared_fields: Vec<String>,
    pub shared: Vec<SharedAnswer>,
    pub requested_by: Option<UserId>,
    pub requested_at: Timestamp,
    pub responded_at: Option<Timestamp>,
    pub decline_reason: Option<String>,
    pub completed_at: Option<Timestamp>,
    /// The person withdrew (or never gave) consent to share with the receiving organisation:
    /// the identifying answers are not shown to it.
    pub identity_withheld: bool,
}

/// One answer a referral shares, labelled as the case's form labels it (the receiving
/// organisation cannot read the form version's case, so the snapshot carries the labels).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedAnswer {
    pub field: String,
    pub label: String,
    /// The answer as shown: choices by their labels.
    pub value: String,
    /// The answer as stored (choice codes).
    pub raw: String,
}

fn referral_record(r: Referral, shared: Vec<SharedAnswer>) -> ReferralRecord {
    ReferralRecord {
        id: r.id,
        case_id: r.case_id,
        from_org: r.from_org,
        to_org: r.to_org,
        status: r.status,
        service_type: r.service_type,
        shared_fields: serde_json::from_str(&r.shared_fields).unwrap_or_default(),
        shared,
        requested_by: r.requested_by,
        requested_at: r.requested_at,
        responded_at: r.responded_at,
        decline_reason: r.decline_reason,
        completed_at: r.completed_at,
        identity_withheld: false,
    }
}

/// Where the packed ones of these bodies are.
pub(crate) fn packed(bodies: &[DocumentBody]) -> Vec<passage_store::BodyAt> {
    bodies
        .iter()
        .filter_map(|b| match b {
            DocumentBody::Packed(at) => Some(*at),
            DocumentBody::Inline(_) => None,
        })
        .collect()
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The file extension a download of `content_type` (one [`document_type`] accepted) is named with.
pub fn document_extension(content_type: &str) -> &'static str {
    DOCUMENT_TYPES
        .iter()
        .find(|(t, _, _)| *t == content_type)
        .map_or("txt", |(_, _, extensions)| extensions[0])
}

/// The content type of an upload, if its bytes and its name agree on an accepted type.
pub fn document_type(name: &str, bytes: &[u8]) -> Result<&'static str, ServiceError> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some((content_type, magic, _)) = DOCUMENT_TYPES
        .iter()
        .find(|(_, _, extensions)| extensions.contains(&extension.as_str()))
    else {
        return Err(InvalidValue::new("document", "must be a PDF, PNG, JPEG or plain-text file").into());
    };
    let genuine = if magic.is_empty() {
        // Plain text: valid UTF-8 without control bytes other than whitespace.
        std::str::from_utf8(bytes).is_ok_and(|t| !t.chars().any(|c| c.is_control() && !c.is_whitespace()))
    } else {
        bytes.starts_with(magic)
    };
    if genuine {
        Ok(content_type)
    } else {
        Err(InvalidValue::new("document", format!("is not really a .{extension} file")).into())
    }
}

impl Passage {
    /// Record a service delivered to the person of a case.
    pub async fn record_service(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        new: &NewService,
    ) -> Result<uuid::Uuid, ServiceError> {
        let stored = self.editable_case(actor, case).await?;
        if !SERVICE_TYPES.iter().any(|(code, _)| *code == new.service_type) {
            return Err(InvalidValue::new("service_type", "is not one of the service types").into());
        }
        if new.delivered_on > self.now().to_datetime().date() {
            return Err(InvalidValue::new("delivered_on", "cannot be in the future").into());
        }
        let value = new.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let currency = new.currency.as_deref().map(str::trim).filter(|c| !c.is_empty());
        match (value, currency) {
            (Some(v), _) if v.parse::<f64>().map_or(true, |n| !n.is_finite() || n < 0.0) => {
                return Err(InvalidValue::new("value", "must be a positive number").into());
            }
            (Some(_), None) => return Err(InvalidValue::new("currency", "is required with a value").into()),
            (_, Some(c)) if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
                return Err(
                    InvalidValue::new("currency", "must be a three-letter code such as USD or LRD").into(),
                );
            }
            (None, Some(_)) => return Err(InvalidValue::new("value", "is required with a currency").into()),
            _ => {}
        }
        if let Some(org) = new.provider_org {
            self.organisation(&Actor::Operator, org).await?;
        }
        let service = Service {
            id: uuid::Uuid::now_v7(),
            case_id: case,
            service_type: new.service_type.clone(),
            delivered_on: new.delivered_on.to_string(),
            provider_org: new.provider_org.map(|o| o.as_uuid()),
            value: value.map(str::to_owned),
            currency: currency.map(str::to_uppercase),
            recorded_by: actor.user_id().map(|u| u.as_uuid()),
            recorded_at: self.now().micros(),
        };
        let mut tx = self.begin().await?;
        activity::add_service(&mut tx.conn(), &service).await?;
        let event = self
            .event(ctx, AuditAction::ServiceRecorded, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", case)
            .detail("service_type", &service.service_type);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(service.id)
    }

    pub async fn services(
        &self,
        actor: &Actor,
        case: uuid::Uuid,
    ) -> Result<Vec<ServiceRecord>, ServiceError> {
        self.readable_case(actor, case).await?;
        let mut pooled = self.db.acquire().await?;
        Ok(activity::services(&mut pooled.conn(), case)
            .await?
            .into_iter()
            .map(|s| ServiceRecord {
                id: s.id,
                service_type: s.service_type,
                delivered_on: s.delivered_on,
                provider_org: s.provider_org.map(OrgId::from_uuid),
                value: s.value,
                currency: s.currency,
                recorded_by: s.recorded_by.map(UserId::from_uuid),
                recorded_at: Timestamp::from_micros(s.recorded_at),
            })
            .collect())
    }

    /// Add a note to a case (sealed: notes are free text about a person).
    pub async fn add_note(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        body: &str,
    ) -> Result<(), ServiceError> {
        let stored = self.editable_case(actor, case).await?;
        let body = body.trim();
        if body.is_empty() {
            return Err(InvalidValue::new("note", "is empty").into());
        }
        if body.len() > 20_000 {
            return Err(InvalidValue::new("note", "is longer than 20,000 characters").into());
        }
        let id = uuid::Uuid::now_v7();
        let key = self.case_key(&stored)?;
        let note = Attachment {
            id,
            case_id: case,
            body: key.seal(case.as_bytes(), &format!("note:{id}"), body.as_bytes())?,
            author: actor.user_id(),
            at: self.now(),
        };
        let mut tx = self.begin().await?;
        activity::add_note(&mut tx.conn(), &note).await?;
        let event = self
            .event(ctx, AuditAction::NoteAdded, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", case);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A case's notes, decrypted (the case read that shows them is audited).
    pub async fn notes(&self, actor: &Actor, case: uuid::Uuid) -> Result<Vec<NoteRecord>, ServiceError> {
        let stored = self.readable_case(actor, case).await?;
        let notes = {
            let mut pooled = self.db.acquire().await?;
            activity::notes(&mut pooled.conn(), case).await?
        };
        if notes.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.case_key(&stored)?;
        notes
            .into_iter()
            .map(|n| {
                let plain = key.open(case.as_bytes(), &format!("note:{}", n.id), &n.body)?;
                Ok(NoteRecord {
                    id: n.id,
                    body: String::from_utf8(plain).map_err(internal)?,
                    author: n.author,
                    at: n.at,
                })
            })
            .collect()
    }

    /// Attach a document to a case: size-limited, its type checked against its content, and
    /// stored sealed.
    pub async fn add_document(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        name: &str,
        bytes: &[u8],
    ) -> Result<uuid::Uuid, ServiceError> {
        let stored = self.editable_case(actor, case).await?;
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
        if name.is_empty() || name.len() > 200 {
            return Err(InvalidValue::new("document", "needs a file name of at most 200 characters").into());
        }
        if bytes.is_empty() {
            return Err(InvalidValue::new("document", "is empty").into());
        }
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(InvalidValue::new("document", "is larger than 10 MiB").into());
        }
        let content_type = document_type(name, bytes)?;
        let id = uuid::Uuid::now_v7();
        let key = self.case_key(&stored)?;
        let doc = Document {
            id,
            case_id: case,
            name: key.seal(case.as_bytes(), &format!("document-name:{id}"), name.as_bytes())?,
            content_type: content_type.to_owned(),
            size: bytes.len() as i64,
            uploaded_by: actor.user_id(),
            at: self.now(),
        };
        let body = key.seal(case.as_bytes(), &format!("document:{id}"), bytes)?;
        let body = self.keep_bodies(vec![body]).await?.remove(0);
        let event = self
            .event(ctx, AuditAction::DocumentAdded, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", case)
            .detail("document", id)
            .detail("content_type", content_type)
            .detail("size", bytes.len());
        let saved = async {
            let mut tx = self.begin().await?;
            activity::add_document(&mut tx.conn(), &doc, &body).await?;
            audit::append(&mut tx.conn(), &event).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(())
        }
        .await;
        if saved.is_err() {
            self.release_bodies(packed(std::slice::from_ref(&body))).await;
        }
        saved.map(|()| id)
    }

    /// Keep sealed document bodies where the database wants them: appended to its document
    /// packs (on a blocking thread, before the rows naming them commit), or handed back to be
    /// stored in the rows.
    pub(crate) async fn keep_bodies(&self, bodies: Vec<Vec<u8>>) -> Result<Vec<DocumentBody>, ServiceError> {
        let Some(files) = self.db.document_files().cloned() else {
            return Ok(bodies.into_iter().map(DocumentBody::Inline).collect());
        };
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        tokio::task::spawn_blocking(move || {
            let mut kept = Vec::with_capacity(bodies.len());
            for body in &bodies {
                match files.append(body) {
                    Ok(at) => kept.push(at),
                    Err(e) => {
                        let _ = files.release(&kept);
                        return Err(e);
                    }
                }
            }
            Ok(kept.into_iter().map(DocumentBody::Packed).collect())
        })
        .await
        .map_err(internal)?
        .map_err(Into::into)
    }

    /// Give back the pack space of bodies whose rows did not commit or were shredded. A
    /// failure is only logged: the sweep at the next start gives it back.
    pub(crate) async fn release_bodies(&self, ranges: Vec<passage_store::BodyAt>) {
        let Some(files) = self.db.document_files().cloned() else {
            return;
        };
        if ranges.is_empty() {
            return;
        }
        let released = tokio::task::spawn_blocking(move || files.release(&ranges)).await;
        if let Ok(Err(e)) | Err(e) = released.map_err(|e| passage_store::StoreError::File(e.to_string())) {
            tracing::warn!(error = %e, "document pack space left for the next start's sweep");
        }
    }

    /// A stored document's sealed body, read from its pack if it is not in its row.
    pub(crate) async fn sealed_body(&self, body: DocumentBody) -> Result<Vec<u8>, ServiceError> {
        match (body, self.db.document_files().cloned()) {
            (DocumentBody::Inline(body), _) => Ok(body),
            (DocumentBody::Packed(at), Some(files)) => tokio::task::spawn_blocking(move || files.read(at))
                .await
                .map_err(internal)?
                .map_err(Into::into),
            (DocumentBody::Packed(_), None) => Err(ServiceError::Internal(
                "a document body is in a pack, but this database keeps none".into(),
            )),
        }
    }

    /// Give back the pack space no committed row names (bodies of registrations refused or
    /// cut short by a crash). Run at start; packs another process writes to are left alone.
    /// Returns the bytes given back.
    pub async fn sweep_document_files(&self) -> Result<u64, ServiceError> {
        let Some(files) = self.db.document_files().cloned() else {
            return Ok(0);
        };
        let kept = {
            let mut pooled = self.db.acquire().await?;
            activity::packed_bodies(&mut pooled.conn()).await?
        };
        tokio::task::spawn_blocking(move || files.sweep(&kept))
            .await
            .map_err(internal)?
            .map_err(Into::into)
    }

    pub async fn documents(
        &self,
        actor: &Actor,
        case: uuid::Uuid,
    ) -> Result<Vec<DocumentInfo>, ServiceError> {
        let stored = self.readable_case(actor, case).await?;
        // Documents (identity papers, photos) are the identity of a need-to-know case.
        self.require_identity(actor, &stored).await?;
        let docs = {
            let mut pooled = self.db.acquire().await?;
            activity::documents(&mut pooled.conn(), case).await?
        };
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.case_key(&stored)?;
        docs.into_iter()
            .map(|d| {
                let name = key.open(case.as_bytes(), &format!("document-name:{}", d.id), &d.name)?;
                Ok(DocumentInfo {
                    id: d.id,
                    name: String::from_utf8(name).map_err(internal)?,
                    content_type: d.content_type,
                    size: d.size,
                    uploaded_by: d.uploaded_by,
                    at: d.at,
                })
            })
            .collect()
    }

    /// One document's content, decrypted (audited).
    pub async fn document(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(DocumentInfo, Vec<u8>), ServiceError> {
        let stored = self.readable_case(actor, case).await?;
        self.require_identity(actor, &stored).await?;
        let (doc, body) = {
            let mut pooled = self.db.acquire().await?;
            activity::document_body(&mut pooled.conn(), id)
                .await?
                .filter(|(d, _)| d.case_id == case)
                .ok_or(ServiceError::NotFound)?
        };
        let body = self.sealed_body(body).await?;
        let key = self.case_key(&stored)?;
        let name = key.open(case.as_bytes(), &format!("document-name:{id}"), &doc.name)?;
        let bytes = key.open(case.as_bytes(), &format!("document:{id}"), &body)?;
        let event = self
            .event(ctx, AuditAction::DocumentViewed, actor.user_id())
            .org(Some(stored.owner_org))
            .target("case", case)
            .detail("document", id);
        self.audit_read(&event).await?;
        Ok((
            DocumentInfo {
                id,
                name: String::from_utf8(name).map_err(internal)?,
                content_type: doc.content_type,
                size: doc.size,
                uploaded_by: doc.uploaded_by,
                at: doc.at,
            },
            bytes,
        ))
    }

    /// Refer a case to another organisation for a service, sharing only `fields` (top-level
    /// answers of the case's form, including the person's name fields if chosen).
    pub async fn refer_case(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        case: uuid::Uuid,
        to_org: OrgId,
        service_type: &str,
        fields: &[String],
    ) -> Result<uuid::Uuid, ServiceError> {
        let stored = self.editable_case(actor, case).await?;
        if to_org == stored.owner_org {
            return Err(InvalidValue::new("to", "is the organisation that holds the case").into());
        }
        self.organisation(&Actor::Operator, to_org)
            .await
            .map_err(|_| InvalidValue::new("to", "is not an organisation of this installation"))?;
        if !SERVICE_TYPES.iter().any(|(code, _)| *code == service_type) {
            return Err(InvalidValue::new("service_type", "is not one of the service types").into());
        }
        let record = self.case(actor, ctx, case).await?;
        let form = self.form_model(stored.form_version).await?;
        let language = form.default_language.clone().unwrap_or_default();
        let mut shared = Vec::new();
        for f in fields {
            let Some(field) = form.field(f) else {
                return Err(
                    InvalidValue::new("fields", format!("`{f}` is not a field of the case's form")).into(),
                );
            };
            if let Some(raw) = record.answers.values.get(f) {
                let value = match field.kind.choice_list() {
                    Some(list) => raw
                        .split_whitespace()
                        .map(|v| form.choice_label(list, v, &language).unwrap_or(v))
                        .collect::<Vec<_>>()
                        .join(", "),
                    None => raw.clone(),
                };
                shared.push(SharedAnswer {
                    field: f.clone(),
                    label: field.label.get(&language).unwrap_or(f).replace("**", ""),
                    value,
                    raw: raw.clone(),
                });
            }
        }
        // Who the person is leaves the organisation only with their consent to share it there.
        let identifying = shared.iter().any(|a| {
            form.field(&a.field)
                .is_some_and(|f| f.sensitivity == Some(passage_xlsform::Sensitivity::Identifying))
        });
        let consents = match stored.person_id {
            Some(person) => self.may_share_with(person, to_org).await?,
            None => false,
        };
        if identifying && !consents {
            return Err(InvalidValue::new(
                "fields",
                "include who the person is, but they have not consented to sharing with this organisation: record their consent on their page, or share only answers that do not identify them",
            )
            .into());
        }
        let id = uuid::Uuid::now_v7();
        let key = DataKey::generate()?;
        let referral = Referral {
            id,
            case_id: case,
            from_org: stored.owner_org,
            to_org,
            status: "requested".into(),
            service_type: service_type.to_owned(),
            shared_fields: serde_json::to_string(fields).map_err(internal)?,
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            shared: key.seal(
                id.as_bytes(),
                "shared",
                &serde_json::to_vec(&shared).map_err(internal)?,
            )?,
            requested_by: actor.user_id(),
            requested_at: self.now(),
            responded_by: None,
            responded_at: None,
            decline_reason: None,
            completed_at: None,
            revision: 1,
        };
        let mut tx = self.begin().await?;
        activity::add_referral(&mut tx.conn(), &referral).await?;
        let event = self
            .event(ctx, AuditAction::ReferralRequested, actor.user_id())
            .org(Some(stored.owner_org))
            .target("referral", id)
            .detail("case", case)
            .detail("to", to_org)
            .detail("fields", fields.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Referrals sent by or to an organisation (without shared content), or those of a case.
    pub async fn referrals(
        &self,
        actor: &Actor,
        org: Option<OrgId>,
        case: Option<uuid::Uuid>,
    ) -> Result<Vec<ReferralRecord>, ServiceError> {
        match (org, case) {
            (_, Some(c)) => {
                self.readable_case(actor, c).await?;
            }
            (Some(o), None) => authorize(actor, Permission::CasesView, Scope::Org(o))?,
            (None, None) => return Err(ServiceError::NotFound),
        }
        let mut pooled = self.db.acquire().await?;
        Ok(activity::referrals(&mut pooled.conn(), org, case)
            .await?
            .into_iter()
            .map(|r| referral_record(r, Vec::new()))
            .collect())
    }

    /// A referral with what it shares, for members of either organisation (audited).
    pub async fn referral(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<ReferralRecord, ServiceError> {
        let r = self.referral_for(actor, id, Permission::CasesView).await?;
        let key = DataKey::unwrap(&r.wrapped_key, &self.master, id.as_bytes())?;
        let mut shared: Vec<SharedAnswer> =
            serde_json::from_slice(&key.open(id.as_bytes(), "shared", &r.shared)?).map_err(internal)?;
        // On the receiving side, a withdrawn consent takes the identifying answers away at once.
        let receiving = actor
            .authorize(Permission::CasesView, Scope::Org(r.from_org))
            .is_err();
        let mut withheld = false;
        if receiving {
            let case = {
                let mut pooled = self.db.acquire().await?;
                passage_store::cases::get(&mut pooled.conn(), r.case_id).await?
            };
            if let Some(case) = case {
                let form = self.form_model(case.form_version).await?;
                let consents = match case.person_id {
                    Some(person) => self.may_share_with(person, r.to_org).await?,
                    None => false,
                };
                if !consents {
                    let before = shared.len();
                    shared.retain(|a| {
                        form.field(&a.field)
                            .is_none_or(|f| f.sensitivity != Some(passage_xlsform::Sensitivity::Identifying))
                    });
                    withheld = shared.len() < before;
                }
            }
        }
        let event = self
            .event(ctx, AuditAction::ReferralViewed, actor.user_id())
            .org(actor_org(actor, &r))
            .target("referral", id);
        self.audit_read(&event).await?;
        Ok(ReferralRecord {
            identity_withheld: withheld,
            ..referral_record(r, shared)
        })
    }

    /// A referral the actor's organisation is party to, with `permission` there.
    async fn referral_for(
        &self,
        actor: &Actor,
        id: uuid::Uuid,
        permission: Permission,
    ) -> Result<Referral, ServiceError> {
        let r = {
            let mut pooled = self.db.acquire().await?;
            activity::referral(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let party = [r.to_org, r.from_org]
            .into_iter()
            .any(|o| actor.authorize(permission, Scope::Org(o)).is_ok());
        if !party {
            authorize(actor, permission, Scope::Org(r.to_org))?;
        }
        Ok(r)
    }

    /// The receiving organisation accepts or declines a requested referral.
    pub async fn answer_referral(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        accept: bool,
        decline_reason: Option<&str>,
    ) -> Result<(), ServiceError> {
        let r = self.referral_for(actor, id, Permission::CasesView).await?;
        authorize(actor, Permission::CasesEdit, Scope::Org(r.to_org))?;
        let reason = decline_reason.map(str::trim).filter(|r| !r.is_empty());
        match (accept, reason) {
            (false, None) => return Err(InvalidValue::new("reason", "is required to decline").into()),
            (false, Some(code)) if !DECLINE_REASONS.iter().any(|(c, _)| *c == code) => {
                return Err(InvalidValue::new("reason", "is not one of the decline reasons").into());
            }
            _ => {}
        }
        let status = if accept { "accepted" } else { "declined" };
        let mut tx = self.begin().await?;
        activity::respond_referral(
            &mut tx.conn(),
            id,
            status,
            actor.user_id(),
            reason.filter(|_| !accept),
            self.now(),
        )
        .await
        .map_err(|_| InvalidValue::new("referral", format!("has already been answered ({})", r.status)))?;
        let event = self
            .event(ctx, AuditAction::ReferralAnswered, actor.user_id())
            .org(Some(r.to_org))
            .target("referral", id)
            .detail("status", status);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The receiving organisation marks an accepted referral's service completed.
    pub async fn complete_referral(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        let r = self.referral_for(actor, id, Permission::CasesView).await?;
        authorize(actor, Permission::CasesEdit, Scope::Org(r.to_org))?;
        let mut tx = self.begin().await?;
        activity::complete_referral(&mut tx.conn(), id, self.now())
            .await
            .map_err(|_| InvalidValue::new("referral", format!("is {}, not accepted", r.status)))?;
        let event = self
            .event(ctx, AuditAction::ReferralCompleted, actor.user_id())
            .org(Some(r.to_org))
            .target("referral", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Save the current case-list filter under a name (codes only; the caller strips names
    /// and case numbers, which are personal).
    pub async fn save_filter(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        name: &str,
        query: &str,
    ) -> Result<(), ServiceError> {
        let user = actor.user_id().ok_or(ServiceError::NotFound)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(InvalidValue::new("name", "must be 1 to 60 characters").into());
        }
        let filter = SavedFilter {
            id: uuid::Uuid::now_v7(),
            user,
            name: name.to_owned(),
            query: query.to_owned(),
            created_at: self.now(),
        };
        let mut tx = self.begin().await?;
        activity::save_filter(&mut tx.conn(), &filter).await?;
        let event = self.event(ctx, AuditAction::FilterSaved, Some(user));
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn saved_filters(&self, actor: &Actor) -> Result<Vec<SavedFilter>, ServiceError> {
        let Some(user) = actor.user_id() else {
            return Ok(Vec::new());
        };
        let mut pooled = self.db.acquire().await?;
        Ok(activity::saved_filters(&mut pooled.conn(), user).await?)
    }

    pub async fn delete_filter(&self, actor: &Actor, id: uuid::Uuid) -> Result<(), ServiceError> {
        let user = actor.user_id().ok_or(ServiceError::NotFound)?;
        let mut pooled = self.db.acquire().await?;
        activity::delete_filter(&mut pooled.conn(), user, id).await?;
        Ok(())
    }
}

/// The organisation on whose behalf the actor reads a referral (receiving first).
fn actor_org(actor: &Actor, r: &Referral) -> Option<OrgId> {
    [r.to_org, r.from_org]
        .into_iter()
        .find(|o| actor.authorize(Permission::CasesView, Scope::Org(*o)).is_ok())
}
