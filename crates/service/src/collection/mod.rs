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
    /// The media files the form shows that have been uploaded: its manifest.
    pub media: Vec<passage_store::forms::MediaFile>,
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
    /// The form version it was filled in, and its owner.
    pub form_version: uuid::Uuid,
    pub org: OrgId,
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
        form_version: s.form_version,
        org: s.org_id,
    }
}

fn bad_submission(reason: impl Into<String>) -> ServiceError {
    InvalidValue::new("xml_submission_file", reason.into()).into()
}

mod devices;
mod intake;
mod keys;
mod records;

pub use keys::CollectionKeyInfo;

/// Unlocked collection keys by programme, in memory only.
pub(crate) type UnlockedKeys =
    std::sync::RwLock<HashMap<String, Arc<passage_openrosa::encryption::PrivateKeyHandle>>>;

/// Parsed XForms by form version (versions are immutable).
pub(crate) type XFormCache = std::sync::RwLock<HashMap<uuid::Uuid, CollectionForm>>;
