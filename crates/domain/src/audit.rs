//! Audit events: what happened, by whom, to which record — never the personal values themselves.

use crate::clock::Timestamp;
use crate::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

macro_rules! actions {
    ($($variant:ident => $name:literal, $personal_read:literal;)+) => {
        /// Every kind of audited action.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction { $($variant,)+ }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];
            pub fn as_str(self) -> &'static str {
                match self { $(AuditAction::$variant => $name,)+ }
            }
            /// Whether the action read personal data (shown highlighted to auditors).
            pub fn reads_personal_data(self) -> bool {
                match self { $(AuditAction::$variant => $personal_read,)+ }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($name => Some(AuditAction::$variant),)+ _ => None }
            }
        }
    };
}

actions! {
    Login => "auth.login", false;
    LoginFailed => "auth.login_failed", false;
    LoginThrottled => "auth.login_throttled", false;
    Logout => "auth.logout", false;
    LogoutEverywhere => "auth.logout_everywhere", false;
    SecondFactorEnrolled => "auth.second_factor_enrol", false;
    SecondFactorVerified => "auth.second_factor", false;
    SecondFactorFailed => "auth.second_factor_failed", false;
    SecondFactorReset => "auth.second_factor_reset", false;
    SsoLinked => "auth.sso_link", false;
    OrgCreated => "org.create", false;
    UserCreated => "user.create", false;
    UserPasswordReset => "user.password_reset", false;
    UsersListed => "user.list", true;
    MembersListed => "org.members_list", true;
    MemberAdded => "membership.add", false;
    MemberRemoved => "membership.remove", false;
    TokenCreated => "token.create", false;
    TokenRevoked => "token.revoke", false;
    AuditViewed => "audit.view", false;
    DemoSeeded => "demo.seed", false;
    FormUploaded => "form.upload", false;
    FormMediaUploaded => "form.media_upload", false;
    MasterKeyRotated => "key.master_rotate", false;
    BreakGlass => "case.break_glass", false;
    BreakGlassReviewed => "case.break_glass_review", false;
    BreakGlassListed => "case.break_glass_list", true;
    BackupCreated => "backup.create", false;
    BackupRestored => "backup.restore", false;
    RetentionScheduled => "retention.schedule", false;
    RetentionShredded => "retention.shred", false;
    CaseIntegrityFailed => "case.integrity_failed", false;
    ConsentRecorded => "consent.record", false;
    ConsentWithdrawn => "consent.withdraw", false;
    PersonAccessReport => "person.access_report", true;
    SubjectAccessExported => "person.subject_access", true;
    CaseRegistered => "case.register", false;
    CaseViewed => "case.view", true;
    CasesListed => "case.list", true;
    CasesSearched => "case.search", true;
    CaseStageChanged => "case.stage", false;
    CaseUpdated => "case.update", false;
    CaseAssigned => "case.assign", false;
    ServiceRecorded => "case.service", false;
    NoteAdded => "case.note", false;
    DocumentAdded => "case.document_add", false;
    DocumentViewed => "case.document_view", true;
    ReferralRequested => "referral.request", false;
    ReferralAnswered => "referral.respond", false;
    ReferralCompleted => "referral.complete", false;
    ReferralViewed => "referral.view", true;
    ReferralsListed => "referral.list", false;
    PersonViewed => "person.view", true;
    PersonsMatched => "person.match", true;
    PersonsReindexed => "person.reindex", false;
    MatchModelLearned => "person.match_model", true;
    DuplicatesListed => "person.duplicates", true;
    PersonsMerged => "person.merge", false;
    PersonsUnmerged => "person.unmerge", false;
    PersonsDistinct => "person.distinct", false;
    FilterSaved => "filter.save", false;
    CasesImported => "case.import", false;
    CasesExported => "case.export", true;
    WatchlistUploaded => "watchlist.upload", false;
    ScreeningHitsListed => "screening.list", true;
    ScreeningHitReviewed => "screening.review", false;
    IndicatorRecords => "indicator.records", true;
    IndicatorsExported => "indicator.export", true;
    NarrativeSaved => "report.narrative", false;
    IndicatorValueEntered => "indicator.value", false;
    FrameworkEdited => "framework.edit", false;
    DeviceIssued => "device.issue", false;
    DeviceRevoked => "device.revoke", false;
    SubmissionReceived => "submission.receive", false;
    SubmissionProcessed => "submission.process", false;
    SubmissionQuarantined => "submission.quarantine", false;
    SubmissionsListed => "submission.list", false;
    CollectionKeyCreated => "collection_key.create", false;
    CollectionKeyUnlocked => "collection_key.unlock", false;
    CollectionKeyLocked => "collection_key.lock", false;
}

/// How the action reached Passage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Api,
    Cli,
    /// An ODK client (Collect, Enketo, Web Forms) through the OpenRosa endpoints.
    OpenRosa,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Api => "api",
            Self::Cli => "cli",
            Self::OpenRosa => "openrosa",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "web" => Some(Self::Web),
            "api" => Some(Self::Api),
            "cli" => Some(Self::Cli),
            "openrosa" => Some(Self::OpenRosa),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "success" => Some(Self::Success),
            "denied" => Some(Self::Denied),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// One audit event before it is chained. `details` holds identifiers, counts and codes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub actor: Option<UserId>,
    pub org: Option<OrgId>,
    pub action: AuditAction,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub outcome: Outcome,
    pub channel: Channel,
    pub request_id: Option<String>,
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    pub fn new(at: Timestamp, action: AuditAction, channel: Channel) -> Self {
        Self {
            at,
            actor: None,
            org: None,
            action,
            target_type: None,
            target_id: None,
            outcome: Outcome::Success,
            channel,
            request_id: None,
            details: BTreeMap::new(),
        }
    }
    pub fn actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }
    pub fn org(mut self, org: Option<OrgId>) -> Self {
        self.org = org;
        self
    }
    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_type = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
    pub fn request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }
    pub fn detail(mut self, key: &str, value: impl ToString) -> Self {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }
}

/// A stored event as read back, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Option<UserId>,
    pub org: Option<OrgId>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: String,
    pub channel: String,
    pub request_id: Option<String>,
    /// JSON object text, exactly as hashed.
    pub details: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl ChainedEvent {
    /// The bytes the chain hash covers: every column but the hashes, in a fixed layout with
    /// lengths, so no two different events can produce the same bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(&self.seq.to_be_bytes());
        field(&self.at.micros().to_be_bytes());
        field(self.actor.map(|a| a.to_string()).unwrap_or_default().as_bytes());
        field(self.org.map(|o| o.to_string()).unwrap_or_default().as_bytes());
        field(self.action.as_bytes());
        field(self.target_type.as_deref().unwrap_or_default().as_bytes());
        field(self.target_id.as_deref().unwrap_or_default().as_bytes());
        field(self.outcome.as_bytes());
        field(self.channel.as_bytes());
        field(self.request_id.as_deref().unwrap_or_default().as_bytes());
        field(self.details.as_bytes());
        out
    }
}

/// Serialise details deterministically (BTreeMap keeps keys sorted).
pub fn details_json(details: &BTreeMap<String, String>) -> String {
    serde_json::to_string(details).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_separate_fields() {
        let base = ChainedEvent {
            seq: 1,
            at: Timestamp::from_micros(5),
            actor: None,
            org: None,
            action: "a".into(),
            target_type: Some("bc".into()),
            target_id: None,
            outcome: "success".into(),
            channel: "web".into(),
            request_id: None,
            details: "{}".into(),
            prev_hash: vec![],
            hash: vec![],
        };
        let shifted = ChainedEvent {
            action: "ab".into(),
            target_type: Some("c".into()),
            ..base.clone()
        };
        assert_ne!(base.canonical_bytes(), shifted.canonical_bytes());
    }

    #[test]
    fn action_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
    }
}
