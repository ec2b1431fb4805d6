//! Field collection with ODK clients: devices issued to members, the forms a device may fill
//! (as XForms), and submissions — stored sealed as received, then made records through the
//! same checks and audit as the web pages, or quarantined with the reason.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize, record_permissions};
use passage_crypto::envelope::DataKey;
use passage_crypto::{keyed_hash, random_token, sha256};
use passage_domain::{Actor, AuditAction, InvalidValue, OrgId, Permission, Scope, Timestamp, UserId};
use passage_openrosa::encryption::NamedFile;
use passage_openrosa::{Envelope, digest};
use passage_store::audit;
use passage_store::collection::{self, Device, State, StoredFile, Submission};
use std::collections::HashMap;
use std::sync::Arc;

/// The Digest realm ODK clients are challenged with.
pub const REALM: &str = "Passage";
/// How long a Digest nonce stays valid.
const NONCE_SECS: i64 = 300;
/// The largest POST Passage asks clients to send; Collect splits bigger submissions.
pub const MAX_SUBMISSION_BYTES: usize = 10 * 1024 * 1024;

/// A device as its administrators see it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub id: uuid::Uuid,
    pub name: String,
    pub user_id: UserId,
    pub digest_username: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
}

/// A newly issued device: its secrets are shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedDevice {
    pub device: DeviceInfo,
    /// The secret of the device's URL (`/key/{token}`).
    pub token: String,
    /// The Digest password that goes with `device.digest_username`.
    pub password: String,
}

/// A device that signed in, acting with its member's permissions in its organisation only.
#[derive(Debug, Clone)]
pub struct Collector {
    pub device_id: uuid::Uuid,
    pub org: OrgId,
    pub actor: Actor,
}

/// A form a device may fill, as the XForm ODK clients download.
#[derive(Debug, Clone)]
pub struct CollectionForm {
    pub form_id: String,
    pub title: String,
    pub version: String,
    pub xform: Arc<String>,
    pub md5: String,
}

/// One file of a POST.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One POST to the submission endpoint.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub xml: Vec<u8>,
    pub files: Vec<UploadedFile>,
    /// The client said more files follow (`*isIncomplete*`).
    pub incomplete: bool,
}

/// What the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Stored (201).
    Created(String),
    /// Already had all of it (202: "do not resend").
    Duplicate(String),
}

/// A submission as the quarantine list shows it: no answers.
#[derive(Debug, Clone)]
pub struct SubmissionSummary {
    pub id: uuid::Uuid,
    pub instance_id: String,
    pub programme: String,
    pub state: &'static str,
    pub problem: Option<String>,
    pub received_at: Timestamp,
    pub device_id: Option<uuid::Uuid>,
    pub case_id: Option<uuid::Uuid>,
    pub edit: bool,
    /// Set when read for correcting it: the form version it was filled in, and its owner.
    pub form_version: Option<uuid::Uuid>,
    pub org: Option<OrgId>,
}

fn device_info(d: &Device) -> DeviceInfo {
    DeviceInfo {
        id: d.id,
        name: d.name.clone(),
        user_id: d.user_id,
        digest_username: d.digest_username.clone(),
        created_at: d.created_at,
        revoked_at: d.revoked_at,
        last_seen_at: d.last_seen_at,
    }
}

fn summary_of(s: Submission) -> SubmissionSummary {
    SubmissionSummary {
        id: s.id,
        instance_id: s.instance_id,
        programme: s.programme,
        state: s.state.as_str(),
        problem: s.problem,
        received_at: s.received_at,
        device_id: s.device_id,
        case_id: s.case_id,
        edit: s.deprecated_id.is_some(),
        form_version: None,
        org: None,
    }
}

fn bad_submission(reason: impl Into<String>) -> ServiceError {
    InvalidValue::new("xml_submission_file", reason.into()).into()
}

impl Passage {
    /// Issue a device to `user`, a member of `org` who may register records.
    pub async fn issue_device(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        user: UserId,
        name: &str,
    ) -> Result<IssuedDevice, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(InvalidValue::new("name", "must be 1 to 80 characters").into());
        }
        if !self
            .device_members(actor, org)
            .await?
            .iter()
            .any(|(id, _)| *id == user)
        {
            return Err(InvalidValue::new(
                "user",
                "is not a member of this organisation who registers records",
            )
            .into());
        }
        let id = uuid::Uuid::now_v7();
        let token = random_token("")?;
        let password = random_token("")?;
        let digest_username = format!("device-{}", &id.simple().to_string()[20..]);
        let key = DataKey::generate()?;
        let ha1 = digest::ha1(&digest_username, REALM, &password);
        let device = Device {
            id,
            org_id: org,
            user_id: user,
            name: name.to_owned(),
            digest_username,
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            digest_ha1: key.seal(id.as_bytes(), "digest_ha1", ha1.as_bytes())?,
            created_by: actor.user_id(),
            created_at: self.now(),
            revoked_at: None,
            last_seen_at: None,
        };
        let mut tx = self.begin().await?;
        collection::insert_device(&mut tx.conn(), &device, &sha256(token.as_bytes())).await?;
        let event = self
            .event(ctx, AuditAction::DeviceIssued, actor.user_id())
            .org(Some(org))
            .target("device", id)
            .detail("for_user", user);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(IssuedDevice {
            device: device_info(&device),
            token,
            password,
        })
    }

    /// [`Self::issue_device`] for a member named by username (the CLI).
    pub async fn issue_device_to(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        username: &str,
        name: &str,
    ) -> Result<IssuedDevice, ServiceError> {
        let username = passage_domain::Username::parse(username)?;
        let user = {
            let mut pooled = self.db.acquire().await?;
            passage_store::users::by_username(&mut pooled.conn(), &username).await?
        }
        .ok_or(ServiceError::NotFound)?;
        self.issue_device(actor, ctx, org, user.0.id, name).await
    }

    /// Members a device may be issued to: those who register records, with their role.
    pub async fn device_members(
        &self,
        actor: &Actor,
        org: OrgId,
    ) -> Result<Vec<(UserId, String)>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let mut pooled = self.db.acquire().await?;
        let members = passage_store::users::members(&mut pooled.conn(), Some(org)).await?;
        Ok(members
            .into_iter()
            .filter(|m| !m.user.disabled && self.records_cases(&m.role))
            .map(|m| {
                let role = self
                    .roles()
                    .iter()
                    .find(|r| r.role == m.role)
                    .map(|r| r.label.clone())
                    .unwrap_or_else(|| m.role.to_string());
                (
                    m.user.id,
                    format!("{} ({}, {role})", m.user.display_name, m.user.username),
                )
            })
            .collect())
    }

    pub async fn devices(&self, actor: &Actor, org: OrgId) -> Result<Vec<DeviceInfo>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let mut pooled = self.db.acquire().await?;
        Ok(collection::devices_of(&mut pooled.conn(), org)
            .await?
            .iter()
            .map(device_info)
            .collect())
    }

    /// Revoke a device: its URL and password stop working at once.
    pub async fn revoke_device(&self, actor: &Actor, ctx: &Ctx, id: uuid::Uuid) -> Result<(), ServiceError> {
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::DevicesManage, Scope::Org(device.org_id))?;
        let mut tx = self.begin().await?;
        collection::revoke_device(&mut tx.conn(), id, self.now()).await?;
        let event = self
            .event(ctx, AuditAction::DeviceRevoked, actor.user_id())
            .org(Some(device.org_id))
            .target("device", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn collector(&self, device: Option<Device>) -> Result<Collector, ServiceError> {
        let device = device
            .filter(|d| d.revoked_at.is_none())
            .ok_or(ServiceError::BadToken)?;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let user = passage_store::users::get(&mut c, device.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::BadToken)?;
        let (grants, host_org) = passage_store::users::grants(&mut c, user.id).await?;
        drop(pooled);
        let now = self.now();
        if device.last_seen_at.is_none_or(|t| t.seconds_until(now) >= 60) {
            // A write like any other: queued behind the writer lock, not SQLite's busy wait.
            let mut tx = self.begin().await?;
            collection::touch_device(&mut tx.conn(), device.id, now).await?;
            tx.commit().await?;
        }
        // The device works for its own organisation only, whatever else its member may do.
        let grants = grants.into_iter().filter(|g| g.org == device.org_id).collect();
        Ok(Collector {
            device_id: device.id,
            org: device.org_id,
            actor: Actor::User {
                id: user.id,
                host_org: host_org.filter(|h| *h == device.org_id),
                grants,
                token_scope: None,
            },
        })
    }

    /// The device whose URL carries `token`.
    pub async fn collector_by_token(&self, token: &str) -> Result<Collector, ServiceError> {
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device_by_token(&mut pooled.conn(), &sha256(token.as_bytes())).await?
        };
        self.collector(device).await
    }

    /// A fresh Digest nonce: the time, signed, so any process can check it without state.
    pub fn digest_nonce(&self) -> String {
        let at = self.now().micros() / 1_000_000;
        let mac = keyed_hash(&self.throttle_key, format!("nonce:{at}").as_bytes());
        format!("{at:x}.{}", digest::md5_hex(&mac))
    }

    /// Whether a nonce is ours: `Some(fresh)` or `None` when forged.
    fn nonce_fresh(&self, nonce: &str) -> Option<bool> {
        let (at, mac) = nonce.split_once('.')?;
        let at_secs = i64::from_str_radix(at, 16).ok()?;
        let expected = keyed_hash(&self.throttle_key, format!("nonce:{at_secs}").as_bytes());
        if !passage_crypto::constant_time_eq(digest::md5_hex(&expected).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let age = self.now().micros() / 1_000_000 - at_secs;
        Some((0..=NONCE_SECS).contains(&age))
    }

    /// A device signing in by Digest. `Err(ServiceError::SessionExpired)` means the nonce is
    /// stale (the client retries with a new one); other failures are `BadToken`.
    pub async fn collector_by_digest(&self, header: &str, method: &str) -> Result<Collector, ServiceError> {
        let creds = digest::parse_authorization(header).ok_or(ServiceError::BadToken)?;
        let fresh = self.nonce_fresh(&creds.nonce).ok_or(ServiceError::BadToken)?;
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device_by_username(&mut pooled.conn(), &creds.username).await?
        }
        .filter(|d| d.revoked_at.is_none())
        .ok_or(ServiceError::BadToken)?;
        let key = DataKey::unwrap(&device.wrapped_key, &self.master, device.id.as_bytes())?;
        let ha1 = key.open(device.id.as_bytes(), "digest_ha1", &device.digest_ha1)?;
        let ha1 = String::from_utf8(ha1).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let expected = digest::expected_response(&ha1, method, &creds);
        if !passage_crypto::constant_time_eq(expected.as_bytes(), creds.response.as_bytes()) {
            return Err(ServiceError::BadToken);
        }
        if !fresh {
            return Err(ServiceError::SessionExpired);
        }
        self.collector(Some(device)).await
    }

    /// The forms this device may fill: each programme whose records its member may register.
    pub async fn collection_forms(&self, who: &Collector) -> Result<Vec<CollectionForm>, ServiceError> {
        let mut out = Vec::new();
        for p in self.programmes().await? {
            let (_, edit) = record_permissions(&p.programme.code);
            let Some(current) = p.current else { continue };
            if who.actor.authorize(edit, Scope::Org(who.org)).is_err() {
                continue;
            }
            let form = self.form_model(current.id).await?;
            out.push(self.xform_of(current.id, &form)?);
        }
        Ok(out)
    }

    fn xform_of(
        &self,
        version: uuid::Uuid,
        form: &passage_xlsform::Form,
    ) -> Result<CollectionForm, ServiceError> {
        if let Ok(cache) = self.xforms.read()
            && let Some(f) = cache.get(&version)
        {
            return Ok(f.clone());
        }
        let xml =
            passage_xlsform::xform::to_xform(form).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let f = CollectionForm {
            form_id: form.id.clone(),
            title: form.title.clone(),
            version: form.version.clone(),
            md5: digest::md5_hex(xml.as_bytes()),
            xform: Arc::new(xml),
        };
        if let Ok(mut cache) = self.xforms.write() {
            cache.insert(version, f.clone());
        }
        Ok(f)
    }

    /// The programme and form version a submission names, if this device may use them.
    async fn submission_form(
        &self,
        who: &Collector,
        form_id: &str,
        version: &str,
    ) -> Result<(String, uuid::Uuid), ServiceError> {
        let programme = self
            .programmes()
            .await?
            .into_iter()
            .find(|p| p.programme.form_id == form_id)
            .ok_or(ServiceError::NotFound)?
            .programme
            .code;
        let (_, edit) = record_permissions(&programme);
        authorize(&who.actor, edit, Scope::Org(who.org))?;
        let found = self
            .form_versions(&programme)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                InvalidValue::new(
                    "version",
                    format!("form {form_id} version {version} is not known to Passage: get the current form on the device"),
                )
            })?;
        Ok((programme, found.id))
    }

    /// Take one POST: store what is new (sealed), then make the record once every file has
    /// arrived. Re-sends of the same XML are harmless; a different XML under a known
    /// instanceID is refused (409) so nothing is silently replaced.
    pub async fn receive_submission(
        &self,
        who: &Collector,
        ctx: &Ctx,
        upload: Upload,
    ) -> Result<Receipt, ServiceError> {
        let (envelope, root) = Envelope::read(&upload.xml).map_err(|e| bad_submission(e.to_string()))?;
        let (programme, form_version) = self
            .submission_form(who, &envelope.form_id, &envelope.version)
            .await?;
        let digest_of_xml = sha256(&upload.xml).to_vec();
        let stored = || async {
            let mut pooled = self.db.acquire().await?;
            collection::submission_by_instance(&mut pooled.conn(), &envelope.instance_id).await
        };
        let mut existing = stored().await?;
        let now = self.now();
        if existing.is_none() {
            if let Some(receipt) = self
                .receive_whole(who, ctx, &upload, &envelope, &root, &programme, form_version)
                .await?
            {
                return Ok(receipt);
            }
            // The same record may have arrived meanwhile from another POST.
            existing = stored().await?;
        }
        let (submission, key, created) = match existing {
            Some(s) if s.xml_sha256 != digest_of_xml => {
                return Err(ServiceError::Conflict(
                    "a different submission with this instanceID (send the identical XML, or a new instanceID for an edit)",
                ));
            }
            Some(s) if s.org_id != who.org => return Err(ServiceError::NotFound),
            Some(s) => {
                let key = DataKey::unwrap(&s.wrapped_key, &self.master, s.id.as_bytes())?;
                (s, key, false)
            }
            None => {
                let form = self.form_model(form_version).await?;
                if form.public_key.is_some() && envelope.encrypted.is_none() {
                    return Err(bad_submission(
                        "this form encrypts records on the device, but this one arrived unencrypted: get the current form on the device",
                    ));
                }
                let expected = match &envelope.encrypted {
                    Some(e) => {
                        let mut all = e.media.clone();
                        all.push(e.xml_file.clone());
                        all
                    }
                    None => passage_openrosa::answers(&root, &form).files,
                };
                let id = uuid::Uuid::now_v7();
                let key = DataKey::generate()?;
                let s = Submission {
                    id,
                    instance_id: envelope.instance_id.clone(),
                    org_id: who.org,
                    programme: programme.clone(),
                    form_version,
                    device_id: Some(who.device_id),
                    received_by: who.actor.user_id(),
                    received_at: now,
                    updated_at: now,
                    xml_sha256: digest_of_xml,
                    wrapped_key: key.wrap(&self.master, id.as_bytes())?,
                    xml: key.seal(id.as_bytes(), "xml", &upload.xml)?,
                    encrypted: envelope.encrypted.is_some(),
                    state: State::Incomplete,
                    problem: None,
                    expected_files: serde_json::to_string(&expected)
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                    case_id: None,
                    case_revision: None,
                    deprecated_id: envelope.deprecated_id.clone(),
                };
                (s, key, true)
            }
        };
        let expected: Vec<String> = serde_json::from_str(&submission.expected_files).unwrap_or_default();
        let search = self.master.search_key();
        let name_key = |name: &str| search.index("submission_file", name);
        let mut files = Vec::new();
        for f in &upload.files {
            // Only files the record names are kept; clients may send others (Collect sends
            // the whole instance folder).
            if !expected.iter().any(|e| e == &f.name) {
                continue;
            }
            files.push(StoredFile {
                name_key: name_key(&f.name).to_vec(),
                name: key.seal(submission.id.as_bytes(), "file-name", f.name.as_bytes())?,
                content_type: f.content_type.clone(),
                size: f.bytes.len() as i64,
                body: key.seal(submission.id.as_bytes(), &format!("file:{}", f.name), &f.bytes)?,
            });
        }

        let mut tx = self.begin().await?;
        if created {
            collection::insert_submission(&mut tx.conn(), &submission)
                .await
                .map_err(|e| match e {
                    // Two POSTs of the same new record at once: the other one stored it.
                    passage_store::StoreError::Conflict => {
                        ServiceError::Conflict("this submission (being received)")
                    }
                    other => other.into(),
                })?;
        }
        let mut added = Vec::new();
        for (f, stored) in upload
            .files
            .iter()
            .filter(|f| expected.contains(&f.name))
            .zip(&files)
        {
            if collection::add_file(&mut tx.conn(), submission.id, stored).await? {
                added.push(f);
            }
        }
        let have = collection::file_keys(&mut tx.conn(), submission.id).await?;
        let missing = expected
            .iter()
            .filter(|e| !have.iter().any(|k| k.as_slice() == name_key(e).as_slice()))
            .count();
        // Complete when every named file is here, or when the client says nothing follows
        // (a file it lost must not hold the record back forever).
        let complete = missing == 0 || !upload.incomplete;
        let next = match (submission.state, complete, submission.encrypted) {
            (State::Incomplete, true, true) => Some(State::Encrypted),
            (State::Incomplete, true, false) => Some(State::Received),
            _ => None,
        };
        if let Some(state) = next {
            let s = Submission {
                state,
                problem: (missing > 0).then(|| format!("{missing} attached file(s) never arrived")),
                updated_at: now,
                ..submission.clone()
            };
            collection::set_outcome(&mut tx.conn(), &s, State::Incomplete).await?;
        }
        // Files arriving after the record was made (ODK Web Forms splits without saying more
        // follows) join its documents, and the note of what never arrived is brought up to date.
        let late = submission.state == State::Processed && !submission.encrypted && !added.is_empty();
        if late {
            let s = Submission {
                problem: (missing > 0).then(|| format!("{missing} attached file(s) never arrived")),
                updated_at: now,
                ..submission.clone()
            };
            collection::set_outcome(&mut tx.conn(), &s, State::Processed).await?;
        }
        if created || !added.is_empty() {
            let event = self
                .event(ctx, AuditAction::SubmissionReceived, who.actor.user_id())
                .org(Some(who.org))
                .target("submission", submission.id)
                .detail("programme", &programme)
                .detail("device", who.device_id)
                .detail("files", added.len());
            audit::append(&mut tx.conn(), &event).await?;
        }
        tx.commit().await?;
        if late && let Some(case) = submission.case_id {
            for f in &added {
                self.add_document(&who.actor, ctx, case, &f.name, &f.bytes)
                    .await?;
            }
        }

        // A complete record, or one a crash or a dropped connection left unregistered (the
        // client sends it again), is made now. The work runs in its own task so that a client
        // hanging up mid-request cannot leave it half done.
        let stuck = !created && submission.state == State::Received;
        if next == Some(State::Received) || stuck {
            // Everything arrived in this request: no need to read it back from the database.
            let in_hand = (created && missing == 0 && !submission.encrypted).then(|| {
                let files = upload
                    .files
                    .iter()
                    .filter(|f| expected.contains(&f.name))
                    .map(|f| (f.name.clone(), f.bytes.clone()))
                    .collect();
                (upload.xml.clone(), files)
            });
            let svc = self.clone();
            let ctx = ctx.clone();
            let id = submission.id;
            tokio::spawn(async move { svc.process_submission_with(id, &ctx, in_hand).await })
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))??;
        }
        let message = match next {
            Some(State::Encrypted) => {
                "Received (encrypted): it will be registered when the key holder unlocks it.".to_owned()
            }
            Some(_) => "Received by Passage.".to_owned(),
            None if missing > 0 => format!("Received; waiting for {missing} more file(s)."),
            None => "Already received.".to_owned(),
        };
        Ok(if created || !added.is_empty() || next.is_some() {
            Receipt::Created(message)
        } else {
            Receipt::Duplicate(message)
        })
    }

    /// A new, unencrypted submission with every file it names, that is a valid record:
    /// stored and registered in one transaction (the common case, and the fast one). `None`
    /// when it must go the long way (waiting for files, an edit, a record to quarantine).
    #[allow(clippy::too_many_arguments)]
    async fn receive_whole(
        &self,
        who: &Collector,
        ctx: &Ctx,
        upload: &Upload,
        envelope: &Envelope,
        root: &passage_openrosa::xml::Element,
        programme: &str,
        form_version: uuid::Uuid,
    ) -> Result<Option<Receipt>, ServiceError> {
        if envelope.encrypted.is_some() || envelope.deprecated_id.is_some() {
            return Ok(None);
        }
        let form = self.form_model(form_version).await?;
        if form.public_key.is_some() {
            return Ok(None);
        }
        let answers = passage_openrosa::answers(root, &form);
        let mut files = Vec::with_capacity(answers.files.len());
        for name in &answers.files {
            match upload.files.iter().find(|f| &f.name == name) {
                Some(f) => files.push((name.clone(), f.bytes.clone())),
                None => return Ok(None),
            }
        }
        let id = uuid::Uuid::now_v7();
        let key = DataKey::generate()?;
        let now = self.now();
        let submission = Submission {
            id,
            instance_id: envelope.instance_id.clone(),
            org_id: who.org,
            programme: programme.to_owned(),
            form_version,
            device_id: Some(who.device_id),
            received_by: who.actor.user_id(),
            received_at: now,
            updated_at: now,
            xml_sha256: sha256(&upload.xml).to_vec(),
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            xml: key.seal(id.as_bytes(), "xml", &upload.xml)?,
            encrypted: false,
            state: State::Processed,
            problem: None,
            expected_files: serde_json::to_string(&answers.files)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            case_id: None,
            case_revision: None,
            deprecated_id: None,
        };
        let received = self
            .event(ctx, AuditAction::SubmissionReceived, who.actor.user_id())
            .org(Some(who.org))
            .target("submission", id)
            .detail("programme", programme)
            .detail("device", who.device_id)
            .detail("files", files.len());
        let svc = self.clone();
        let (ctx, actor) = (ctx.clone(), who.actor.clone());
        let extra = crate::cases::Extra {
            summary: Some(received),
            files,
            new_submission: true,
            ..Default::default()
        };
        // In its own task: a client hanging up cannot cut the registration in half.
        let registered = tokio::spawn(async move {
            svc.register_submission(&actor, &ctx, submission, answers.instance, extra)
                .await
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        match registered {
            Ok(_) => Ok(Some(Receipt::Created("Received by Passage.".to_owned()))),
            // Not a valid record, or the same record arriving twice at once: the long way
            // keeps it (quarantined) or answers as for a re-send.
            Err(ServiceError::InvalidRecord(_) | ServiceError::Invalid(_) | ServiceError::Conflict(_)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Register `answers` as the record of submission `s` (of its form version), marking the
    /// submission processed in the same transaction; `extra` adds the rest.
    async fn register_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: Submission,
        answers: passage_xlsform::check::Instance,
        extra: crate::cases::Extra,
    ) -> Result<uuid::Uuid, ServiceError> {
        let new = crate::NewCase {
            answers,
            person: None,
        };
        let (programme, org) = (s.programme.clone(), s.org_id);
        let extra = crate::cases::Extra {
            form_version: Some(s.form_version),
            submission: Some(s),
            ..extra
        };
        self.register_cases_with(actor, ctx, &programme, org, std::slice::from_ref(&new), extra)
            .await?
            .pop()
            .map(|c| c.id)
            .ok_or(ServiceError::NotFound)
    }

    /// Make the record of a complete submission, or quarantine it with the reason. Answers
    /// are checked as on every channel; the record is audited as the device's member's.
    pub(crate) async fn process_submission(&self, id: uuid::Uuid, ctx: &Ctx) -> Result<(), ServiceError> {
        self.process_submission_with(id, ctx, None).await
    }

    /// [`Self::process_submission`], with the XML and files when the caller has them.
    async fn process_submission_with(
        &self,
        id: uuid::Uuid,
        ctx: &Ctx,
        in_hand: Option<(Vec<u8>, Vec<NamedFile>)>,
    ) -> Result<(), ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        if s.state != State::Received {
            return Ok(());
        }
        let actor = match s.device_id {
            Some(d) => {
                let device = {
                    let mut pooled = self.db.acquire().await?;
                    collection::device(&mut pooled.conn(), d).await?
                };
                // A device revoked since it sent this still sent it while it was allowed to.
                self.collector(device.map(|d| Device {
                    revoked_at: None,
                    ..d
                }))
                .await
                .map(|c| c.actor)
            }
            None => Err(ServiceError::NotFound),
        };
        let content = if s.encrypted {
            match self.unlocked_key(&s.programme) {
                Some(key) => self.decrypted_content(&s, &key).await,
                None => {
                    // Its key was locked again before it was read: it waits for the key.
                    let back = Submission {
                        state: State::Encrypted,
                        updated_at: self.now(),
                        ..s.clone()
                    };
                    let mut tx = self.begin().await?;
                    collection::set_outcome(&mut tx.conn(), &back, State::Received).await?;
                    tx.commit().await?;
                    return Ok(());
                }
            }
        } else if let Some(content) = in_hand {
            Ok(content)
        } else {
            self.plain_content(&s).await
        };
        let outcome = match (actor, content) {
            (Ok(actor), Ok((xml, files))) => self.make_record(&actor, ctx, &s, &xml, files).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(e @ ServiceError::Unavailable(_)) => Err(e),
            Err(e) => self.quarantine(ctx, &s, &e).await,
        }
    }

    /// The stored XML and files of a submission, opened.
    async fn plain_content(&self, s: &Submission) -> Result<(Vec<u8>, Vec<NamedFile>), ServiceError> {
        let key = DataKey::unwrap(&s.wrapped_key, &self.master, s.id.as_bytes())?;
        let xml = key.open(s.id.as_bytes(), "xml", &s.xml)?;
        let stored_files = {
            let mut pooled = self.db.acquire().await?;
            collection::files(&mut pooled.conn(), s.id).await?
        };
        let mut files = Vec::with_capacity(stored_files.len());
        for f in &stored_files {
            let name = String::from_utf8(key.open(s.id.as_bytes(), "file-name", &f.name)?)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let body = key.open(s.id.as_bytes(), &format!("file:{name}"), &f.body)?;
            files.push((name, body));
        }
        Ok((xml, files))
    }

    /// An encrypted bundle decrypted in memory with the programme's unlocked key: the inner
    /// XML must be the same record (form and instanceID) as its manifest.
    async fn decrypted_content(
        &self,
        s: &Submission,
        key: &passage_openrosa::encryption::PrivateKeyHandle,
    ) -> Result<(Vec<u8>, Vec<NamedFile>), ServiceError> {
        let (manifest_xml, files) = self.plain_content(s).await?;
        let (envelope, _) = Envelope::read(&manifest_xml).map_err(|e| bad_submission(e.to_string()))?;
        let manifest = envelope
            .encrypted
            .as_ref()
            .ok_or_else(|| bad_submission("it is marked encrypted but has no encryption manifest"))?;
        let decrypted = passage_openrosa::encryption::decrypt(
            key.key(),
            &envelope.form_id,
            &envelope.version,
            &envelope.instance_id,
            manifest,
            |name| files.iter().find(|(n, _)| n == name).map(|(_, b)| b.clone()),
        )
        .map_err(|e| bad_submission(e.to_string()))?;
        let (inner, _) = Envelope::read(&decrypted.xml).map_err(|e| bad_submission(e.to_string()))?;
        if inner.instance_id != envelope.instance_id || inner.form_id != envelope.form_id {
            return Err(bad_submission(
                "the decrypted record is not the one its manifest names",
            ));
        }
        Ok((decrypted.xml, decrypted.media))
    }

    async fn make_record(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: &Submission,
        xml: &[u8],
        files: Vec<NamedFile>,
    ) -> Result<(), ServiceError> {
        let (_, root) = Envelope::read(xml).map_err(|e| bad_submission(e.to_string()))?;
        let form = self.form_model(s.form_version).await?;
        let answers = passage_openrosa::answers(&root, &form);
        // Only files the record names become its documents.
        let files: Vec<_> = files
            .into_iter()
            .filter(|(n, _)| answers.files.contains(n))
            .collect();
        if let Some(replaced) = &s.deprecated_id {
            return self.apply_edit(actor, ctx, s, replaced, &answers.instance).await;
        }
        let extra = crate::cases::Extra {
            files,
            ..Default::default()
        };
        self.register_submission(actor, ctx, s.clone(), answers.instance, extra)
            .await?;
        Ok(())
    }

    /// An edit from the field (`deprecatedID`): applied to the record the earlier version
    /// made, unless that record changed in Passage since — then it waits for a person.
    async fn apply_edit(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        s: &Submission,
        replaced: &str,
        answers: &passage_xlsform::check::Instance,
    ) -> Result<(), ServiceError> {
        let earlier = {
            let mut pooled = self.db.acquire().await?;
            collection::submission_by_instance(&mut pooled.conn(), replaced).await?
        }
        .filter(|e| e.org_id == s.org_id && e.state == State::Processed)
        .ok_or_else(|| bad_submission("it edits a submission that is not registered in Passage"))?;
        let (Some(case), Some(revision)) = (earlier.case_id, earlier.case_revision) else {
            return Err(bad_submission(
                "it edits a submission that is not registered in Passage",
            ));
        };
        let updated = self.update_case(actor, ctx, case, answers, revision).await?;
        let done = Submission {
            state: State::Processed,
            problem: None,
            case_id: Some(case),
            case_revision: Some(updated.revision),
            updated_at: self.now(),
            ..s.clone()
        };
        let mut tx = self.begin().await?;
        collection::set_outcome(&mut tx.conn(), &done, State::Received).await?;
        let event = self
            .event(ctx, AuditAction::SubmissionProcessed, actor.user_id())
            .org(Some(s.org_id))
            .target("submission", s.id)
            .detail("case", case)
            .detail("edit", true);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn quarantine(&self, ctx: &Ctx, s: &Submission, why: &ServiceError) -> Result<(), ServiceError> {
        // Problems name fields and rules, never the values (ServiceError's contract).
        let problem = match why {
            ServiceError::InvalidRecord(list) => list
                .iter()
                .map(|p| format!("{}: {}", p.path, crate::transfer::without_value(&p.reason)))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        let q = Submission {
            state: State::Quarantined,
            problem: Some(problem),
            updated_at: self.now(),
            ..s.clone()
        };
        let mut tx = self.begin().await?;
        collection::set_outcome(&mut tx.conn(), &q, State::Received).await?;
        let event = self
            .event(ctx, AuditAction::SubmissionQuarantined, s.received_by)
            .org(Some(s.org_id))
            .target("submission", s.id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finish submissions a stopped process left complete but unregistered (run at start).
    pub async fn process_pending_submissions(&self) -> Result<usize, ServiceError> {
        let pending = {
            let mut pooled = self.db.acquire().await?;
            collection::unprocessed(&mut pooled.conn()).await?
        };
        let ctx = Ctx {
            channel: passage_domain::Channel::OpenRosa,
            request_id: None,
        };
        for id in &pending {
            self.process_submission(*id, &ctx).await?;
        }
        Ok(pending.len())
    }

    /// An organisation's submissions (quarantined ones with their reasons), no answers.
    pub async fn submissions(
        &self,
        actor: &Actor,
        org: OrgId,
        state: Option<&str>,
    ) -> Result<Vec<SubmissionSummary>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let state = match state {
            Some(raw) => Some(
                State::parse(raw).ok_or_else(|| InvalidValue::new("state", "is not a submission state"))?,
            ),
            None => None,
        };
        let mut pooled = self.db.acquire().await?;
        let rows = collection::submissions_of(&mut pooled.conn(), org, state, 500).await?;
        Ok(rows.into_iter().map(summary_of).collect())
    }

    /// Quarantined submissions the actor may correct: in their organisations, of the
    /// programmes whose records they register. No answers.
    pub async fn quarantined_for(&self, actor: &Actor) -> Result<Vec<SubmissionSummary>, ServiceError> {
        let mut out = Vec::new();
        let mut pooled = self.db.acquire().await?;
        for org in actor.grants().iter().map(|g| g.org) {
            for s in
                collection::submissions_of(&mut pooled.conn(), org, Some(State::Quarantined), 500).await?
            {
                let (view, edit) = record_permissions(&s.programme);
                let may = |p| actor.authorize(p, Scope::Org(org)).is_ok();
                if may(view) && may(edit) && s.deprecated_id.is_none() {
                    out.push(summary_of(s));
                }
            }
        }
        Ok(out)
    }

    /// A quarantined submission's answers, for someone who may register its programme's
    /// records in its organisation (audited as a record read).
    pub async fn submission_answers(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<(SubmissionSummary, passage_xlsform::check::Instance), ServiceError> {
        let s = self.fixable(actor, id).await?;
        let (form_version, org) = (s.form_version, s.org_id);
        let (xml, _) = match self.unlocked_key(&s.programme).filter(|_| s.encrypted) {
            Some(key) => self.decrypted_content(&s, &key).await?,
            None if s.encrypted => {
                return Err(ServiceError::Conflict(
                    "an unlocked key for this encrypted submission",
                ));
            }
            None => self.plain_content(&s).await?,
        };
        let (_, root) = Envelope::read(&xml).map_err(|e| bad_submission(e.to_string()))?;
        let form = self.form_model(s.form_version).await?;
        let answers = passage_openrosa::answers(&root, &form).instance;
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CaseViewed, actor.user_id())
            .org(Some(s.org_id))
            .target("submission", s.id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok((
            SubmissionSummary {
                form_version: Some(form_version),
                org: Some(org),
                ..summary_of(s)
            },
            answers,
        ))
    }

    /// Register a quarantined submission with corrected answers (checked like any record,
    /// against the form version it was filled in). The submission as received is kept.
    pub async fn fix_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        answers: &passage_xlsform::check::Instance,
    ) -> Result<uuid::Uuid, ServiceError> {
        let s = self.fixable(actor, id).await?;
        let files = match self.unlocked_key(&s.programme).filter(|_| s.encrypted) {
            Some(key) => self.decrypted_content(&s, &key).await?.1,
            None if s.encrypted => {
                return Err(ServiceError::Conflict(
                    "an unlocked key for this encrypted submission",
                ));
            }
            None => self.plain_content(&s).await?.1,
        };
        let mut tx = self.begin().await?;
        let ready = Submission {
            state: State::Received,
            problem: None,
            updated_at: self.now(),
            ..s.clone()
        };
        collection::set_outcome(&mut tx.conn(), &ready, State::Quarantined).await?;
        tx.commit().await?;
        let extra = crate::cases::Extra {
            files,
            ..Default::default()
        };
        let registered = self
            .register_submission(actor, ctx, ready, answers.clone(), extra)
            .await;
        match registered {
            Ok(case) => Ok(case),
            Err(e) => {
                // Still not a record: back to quarantine, with the submission as it was.
                let mut tx = self.begin().await?;
                collection::set_outcome(&mut tx.conn(), &s, State::Received).await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }

    /// A quarantined submission the actor may correct: its programme's records are theirs to
    /// register. Others' submissions answer "not found".
    async fn fixable(&self, actor: &Actor, id: uuid::Uuid) -> Result<Submission, ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let (view, edit) = record_permissions(&s.programme);
        authorize(actor, view, Scope::Org(s.org_id))?;
        authorize(actor, edit, Scope::Org(s.org_id))?;
        if s.state != State::Quarantined {
            return Err(ServiceError::Conflict(
                "a decision on this submission (it is not quarantined)",
            ));
        }
        if s.deprecated_id.is_some() {
            return Err(bad_submission(
                "it is an edit: fix the record it edits on its case page instead",
            ));
        }
        Ok(s)
    }

    /// Try a quarantined submission again (after its form, its person or its case was put
    /// right); it is registered or quarantined again with the new reason.
    pub async fn reprocess_submission(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
    ) -> Result<&'static str, ServiceError> {
        let s = {
            let mut pooled = self.db.acquire().await?;
            collection::submission(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::DevicesManage, Scope::Org(s.org_id))?;
        if s.state != State::Quarantined {
            return Err(ServiceError::Conflict(
                "a decision on this submission (it is not quarantined)",
            ));
        }
        let mut tx = self.begin().await?;
        let again = Submission {
            state: State::Received,
            updated_at: self.now(),
            ..s.clone()
        };
        collection::set_outcome(&mut tx.conn(), &again, State::Quarantined).await?;
        tx.commit().await?;
        self.process_submission(id, ctx).await?;
        let mut pooled = self.db.acquire().await?;
        let after = collection::submission(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(after.state.as_str())
    }
}

/// A programme's collection key as its holder sees it (never the private key).
#[derive(Debug, Clone)]
pub struct CollectionKeyInfo {
    pub programme: String,
    /// Base64 SubjectPublicKeyInfo: the value of the XLSForm's `public_key` setting.
    pub public_key: String,
    pub created_at: Timestamp,
    pub unlocked: bool,
    /// Encrypted submissions waiting for the key.
    pub waiting: usize,
}

/// Shortest passphrase accepted for a collection key.
const MIN_PASSPHRASE_CHARS: usize = 12;
const KEY_PURPOSE: &str = "collection-key";

impl Passage {
    pub(crate) fn unlocked_key(
        &self,
        programme: &str,
    ) -> Option<Arc<passage_openrosa::encryption::PrivateKeyHandle>> {
        self.unlocked.read().ok()?.get(programme).cloned()
    }

    /// Every programme's collection key (for the data protection focal point).
    pub async fn collection_keys(&self, actor: &Actor) -> Result<Vec<CollectionKeyInfo>, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let keys = collection::collection_keys(&mut c).await?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let waiting = collection::waiting_for_key(&mut c, &k.programme).await?.len();
            out.push(CollectionKeyInfo {
                unlocked: self.unlocked_key(&k.programme).is_some(),
                programme: k.programme,
                public_key: k.public_key,
                created_at: k.created_at,
                waiting,
            });
        }
        Ok(out)
    }

    /// Make (or import, from PEM) the key pair of a programme's encrypted collection. The
    /// private key is kept only sealed under `passphrase`; the public key goes into the
    /// form's `public_key` setting. A programme's key is never replaced: records encrypted
    /// for it would become unreadable.
    pub async fn create_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        passphrase: &str,
        import_pem: Option<&str>,
    ) -> Result<String, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        if !self
            .programmes()
            .await?
            .iter()
            .any(|p| p.programme.code == programme)
        {
            return Err(ServiceError::NotFound);
        }
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(InvalidValue::new(
                "passphrase",
                format!("must be at least {MIN_PASSPHRASE_CHARS} characters"),
            )
            .into());
        }
        use passage_openrosa::encryption as enc;
        let key = match import_pem {
            Some(pem) => {
                enc::private_key_from_pem(pem).map_err(|e| InvalidValue::new("private_key", e.to_string()))?
            }
            None => tokio::task::spawn_blocking(enc::generate)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
        };
        let public_key = enc::public_key_base64(&key).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let der = zeroize::Zeroizing::new(
            enc::private_key_der(&key).map_err(|e| ServiceError::Internal(e.to_string()))?,
        );
        let purpose = format!("{KEY_PURPOSE}:{programme}");
        let sealed = passage_crypto::envelope::seal_with_passphrase(passphrase, &purpose, &der)?;
        let stored = collection::CollectionKey {
            programme: programme.to_owned(),
            public_key: public_key.clone(),
            private_key: sealed,
            created_by: actor.user_id(),
            created_at: self.now(),
        };
        let mut tx = self.begin().await?;
        collection::insert_collection_key(&mut tx.conn(), &stored)
            .await
            .map_err(crate::error::conflict_as("a collection key for this programme"))?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyCreated, actor.user_id())
            .target("programme", programme)
            .detail("imported", import_pem.is_some());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(public_key)
    }

    /// Unlock a programme's key with its passphrase (held in memory only, until locked or
    /// the process stops) and register every encrypted submission waiting for it. Returns
    /// how many were read.
    pub async fn unlock_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        passphrase: &str,
    ) -> Result<usize, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        let stored = {
            let mut pooled = self.db.acquire().await?;
            collection::collection_keys(&mut pooled.conn()).await?
        }
        .into_iter()
        .find(|k| k.programme == programme)
        .ok_or(ServiceError::NotFound)?;
        let purpose = format!("{KEY_PURPOSE}:{programme}");
        let der = passage_crypto::envelope::open_with_passphrase(passphrase, &purpose, &stored.private_key)
            .map_err(|_| InvalidValue::new("passphrase", "does not open this programme's key"))?;
        let key = passage_openrosa::encryption::private_key_from_der(&der)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let Ok(mut unlocked) = self.unlocked.write() {
            unlocked.insert(
                programme.to_owned(),
                Arc::new(passage_openrosa::encryption::PrivateKeyHandle::new(key)),
            );
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyUnlocked, actor.user_id())
            .target("programme", programme);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        let waiting = {
            let mut pooled = self.db.acquire().await?;
            collection::waiting_for_key(&mut pooled.conn(), programme).await?
        };
        for id in &waiting {
            let s = {
                let mut pooled = self.db.acquire().await?;
                collection::submission(&mut pooled.conn(), *id).await?
            };
            let Some(s) = s else { continue };
            let ready = Submission {
                state: State::Received,
                updated_at: self.now(),
                ..s
            };
            let mut tx = self.begin().await?;
            collection::set_outcome(&mut tx.conn(), &ready, State::Encrypted).await?;
            tx.commit().await?;
            self.process_submission(*id, ctx).await?;
        }
        Ok(waiting.len())
    }

    /// Forget a programme's unlocked key: encrypted submissions wait again.
    pub async fn lock_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        if let Ok(mut unlocked) = self.unlocked.write() {
            unlocked.remove(programme);
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyLocked, actor.user_id())
            .target("programme", programme);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Unlocked collection keys by programme, in memory only.
pub(crate) type UnlockedKeys =
    std::sync::RwLock<HashMap<String, Arc<passage_openrosa::encryption::PrivateKeyHandle>>>;

/// Parsed XForms by form version (versions are immutable).
pub(crate) type XFormCache = std::sync::RwLock<HashMap<uuid::Uuid, CollectionForm>>;
