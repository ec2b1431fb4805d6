//! Passage's use cases. The web server and the CLI both call these, so neither can skip a
//! permission check or an audit event: each method authenticates or authorises through the
//! domain policy, reads or writes through the store, and appends its audit event in the same
//! transaction as the change.

mod activity;
mod audit_trail;
mod cases;
mod collection;
mod consent;
mod duplicates;
mod error;
mod forms;
mod frameworks;
mod indicator_facts;
mod indicators;
mod keys;
mod match_model;
mod need_to_know;
mod organisations;
mod persons;
mod reports;
mod retention;
mod screening;
mod second_factor;
mod sessions;
mod sso;
mod subject_access;
mod transfer;
mod workflow;

pub mod demo;

pub use activity::{
    DECLINE_REASONS, DocumentInfo, MAX_DOCUMENT_BYTES, NewService, NoteRecord, ReferralRecord, SERVICE_TYPES,
    ServiceRecord, SharedAnswer, document_extension, document_type,
};
pub use audit_trail::{AuditPage, AuditQuery, ChainBreak, ChainReport};
pub use cases::{
    CasePage, CaseQuery, CaseRecord, CaseSort, CaseSummary, CaseVersion, NewCase, instance_from_json,
    instance_to_json, record_permissions,
};
pub use collection::{
    CollectionForm, CollectionKeyInfo, Collector, DeviceInfo, IssuedDevice, MAX_SUBMISSION_BYTES, REALM,
    Receipt, SubmissionSummary, Upload, UploadedFile,
};
pub use consent::{CONSENT_SCOPES, ConsentRecord, NewConsent};
pub use duplicates::{DuplicatePair, MergeRecord};
pub use error::ServiceError;
pub use forms::{FormMedia, MAX_FORM_MEDIA_BYTES, ProgrammeForm};
pub use frameworks::{NATIONAL_LEVELS, NodeInput, UNSDCF_LEVELS, levels as framework_levels};
pub use indicator_facts::Facts;
pub use indicators::FACTS_CHECK_INTERVAL;
pub use indicators::{
    Catalogue, Dashboard, ExportFormat, IndicatorFigures, IndicatorFilter, ManualEntry, RecordRef,
};
pub use keys::Rotation;
pub use match_model::{MIN_PERSONS as MATCH_MODEL_MIN_PERSONS, MatchModel};
pub use need_to_know::BreakGlass;
pub use organisations::{HomeSummary, NewUser};
pub use passage_crypto::envelope::MasterKey;
pub use passage_indicators as indicator;
pub use passage_reports as report;
pub use passage_store::activity::SavedFilter;
pub use passage_store::auth::ApiToken;
pub use passage_store::auth::FactorState;
pub use passage_store::forms::{FormVersion, Programme};
pub use passage_store::frameworks::Node as FrameworkNode;
pub use passage_store::orgs::Organisation;
pub use passage_store::places::{County, CrossingPoint};
pub use passage_store::reports::ManualValue;
pub use passage_store::users::{Member, RoleInfo, User};
pub use passage_store::workflow::{HistoryEntry, Stage};
pub use passage_xlsform::FormError;
pub use passage_xlsform::check::{Instance, Problem};
pub use persons::{
    Identity, PERSON_FIELDS, PersonRecord, SimilarPerson, display_name, identity_of, name_tokens,
};
pub use reports::{GCM_REVIEW, MAX_NARRATIVE_CHARS, shown};
pub use retention::{RetentionReport, Schedule};
pub use screening::{CROSSINGS, MAX_WATCHLIST_BYTES, ScreeningHit, WatchlistSummary};
pub use second_factor::{Enrolment, FactorStatus, PendingSignIn};
pub use sessions::{Authenticated, NewSession, SessionState};
pub use sso::SsoSignIn;
pub use subject_access::subject_access_report;
pub use transfer::{
    EXPORT_COLUMNS, ExportFile, ImportReport, MAX_IMPORT_ROWS, MAX_LISTED_PROBLEMS, RowProblem, SheetFormat,
    escape_formula,
};
pub use workflow::{CLOSURE_REASONS, Move, Workflow};

use passage_crypto::PasswordHasher;
use passage_domain::{Actor, Channel, Clock, Denied, Permission, Scope};
use passage_store::{Db, auth};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Limits that protect sign-in and sessions.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A session ends after this long without a request.
    pub session_idle_secs: i64,
    /// A session ends this long after sign-in, however active.
    pub session_absolute_secs: i64,
    /// Failed sign-ins are counted over this window.
    pub throttle_window_secs: i64,
    /// Failures per account within the window before sign-in is refused.
    pub max_failures_per_account: i64,
    /// Failures per client address within the window before sign-in is refused.
    pub max_failures_per_address: i64,
    /// How long a break-glass grant to a need-to-know case lasts.
    pub break_glass_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            throttle_window_secs: 15 * 60,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            break_glass_secs: 3600,
        }
    }
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub channel: Channel,
    pub request_id: Option<String>,
}

impl Ctx {
    pub fn cli() -> Self {
        Self {
            channel: Channel::Cli,
            request_id: None,
        }
    }
}

/// The application: database, clock, password hasher and settings.
#[derive(Debug, Clone)]
pub struct Passage {
    db: Db,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    settings: Settings,
    throttle_key: Arc<Vec<u8>>,
    reference: Arc<Reference>,
    master: Arc<MasterKey>,
    /// Key of the blind indexes (stored wrapped by the master key; survives its rotation).
    search: Arc<passage_crypto::envelope::SearchKey>,
    /// Parsed form versions by id (versions are immutable).
    forms: Arc<RwLock<HashMap<uuid::Uuid, Arc<passage_xlsform::Form>>>>,
    /// Each organisation's watchlists, indexed in memory (rebuilt at start and on upload).
    screening: Arc<std::sync::RwLock<screening::Lists>>,
    /// Counts committed write transactions, so that cached indicator figures know they are stale.
    changes: Arc<std::sync::atomic::AtomicU64>,
    indicators: Arc<tokio::sync::Mutex<indicators::IndicatorCache>>,
    /// XForms of form versions, as ODK clients download them.
    xforms: Arc<collection::XFormCache>,
    /// Collection keys their holders unlocked (memory only).
    unlocked: Arc<collection::UnlockedKeys>,
    /// Each organisation's matching model learned from its persons (memory only).
    match_models: Arc<match_model::MatchModels>,
}

/// The future of a grouped write's body (see [`Passage::write_grouped`]).
pub(crate) type BoxedWrite<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ServiceError>> + Send + 'a>>;

/// A use case's write transaction: committing it also marks indicator figures stale.
pub(crate) struct WriteTx {
    tx: passage_store::Tx,
    changes: Arc<std::sync::atomic::AtomicU64>,
}

impl WriteTx {
    pub(crate) fn conn(&mut self) -> passage_store::Conn<'_> {
        self.tx.conn()
    }
    pub(crate) async fn commit(self) -> Result<(), passage_store::StoreError> {
        self.tx.commit().await?;
        self.changes.fetch_add(1, std::sync::atomic::Ordering::Release);
        Ok(())
    }
}

/// Reference data that changes only with a migration, loaded once at start.
#[derive(Debug)]
struct Reference {
    roles: Vec<RoleInfo>,
    counties: Vec<County>,
    crossing_points: Vec<CrossingPoint>,
    /// Each programme's workflow stages, in order (seeded by migrations).
    stages: HashMap<String, Vec<Stage>>,
    /// Programmes whose case identities only the case team sees.
    need_to_know: std::collections::HashSet<String>,
}

impl Passage {
    /// Ready the service on a migrated database.
    pub async fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        hasher: PasswordHasher,
        settings: Settings,
        master: MasterKey,
    ) -> Result<Self, ServiceError> {
        let fresh: [u8; 32] = passage_crypto::random_bytes()?;
        let mut tx = db.begin().await?;
        let key = auth::installation_key(&mut tx.conn(), clock.now(), &fresh).await?;
        let mut reference = Reference {
            roles: passage_store::users::roles(&mut tx.conn()).await?,
            counties: passage_store::places::counties(&mut tx.conn()).await?,
            crossing_points: passage_store::places::crossing_points(&mut tx.conn()).await?,
            stages: HashMap::new(),
            need_to_know: Default::default(),
        };
        for p in passage_store::forms::programmes(&mut tx.conn()).await? {
            let stages = passage_store::workflow::stages(&mut tx.conn(), &p.code).await?;
            if p.need_to_know {
                reference.need_to_know.insert(p.code.clone());
            }
            reference.stages.insert(p.code, stages);
        }
        let search = keys::search_key(&mut tx.conn(), &master, clock.now()).await?;
        let lists = screening::load_all(&mut tx.conn(), &master).await?;
        tx.commit().await?;
        Ok(Self {
            db,
            clock,
            hasher,
            settings,
            throttle_key: Arc::new(key),
            reference: Arc::new(reference),
            master: Arc::new(master),
            search: Arc::new(search),
            forms: Arc::default(),
            screening: Arc::new(std::sync::RwLock::new(lists)),
            changes: Arc::default(),
            indicators: Arc::default(),
            xforms: Arc::default(),
            unlocked: Arc::default(),
            match_models: Arc::default(),
        })
    }

    /// Begin a write transaction of a use case.
    pub(crate) async fn begin(&self) -> Result<WriteTx, passage_store::StoreError> {
        Ok(WriteTx {
            tx: self.db.begin().await?,
            changes: self.changes.clone(),
        })
    }

    /// A use case's write that may share a transaction with others arriving at the same time
    /// (see `passage_store::Db::write_grouped`): ingestion of many small records at once. The
    /// body's error undoes its writes only; its result is given after the commit. The body
    /// runs while the writer lock is held: it must not begin a transaction of its own.
    pub(crate) async fn write_grouped<T, F>(&self, body: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: for<'a, 'c> FnOnce(&'a mut passage_store::Conn<'c>) -> BoxedWrite<'a, T> + Send + 'static,
    {
        let (result, mut answer) = tokio::sync::oneshot::channel();
        let write: passage_store::Write = Box::new(move |conn| {
            Box::pin(async move {
                let outcome = body(conn).await;
                let kept = outcome.is_ok();
                let _ = result.send(outcome);
                kept
            })
        });
        self.db.write_grouped(write).await?;
        // Empty only if the body panicked (the writer undid it and logged that).
        let outcome = answer
            .try_recv()
            .map_err(|_| ServiceError::Internal("a write was interrupted".into()))?;
        if outcome.is_ok() {
            self.changes.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        outcome
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether the database answers (for readiness probes).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        self.db.ping().await?;
        Ok(())
    }
}

/// Ask the domain policy; a refusal becomes the matching service error.
fn authorize(actor: &Actor, permission: Permission, scope: Scope) -> Result<(), ServiceError> {
    actor.authorize(permission, scope).map_err(|d| match d {
        Denied::NotFound => ServiceError::NotFound,
        other => ServiceError::Denied(other),
    })
}

/// A random password that meets the password rules for `username` (a random string can by
/// chance contain a short username, which the rules refuse; such draws are discarded).
pub fn generate_password(prefix: &str, username: &str) -> Result<String, ServiceError> {
    let username = passage_domain::Username::parse(username)?;
    loop {
        let candidate = format!("{prefix}{}", passage_crypto::random_token("")?);
        if passage_domain::Password::parse(&candidate, &username).is_ok() {
            return Ok(candidate);
        }
    }
}
