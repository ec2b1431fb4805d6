//! The access matrix: every route × every demo role (and no one) × own/other organisation ×
//! counter-trafficking (`ct`, need-to-know) / other (`avrr`) record, against the status the
//! declared rule for that route says it must answer.
//!
//! How to read it:
//! - [`routes`] declares, for every route and method, the rule that governs it ([`Rule`]): what
//!   permission it needs and where (installation, an organisation, a record), taken from the
//!   service's documented intent (README "Need to know", the policy in
//!   `crates/domain/src/policy.rs`, the use cases' doc comments). [`expect`] turns a rule into
//!   the expected answer for one user and one target; nothing here is learnt from responses.
//! - [`every_route_is_in_the_matrix`] parses every `.route(...)` of `crates/server/src` (and the
//!   OpenAPI document): a new route fails it until someone declares its access here.
//! - It found two gaps when written, since fixed: the edit page of a need-to-know case was
//!   served outside its team, and the Screening page refused a watchlist keeper without
//!   `crossings.view`.
//! - Denied state-changing requests must leave the audit trail untouched (every change is
//!   written with its audit event in the same transaction, so an unchanged trail means nothing
//!   changed).
//!
//! Ids that cannot be made cheaply (a quarantined ODK submission, a screening hit, a person
//! merge, a framework node) are random UUIDs: those rows only show that nobody reaches them
//! (permitted users get 404; others 403 or 404, since the record's organisation is unknown).
//!
//! Bodies are well formed so that denial is what is observed: several handlers validate their
//! input before the service authorizes (a date, a decision, an empty file, a person merged with
//! themself answer 422 to anyone), which says nothing about access.
//!
//! TODO, not covered yet:
//! - read-only API tokens (`TokenScope::Read`) and the API called with a browser session and
//!   its CSRF token; every API row uses a write token;
//! - a live break-glass grant as a column (the grant's holder seeing a need-to-know case);
//! - real quarantined submissions, screening hits, person merges, framework nodes and unlocked
//!   collection keys (random ids or absent keys today);
//! - OpenRosa beyond one device's key URL and unauthenticated Digest requests (a revoked device,
//!   a device of another organisation, Digest credentials);
//! - exact success statuses for permitted users (only "not refused" is asserted), and masking
//!   beyond the person's generated full name;
//! - "nothing changes" is read from the audit trail's length, not from every table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use passage_domain::{Actor, OrgId, Permission as P, TokenScope};
use passage_service::Ctx;
use passage_xlsform::fill::{Seed, fill_with};
use std::collections::{BTreeMap, BTreeSet};
use support::App;

// ---------------------------------------------------------------------------------------------
// Who: the demo accounts, with the permissions their roles are seeded with.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Org {
    /// IOM Liberia, the host organisation.
    Iom,
    /// Liberia Immigration Service.
    Lis,
    /// Ministry of Labour.
    Mol,
    /// Safe Haven Shelter (fictional NGO).
    Shelter,
}

struct Demo {
    name: &'static str,
    org: Org,
    role: &'static str,
    perms: &'static [P],
}

/// The demo accounts and their roles' permissions as seeded by the migrations (checked against
/// the database in [`roles_are_as_declared`], so a changed role forces a look at the matrix).
const USERS: [Demo; 9] = [
    Demo {
        name: "admin",
        org: Org::Iom,
        role: "administrator",
        perms: &[
            P::InstallationManage,
            P::OrgView,
            P::MembersManage,
            P::FormsManage,
            P::WatchlistsManage,
            P::DevicesManage,
        ],
    },
    Demo {
        name: "manager",
        org: Org::Iom,
        role: "programme_manager",
        perms: &[
            P::OrgView,
            P::CasesView,
            P::CasesEdit,
            P::CasesApprove,
            P::CrossingsView,
            P::IndicatorsView,
            P::ReportsView,
            P::WatchlistsManage,
            P::IndicatorsExact,
        ],
    },
    Demo {
        name: "caseworker",
        org: Org::Iom,
        role: "caseworker",
        perms: &[P::OrgView, P::CasesView, P::CasesEdit],
    },
    Demo {
        name: "meofficer",
        org: Org::Iom,
        role: "me_officer",
        perms: &[
            P::OrgView,
            P::IndicatorsView,
            P::IndicatorsManage,
            P::ReportsView,
            P::FormsManage,
            P::IndicatorsExact,
        ],
    },
    Demo {
        name: "auditor",
        org: Org::Iom,
        role: "auditor",
        perms: &[P::OrgView, P::AuditView],
    },
    Demo {
        name: "dpo",
        org: Org::Iom,
        role: "data_protection_focal_point",
        perms: &[P::OrgView, P::AuditView, P::DataProtectionOversee],
    },
    Demo {
        name: "border",
        org: Org::Lis,
        role: "border_officer",
        perms: &[
            P::OrgView,
            P::CrossingsView,
            P::CrossingsRecord,
            P::WatchlistsManage,
        ],
    },
    Demo {
        name: "partner",
        org: Org::Mol,
        role: "partner_viewer",
        perms: &[P::OrgView, P::IndicatorsView, P::ReportsView],
    },
    Demo {
        name: "shelter.caseworker",
        org: Org::Shelter,
        role: "caseworker",
        perms: &[P::OrgView, P::CasesView, P::CasesEdit],
    },
];

/// Who asks: no one (no cookie, no token), or a demo account (by its index in [`USERS`]).
#[derive(Debug, Clone, Copy)]
enum Who {
    Anon,
    User(usize),
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Self::Anon => "(anonymous)",
            Self::User(i) => USERS[i].name,
        }
    }
    fn demo(self) -> Option<&'static Demo> {
        match self {
            Self::Anon => None,
            Self::User(i) => Some(&USERS[i]),
        }
    }
}

impl Demo {
    fn has(&self, p: P) -> bool {
        self.perms.contains(&p)
    }
    fn in_host(&self) -> bool {
        self.org == Org::Iom
    }
    fn host_has(&self, p: P) -> bool {
        self.in_host() && self.has(p)
    }
    /// Another organisation than the user's own: the host's people look at the Shelter, everyone
    /// else at the host.
    fn other_org(&self) -> Org {
        if self.in_host() { Org::Shelter } else { Org::Iom }
    }
}

// ---------------------------------------------------------------------------------------------
// What: the records and other things routes name.

/// The three records every record-scoped route is tried on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rec {
    /// An AVRR case of IOM Liberia, assigned to `caseworker`.
    Avrr,
    /// A counter-trafficking case of IOM Liberia registered by the operator and assigned to no
    /// one: its team is IOM's supervisors (`manager`) only.
    Ct,
    /// A counter-trafficking case of the Shelter (another organisation for IOM's people).
    ShelterCt,
}

impl Rec {
    fn org(self) -> Org {
        match self {
            Self::Avrr | Self::Ct => Org::Iom,
            Self::ShelterCt => Org::Shelter,
        }
    }
    fn need_to_know(self) -> bool {
        matches!(self, Self::Ct | Self::ShelterCt)
    }
}

/// One column of the matrix for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    /// The route names no record or organisation.
    Plain,
    /// The user's own organisation.
    OwnOrg,
    /// An organisation the user is not a member of.
    OtherOrg,
    /// A fixed organisation (things that belong to one: devices, members).
    At(Org),
    Record(Rec),
}

impl Target {
    fn label(self) -> String {
        match self {
            Self::Plain => "-".into(),
            Self::OwnOrg => "own org".into(),
            Self::OtherOrg => "other org".into(),
            Self::At(o) => format!("{o:?}"),
            Self::Record(r) => format!("{r:?} case"),
        }
    }
    /// The organisation the target belongs to, for this user.
    fn org(self, who: Who) -> Org {
        let own = who.demo().map_or(Org::Iom, |d| d.org);
        match self {
            Self::Plain | Self::OwnOrg => own,
            Self::OtherOrg => who.demo().map_or(Org::Shelter, Demo::other_org),
            Self::At(o) => o,
            Self::Record(r) => r.org(),
        }
    }
}

const RECORDS: &[Target] = &[
    Target::Record(Rec::Avrr),
    Target::Record(Rec::Ct),
    Target::Record(Rec::ShelterCt),
];
const ORGS: &[Target] = &[Target::OwnOrg, Target::OtherOrg];
const AT_ORGS: &[Target] = &[Target::At(Org::Iom), Target::At(Org::Shelter)];
const PLAIN: &[Target] = &[Target::Plain];

// ---------------------------------------------------------------------------------------------
// Rules: how each route decides.

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not, gets this status.
    Fixed(u16),
    /// Anyone, signed in or not, is served (2xx/3xx or a validation answer).
    Open,
    /// Any signed-in user.
    SignedIn,
    /// Only the browser session of someone half-way through signing in: signed-in users are
    /// sent home, no one to the sign-in page.
    PendingSignIn,
    /// The permission in the host organisation (`Scope::Installation`); others 403.
    Installation(P),
    /// The permission in any organisation the user belongs to; others 403.
    Anywhere(P),
    /// Either permission anywhere; others 403.
    AnywhereEither(P, P),
    /// The permission in the target's organisation (`Scope::Org`): members without it 403,
    /// non-members 404, except what the host's administrators and auditors reach everywhere.
    InOrg(P),
    /// Either permission in the target's organisation.
    InOrgEither(P, P),
    /// Reading a case: `cases.view` in its organisation; a need-to-know case outside the
    /// user's team is served masked.
    CaseRead,
    /// Who a need-to-know case is about (its documents, its person): the team only, others 403.
    CaseIdentity,
    /// Changing a case: `cases.edit` in its organisation and, for a need-to-know case, being on
    /// its team (403 otherwise).
    CaseWrite,
    /// Breaking the glass: anyone who may read the case (the reason sent is too short, so
    /// permitted users get a validation answer and nothing opens).
    BreakGlass,
    /// A thing belonging to one user (a saved filter, an API token): only its owner; others
    /// "not found".
    OwnedBy(&'static str),
    /// The referral from IOM's AVRR case to the Shelter: read by either side's case readers.
    ReferralRead,
    /// Answering or completing that referral: case editors of the receiving organisation.
    ReferralReceiver,
    /// Subject access from a case number: the data protection permission anywhere (403 else,
    /// "no telling which numbers exist"), then in the case's organisation (404 else).
    SubjectAccess,
    /// A user account one manages (`MembersManage` in one of its organisations, or the
    /// installation): others are told "not found".
    ManagedUser,
    /// Acts on the caller's own thing only: the owner is served; anyone else gets the status
    /// and nothing changes.
    OwnOnlyNoEffect(&'static str, u16),
    /// Merging (or marking distinct) the record's person with a person of another
    /// organisation: who may change the first person's records is told "not found"; others are
    /// refused as for changing the record's organisation's records.
    MergeAcrossOrgs,
    /// A random id: permitted users (by the inner rule) get 404; others 403 or 404.
    Missing(&'static Rule),
}

/// What a cell must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Served: not 401/403/404, no server error, not sent to sign in.
    Allowed,
    /// Served, without the name of the person the need-to-know case is about.
    Masked,
    Status(u16),
    /// 303 to this location.
    Redirect(&'static str),
    /// 403 or 404.
    Denied,
    /// This status, and nothing changes.
    NoEffect(u16),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Allowed => f.write_str("allowed"),
            Self::Masked => f.write_str("allowed, masked"),
            Self::Status(s) => write!(f, "{s}"),
            Self::Redirect(to) => write!(f, "303 {to}"),
            Self::Denied => f.write_str("403|404"),
            Self::NoEffect(s) => write!(f, "{s}, no change"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Page,
    Api,
    /// OpenRosa: devices authenticate by the key in the URL or HTTP Digest, never by a user's
    /// session or token.
    Device,
}

/// `Scope::Org` as the policy decides it.
fn org_decision(d: &Demo, org: Org, p: P) -> Expect {
    if d.org == org && d.has(p) {
        return Expect::Allowed;
    }
    let from_host = match p {
        P::OrgView | P::MembersManage | P::DevicesManage => d.host_has(P::InstallationManage),
        P::AuditView => d.host_has(P::AuditView),
        _ => false,
    };
    if from_host {
        Expect::Allowed
    } else if d.org == org {
        Expect::Status(403)
    } else {
        Expect::Status(404)
    }
}

fn on_team(d: &Demo, rec: Rec) -> bool {
    // Registered by the operator, assigned to no one: only supervisors (`cases.approve`).
    !rec.need_to_know() || (d.org == rec.org() && d.has(P::CasesApprove))
}

fn allow_if(ok: bool, otherwise: u16) -> Expect {
    if ok {
        Expect::Allowed
    } else {
        Expect::Status(otherwise)
    }
}

/// The expected answer of `rule` for `who` on `target`.
fn expect(rule: &Rule, channel: Channel, who: Who, target: Target) -> Expect {
    if channel == Channel::Device {
        return match rule {
            Rule::Fixed(s) => Expect::Status(*s),
            _ => Expect::Allowed,
        };
    }
    let Some(d) = who.demo() else {
        return match rule {
            Rule::Fixed(s) => Expect::Status(*s),
            Rule::Open => Expect::Allowed,
            _ if channel == Channel::Api => Expect::Status(401),
            _ => Expect::Redirect("/login"),
        };
    };
    let org = target.org(who);
    let rec = match target {
        Target::Record(r) => Some(r),
        _ => None,
    };
    match rule {
        Rule::Fixed(s) => Expect::Status(*s),
        Rule::Open | Rule::SignedIn => Expect::Allowed,
        Rule::PendingSignIn => Expect::Redirect("/"),
        Rule::Installation(p) => allow_if(d.host_has(*p), 403),
        Rule::Anywhere(p) => allow_if(d.has(*p), 403),
        Rule::AnywhereEither(p, q) => allow_if(d.has(*p) || d.has(*q), 403),
        Rule::InOrg(p) => org_decision(d, org, *p),
        Rule::InOrgEither(p, q) => match org_decision(d, org, *p) {
            Expect::Allowed => Expect::Allowed,
            _ => org_decision(d, org, *q),
        },
        Rule::CaseRead | Rule::BreakGlass => {
            let rec = rec.expect("a record rule on a record");
            match org_decision(d, org, P::CasesView) {
                Expect::Allowed if !on_team(d, rec) && matches!(rule, Rule::CaseRead) => Expect::Masked,
                other => other,
            }
        }
        Rule::CaseIdentity => {
            let rec = rec.expect("a record rule on a record");
            match org_decision(d, org, P::CasesView) {
                Expect::Allowed if !on_team(d, rec) => Expect::Status(403),
                other => other,
            }
        }
        Rule::CaseWrite => {
            let rec = rec.expect("a record rule on a record");
            match org_decision(d, org, P::CasesView) {
                Expect::Allowed => match org_decision(d, org, P::CasesEdit) {
                    Expect::Allowed if !on_team(d, rec) => Expect::Status(403),
                    other => other,
                },
                other => other,
            }
        }
        Rule::OwnedBy(owner) => allow_if(d.name == *owner, 404),
        Rule::ReferralRead => {
            // From IOM's AVRR case to the Shelter.
            let sides = [Org::Iom, Org::Shelter];
            // Found only through a case reader of either side: anyone else is told "not found".
            allow_if(sides.contains(&d.org) && d.has(P::CasesView), 404)
        }
        Rule::ReferralReceiver => {
            let sides = [Org::Iom, Org::Shelter];
            if !sides.contains(&d.org) || !d.has(P::CasesView) {
                Expect::Status(404)
            } else {
                // A reader of the sending side is not a member of the receiving organisation.
                org_decision(d, Org::Shelter, P::CasesEdit)
            }
        }
        Rule::SubjectAccess => {
            if !d.has(P::DataProtectionOversee) {
                Expect::Status(403)
            } else {
                org_decision(d, org, P::DataProtectionOversee)
            }
        }
        Rule::ManagedUser => match org_decision(d, org, P::MembersManage) {
            Expect::Allowed => Expect::Allowed,
            _ => Expect::Status(404),
        },
        Rule::OwnOnlyNoEffect(owner, status) => {
            if d.name == *owner {
                Expect::Allowed
            } else {
                Expect::NoEffect(*status)
            }
        }
        Rule::MergeAcrossOrgs => match org_decision(d, org, P::CasesEdit) {
            Expect::Allowed => Expect::Status(404),
            other => other,
        },
        Rule::Missing(inner) => match expect(inner, channel, who, target) {
            Expect::Allowed | Expect::Masked => Expect::Status(404),
            _ => Expect::Denied,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The routes.

#[derive(Debug, Clone)]
enum Payload {
    None,
    /// `application/x-www-form-urlencoded`, with placeholders.
    Form(&'static str),
    Json(&'static str),
    /// (field, file name, content) parts of a `multipart/form-data` body.
    Multipart(&'static [(&'static str, Option<&'static str>, &'static str)]),
    /// Raw bytes (API uploads of one file).
    Raw(&'static str),
}

#[derive(Debug, Clone)]
struct Route {
    method: &'static str,
    /// With placeholders: `{case}`, `{person}`, `{doc}`, `{consent}`, `{number}` (of the
    /// target record), `{org}`, `{member}`, `{username}`, `{device}` (of the target
    /// organisation), and fixed ones (see [`Fixture::fill`]).
    path: &'static str,
    rule: Rule,
    targets: &'static [Target],
    payload: Payload,
}

impl Route {
    fn channel(&self) -> Channel {
        if self.path.starts_with("/api/") {
            Channel::Api
        } else if is_openrosa(self.path) {
            Channel::Device
        } else {
            Channel::Page
        }
    }
}

fn is_openrosa(path: &str) -> bool {
    path.starts_with("/key/")
        || path == "/formList"
        || path == "/submission"
        || (path.starts_with("/forms/")
            && !path.starts_with("/forms/versions/")
            && path != "/forms/upload"
            && path != "/forms/media")
}

fn r(method: &'static str, path: &'static str, rule: Rule) -> Route {
    let targets = match rule {
        Rule::CaseRead
        | Rule::CaseIdentity
        | Rule::CaseWrite
        | Rule::BreakGlass
        | Rule::SubjectAccess
        | Rule::MergeAcrossOrgs => RECORDS,
        Rule::InOrg(_) | Rule::InOrgEither(..) => ORGS,
        _ => PLAIN,
    };
    Route {
        method,
        path,
        rule,
        targets,
        payload: Payload::None,
    }
}

impl Route {
    fn form(mut self, body: &'static str) -> Self {
        self.payload = Payload::Form(body);
        self
    }
    fn json(mut self, body: &'static str) -> Self {
        self.payload = Payload::Json(body);
        self
    }
    fn multipart(mut self, parts: &'static [(&'static str, Option<&'static str>, &'static str)]) -> Self {
        self.payload = Payload::Multipart(parts);
        self
    }
    fn raw(mut self, body: &'static str) -> Self {
        self.payload = Payload::Raw(body);
        self
    }
    fn on(mut self, targets: &'static [Target]) -> Self {
        self.targets = targets;
        self
    }
}

const MISSING_CASE_EDIT: Rule = Rule::Missing(&Rule::Anywhere(P::CasesEdit));
const MISSING_DPO: Rule = Rule::Missing(&Rule::Installation(P::DataProtectionOversee));
const MISSING_DEVICES: Rule = Rule::Missing(&Rule::Anywhere(P::DevicesManage));
const MISSING_CROSSING_RECORD: Rule = Rule::Missing(&Rule::Anywhere(P::CrossingsRecord));
const MISSING_INDICATORS_MANAGE: Rule = Rule::Missing(&Rule::Installation(P::IndicatorsManage));

/// Every route, with the rule that governs it. Sessions-ending routes (`/logout`,
/// `/account/logout-everywhere`) are in [`session_routes`].
fn routes() -> Vec<Route> {
    use Rule::*;
    vec![
        // --- operators' endpoints, assets, sign-in
        r("GET", "/healthz", Fixed(200)),
        r("GET", "/readyz", Fixed(200)),
        r("GET", "/metrics", Open),
        r("GET", "/static/{asset}", Fixed(200)),
        r("GET", "/login", Open),
        // A throwaway account's right password: a new session for whoever posts it.
        r("POST", "/login", Fixed(303)).form("username=matrix.login&password={login_password}"),
        r("GET", "/login/second-factor", PendingSignIn),
        r("POST", "/login/second-factor", PendingSignIn).form("code=000000"),
        // No single sign-on is configured in the test app: nobody finds these.
        r("GET", "/login/sso", Fixed(404)),
        r("GET", "/login/sso/callback", Fixed(404)),
        // --- home and account
        r("GET", "/", SignedIn),
        r("GET", "/account", SignedIn),
        r("POST", "/account/password", SignedIn).form("current=not-the-password&new=too-short"),
        r("POST", "/account/tokens", SignedIn).form("name=matrix&scope=read&valid_days=1"),
        r("POST", "/account/tokens/{page_token}/revoke", OwnedBy("caseworker")).form(""),
        r("GET", "/account/second-factor", SignedIn),
        r("POST", "/account/second-factor", SignedIn).form("code=000000"),
        // --- organisations and users
        r("GET", "/organisations", SignedIn),
        r("POST", "/organisations", Installation(P::InstallationManage)).form("name=&kind=ngo"),
        r("GET", "/organisations/{org}", InOrg(P::OrgView)),
        r("POST", "/organisations/{org}/users", InOrg(P::MembersManage))
            .form("username=matrix.new&display_name=New&email=&password=short&role=caseworker"),
        r("POST", "/organisations/{org}/members", InOrg(P::MembersManage)).form("username=matrix.login&role=no_such_role"),
        r("POST", "/organisations/{org}/members/{member}/remove", InOrg(P::MembersManage))
            .form("")
            .on(AT_ORGS),
        // Someone one may not manage is "not found", so usernames do not leak (`managed_user`).
        r("POST", "/users/{username}/second-factor/reset", ManagedUser)
            .form("")
            .on(AT_ORGS),
        r("GET", "/users", SignedIn),
        r("GET", "/places", SignedIn),
        r("GET", "/audit", Anywhere(P::AuditView)),
        r("POST", "/audit/verify", Installation(P::AuditView)).form(""),
        // --- cases
        r("GET", "/cases", AnywhereEither(P::CasesView, P::CrossingsView)),
        r("POST", "/cases/filters", SignedIn).form("name=&query=programme%3Davrr"),
        // Deletes only the caller's own filter: anyone else's request changes nothing.
        r("POST", "/cases/filters/{filter}/delete", OwnOnlyNoEffect("caseworker", 303)).form(""),
        r("GET", "/cases/{case}", CaseRead),
        r("POST", "/cases/{case}/stage", CaseWrite).form("to=no_such_stage&reason=&revision=0"),
        r("POST", "/cases/{case}/break-glass", BreakGlass).form("reason=too+short"),
        r("GET", "/cases/new?programme=avrr&org={org}", InOrg(P::CasesEdit)),
        r("POST", "/cases/new?programme=avrr&org={org}", InOrg(P::CasesEdit)).form(""),
        r("GET", "/cases/{case}/edit", CaseWrite),
        r("POST", "/cases/{case}/edit", CaseWrite).form("_revision=0"),
        r("POST", "/cases/{case}/assign", CaseWrite).form("assignee=&due_on=&revision=0"),
        r("POST", "/cases/{case}/services", CaseWrite).form("service_type=no_such_service&delivered_on=2026-01-01"),
        r("POST", "/cases/{case}/notes", CaseWrite).form("body=+"),
        r("POST", "/cases/{case}/documents", CaseWrite).multipart(&[("file", Some("x.exe"), "")]),
        r("GET", "/cases/{case}/documents/{doc}", CaseIdentity),
        r("POST", "/cases/{case}/referrals", CaseWrite).form("to={org}&service_type=counselling"),
        // The page is an upload form; the upload decides.
        r("GET", "/cases/import", SignedIn),
        r("POST", "/cases/import", InOrg(P::CasesEdit))
            .multipart(&[("org", None, "{org}"), ("programme", None, "avrr"), ("file", Some("x.csv"), "given_name\r\nMatrix\r\n")]),
        // Without identifying answers, reports viewers may export too (`export_cases`).
        r("GET", "/cases/export?org={org}&programme=avrr&format=csv", InOrgEither(P::CasesView, P::ReportsView)),
        r("GET", "/persons/{person}", CaseIdentity),
        r("POST", "/persons/{person}/consents", CaseWrite).form("scope=processing&purpose=&given_on=2026-01-01&evidence="),
        r("POST", "/persons/{person}/consents/{consent}/withdraw", CaseWrite).form(""),
        // --- referrals
        r("GET", "/referrals", Anywhere(P::CasesView)),
        r("GET", "/referrals/{referral}", ReferralRead),
        r("POST", "/referrals/{referral}/answer", ReferralReceiver).form("decision=no_such_decision&reason="),
        r("POST", "/referrals/{referral}/complete", ReferralReceiver).form(""),
        // --- duplicates
        r("GET", "/persons/duplicates", Anywhere(P::CasesView)),
        // The record's person with one of another organisation: whoever may merge the first
        // is told the second is "not found" (persons merge within one organisation only).
        r("POST", "/persons/duplicates/merge", MergeAcrossOrgs).form("first={person}&second={cross_person}"),
        r("POST", "/persons/duplicates/distinct", MergeAcrossOrgs).form("first={person}&second={cross_person}"),
        r("POST", "/persons/merges/{random}/undo", MISSING_CASE_EDIT).form(""),
        // --- screening
        r("GET", "/screening", AnywhereEither(P::CrossingsView, P::WatchlistsManage)),
        r("POST", "/screening/watchlists", Anywhere(P::WatchlistsManage)).multipart(&[("name", None, ""), ("file", Some("x.csv"), "")]),
        r("POST", "/screening/hits/{random}", MISSING_CROSSING_RECORD).form("decision=dismiss"),
        // --- forms
        // Forms are no one's data: the page lists them to everyone; uploading is the M&E's.
        r("GET", "/forms", SignedIn),
        r("POST", "/forms/upload", Installation(P::FormsManage)).multipart(&[("programme", None, "avrr"), ("file", Some("x.xlsx"), "not a workbook")]),
        r("POST", "/forms/media", Installation(P::FormsManage))
            .multipart(&[("programme", None, "avrr"), ("name", None, "x.png"), ("file", Some("x.png"), "not a picture")]),
        // A form's workbook is no one's data: any signed-in user may read it.
        r("GET", "/forms/versions/{form}/{xlsx}", SignedIn),
        // --- indicators, frameworks, reports
        r("GET", "/indicators", Anywhere(P::IndicatorsView)),
        r("GET", "/indicators/{indicator}", Anywhere(P::IndicatorsView)),
        r("GET", "/indicators/{indicator}/data.csv", Anywhere(P::IndicatorsView)),
        r("GET", "/indicators/{indicator}/export?format=sdmx", Anywhere(P::IndicatorsView)),
        // The records behind a figure: for indicator readers, listing only the records they may
        // open (`records_behind` scopes them by the records' permission).
        r("GET", "/indicators/{indicator}/records", Anywhere(P::IndicatorsView)),
        r("POST", "/indicators/{manual_indicator}/values", Installation(P::IndicatorsManage)).multipart(&[("year", None, "2026"), ("value", None, ""), ("source", None, ""), ("evidence", None, "")]),
        r("GET", "/indicators/{manual_indicator}/evidence/{evidence_year}", Anywhere(P::IndicatorsView)),
        r("GET", "/frameworks/{framework}", Anywhere(P::IndicatorsView)),
        r("POST", "/frameworks/{framework}/nodes", Installation(P::IndicatorsManage)).form("code=&title="),
        r("POST", "/frameworks/{framework}/nodes/{random}/delete", MISSING_INDICATORS_MANAGE).form(""),
        r("GET", "/reports", Anywhere(P::ReportsView)),
        r("GET", "/reports/gcm-review", Anywhere(P::ReportsView)),
        r("POST", "/reports/gcm-review/narratives", Installation(P::IndicatorsManage)).form("section=GCM-O01&year=2026&body=&county="),
        r("GET", "/reports/programmes/{programme}", Anywhere(P::ReportsView)),
        r("GET", "/reports/unsdcf", Anywhere(P::ReportsView)),
        // --- collection (ODK)
        r("GET", "/collection", Anywhere(P::DevicesManage)),
        r("POST", "/collection/devices", InOrg(P::DevicesManage)).form("org={org}&user={random}&name="),
        r("POST", "/collection/devices/{device}/revoke", InOrg(P::DevicesManage)).form("org={org}").on(AT_ORGS),
        r("POST", "/collection/submissions/{random}/reprocess", MISSING_DEVICES).form("org={iom}"),
        // Lists only what the caller may fix or re-process (`quarantined_for`).
        r("GET", "/collection/quarantine", SignedIn),
        r("GET", "/collection/submissions/{random}/fix", MISSING_CASE_EDIT),
        r("POST", "/collection/submissions/{random}/fix", MISSING_CASE_EDIT).form(""),
        r("GET", "/collection/keys", Installation(P::DataProtectionOversee)),
        r("POST", "/collection/keys", Installation(P::DataProtectionOversee)).form("programme=ct&passphrase=a&confirm=b&private_key_pem="),
        // No key was created for the programme: the focal point finds none.
        r("POST", "/collection/keys/{ct}/unlock", MISSING_DPO).form("passphrase=wrong"),
        // Locking a key that is not unlocked is harmless: done.
        r("POST", "/collection/keys/{ct}/lock", Installation(P::DataProtectionOversee)).form(""),
        // Devices: the key in the URL is the credential; a user's session is not one.
        r("GET", "/key/{device_key}/formList", Open),
        r("GET", "/key/{device_key}/forms/{xform_file}", Open),
        r("GET", "/key/{device_key}/forms/{xform}/manifest", Open),
        r("GET", "/key/{device_key}/forms/{xform}/media/{media}", Fixed(404)),
        r("GET", "/key/{device_key}/submission", Open),
        r("HEAD", "/key/{device_key}/submission", Open),
        r("POST", "/key/{device_key}/submission", Open),
        r("GET", "/formList", Fixed(401)),
        r("GET", "/forms/{xform_file}", Fixed(401)),
        r("GET", "/forms/{xform}/manifest", Fixed(401)),
        r("GET", "/forms/{xform}/media/{media}", Fixed(401)),
        r("GET", "/submission", Fixed(401)),
        r("HEAD", "/submission", Fixed(401)),
        r("POST", "/submission", Fixed(401)),
        // --- data protection
        r("GET", "/data-protection", Anywhere(P::DataProtectionOversee)),
        r("POST", "/data-protection/break-glass/{grant}/reviewed", InOrg(P::DataProtectionOversee))
            .form("")
            .on(&[Target::At(Org::Iom)]),
        r("POST", "/data-protection/subject", SubjectAccess).form("case_number={number}"),
        r("POST", "/data-protection/subject/export", SubjectAccess).form("case_number={number}"),
        // --- the API
        r("GET", "/api/v1/openapi.json", Open),
        r("GET", "/api/v1/docs", Open),
        r("GET", "/api/v1/me", SignedIn),
        r("GET", "/api/v1/organisations", SignedIn),
        r("POST", "/api/v1/organisations", Installation(P::InstallationManage)).json(r#"{"name":"","kind":"ngo"}"#),
        r("GET", "/api/v1/organisations/{org}", InOrg(P::OrgView)),
        r("GET", "/api/v1/organisations/{org}/members", InOrg(P::OrgView)),
        r("POST", "/api/v1/organisations/{org}/members", InOrg(P::MembersManage))
            .json(r#"{"username":"matrix.login","role":"no_such_role"}"#),
        r("GET", "/api/v1/users", SignedIn),
        r("POST", "/api/v1/users", InOrg(P::MembersManage)).json(
            r#"{"username":"matrix.new","display_name":"New","password":"short","organisation_id":"{org}","role":"caseworker"}"#,
        ),
        r("GET", "/api/v1/roles", SignedIn),
        r("GET", "/api/v1/audit/events", Anywhere(P::AuditView)),
        r("GET", "/api/v1/tokens", SignedIn),
        r("DELETE", "/api/v1/tokens/{api_token}", OwnedBy("caseworker")),
        r("GET", "/api/v1/places/counties", SignedIn),
        r("GET", "/api/v1/places/crossing-points", SignedIn),
        r("GET", "/api/v1/programmes", SignedIn),
        r("GET", "/api/v1/programmes/{programme}/forms", SignedIn),
        r("POST", "/api/v1/programmes/{programme}/forms", Installation(P::FormsManage)).raw(""),
        r("GET", "/api/v1/forms/{form}/xlsx", SignedIn),
        r("GET", "/api/v1/programmes/{programme}/media", SignedIn),
        r("PUT", "/api/v1/programmes/{programme}/media/{media}", Installation(P::FormsManage)).raw(""),
        r("POST", "/api/v1/programmes/{programme}/cases", InOrg(P::CasesEdit)).json(r#"{"organisation_id":"{org}","answers":{}}"#),
        r("POST", "/api/v1/programmes/{programme}/import?organisation={org}", InOrg(P::CasesEdit)).raw(""),
        r("GET", "/api/v1/programmes/{programme}/export?organisation={org}", InOrgEither(P::CasesView, P::ReportsView)),
        // Border crossings are records too: their readers search them.
        r("GET", "/api/v1/cases?organisation={org}", InOrgEither(P::CasesView, P::CrossingsView)),
        r("GET", "/api/v1/cases/{case}", CaseRead),
        r("POST", "/api/v1/cases/{case}/stage", CaseWrite).json(r#"{"to":"no_such_stage"}"#),
        r("POST", "/api/v1/cases/{case}/break-glass", BreakGlass).json(r#"{"reason":"too short"}"#),
        r("PUT", "/api/v1/cases/{case}/answers", CaseWrite).json(r#"{"answers":{},"revision":0}"#),
        r("GET", "/api/v1/cases/{case}/history", CaseRead),
        r("PUT", "/api/v1/cases/{case}/assignment", CaseWrite).json(r#"{"assignee":null,"due_on":null,"revision":0}"#),
        r("GET", "/api/v1/cases/{case}/services", CaseRead),
        r("POST", "/api/v1/cases/{case}/services", CaseWrite).json(r#"{"service_type":"no_such_service","delivered_on":"2026-01-01"}"#),
        r("GET", "/api/v1/cases/{case}/notes", CaseRead),
        r("POST", "/api/v1/cases/{case}/notes", CaseWrite).json(r#"{"body":" "}"#),
        r("GET", "/api/v1/cases/{case}/documents", CaseIdentity),
        r("POST", "/api/v1/cases/{case}/documents?name=x.exe", CaseWrite).raw(""),
        r("GET", "/api/v1/cases/{case}/documents/{doc}", CaseIdentity),
        r("POST", "/api/v1/cases/{case}/referrals", CaseWrite)
            .json(r#"{"to_organisation_id":"{org}","service_type":"counselling","fields":[]}"#),
        r("GET", "/api/v1/persons/{person}", CaseIdentity),
        r("GET", "/api/v1/persons/{person}/subject-access", InOrg(P::DataProtectionOversee)).on(RECORDS),
        r("POST", "/api/v1/organisations/{org}/persons/similar", InOrg(P::CasesView)).json(r#"{"given_name":"Matrix"}"#),
        r("GET", "/api/v1/referrals?organisation={org}", InOrg(P::CasesView)),
        r("GET", "/api/v1/referrals/{referral}", ReferralRead),
        r("POST", "/api/v1/referrals/{referral}/answer", ReferralReceiver).json(r#"{"accept":true,"reason":null}"#),
        r("POST", "/api/v1/referrals/{referral}/complete", ReferralReceiver),
        r("GET", "/api/v1/organisations/{org}/watchlists", InOrgEither(P::CrossingsView, P::WatchlistsManage)),
        r("POST", "/api/v1/organisations/{org}/watchlists?name=x", InOrg(P::WatchlistsManage)).raw(""),
        r("GET", "/api/v1/organisations/{org}/screening-hits", InOrg(P::CrossingsView)),
        r("POST", "/api/v1/screening-hits/{random}/decision", MISSING_CROSSING_RECORD).json(r#"{"decision":"dismiss"}"#),
        r("GET", "/api/v1/organisations/{org}/submissions", InOrg(P::DevicesManage)),
        r("GET", "/api/v1/submissions/{random}", MISSING_CASE_EDIT),
        r("POST", "/api/v1/submissions/{random}/answers", MISSING_CASE_EDIT).json(r#"{"answers":{}}"#),
        r("POST", "/api/v1/submissions/{random}/reprocess", MISSING_DEVICES),
        r("GET", "/api/v1/indicators", Anywhere(P::IndicatorsView)),
        r("GET", "/api/v1/organisations/{org}/duplicates", InOrg(P::CasesView)),
        r("GET", "/api/v1/organisations/{org}/merges", InOrg(P::CasesView)),
        r("POST", "/api/v1/persons/merges", MergeAcrossOrgs).json(r#"{"kept":"{person}","merged":"{cross_person}"}"#),
        r("POST", "/api/v1/persons/merges/{random}/undo", MISSING_CASE_EDIT),
        r("POST", "/api/v1/persons/distinct", MergeAcrossOrgs).json(r#"{"first":"{person}","second":"{cross_person}"}"#),
    ]
}

/// Routes that end the caller's session: each gets an app of its own.
fn session_routes() -> Vec<Route> {
    vec![
        // Signed out or not, everyone ends on the sign-in page.
        r("POST", "/logout", Rule::Fixed(303)).form(""),
        // Ends every session of a signed-in user; either way the browser is sent to sign in.
        r("POST", "/account/logout-everywhere", Rule::Fixed(303)).form(""),
    ]
}

// ---------------------------------------------------------------------------------------------
// The fixture: records and things in one app, and everyone signed in once.

struct RecIds {
    case: uuid::Uuid,
    number: String,
    person: uuid::Uuid,
    doc: uuid::Uuid,
    consent: uuid::Uuid,
    name: String,
}

struct Fixture {
    a: App,
    orgs: BTreeMap<Org, OrgId>,
    recs: BTreeMap<Rec, RecIds>,
    /// Throwaway members (partner viewers, no second factor) per organisation: (id, username).
    members: BTreeMap<Org, (uuid::Uuid, String)>,
    devices: BTreeMap<Org, uuid::Uuid>,
    device_key: String,
    referral: uuid::Uuid,
    filter: uuid::Uuid,
    page_token: String,
    api_token_id: String,
    grant: uuid::Uuid,
    form: uuid::Uuid,
    login_password: String,
    /// Per user: (cookie, csrf, API token).
    sessions: Vec<(String, String, String)>,
}

const LOGIN_PASSWORD: &str = "matrix-login-Passw0rd-9472";

impl Fixture {
    async fn new() -> Self {
        let a = App::new().await;
        let ctx = Ctx::cli();
        let op = Actor::Operator;
        let all = a.svc.organisations(&op).await.unwrap();
        let id_of = |name: &str| all.iter().find(|o| o.name.as_str() == name).unwrap().id;
        let orgs: BTreeMap<Org, OrgId> = [
            (Org::Iom, id_of("IOM Liberia")),
            (Org::Lis, id_of("Liberia Immigration Service")),
            (Org::Mol, id_of("Ministry of Labour")),
            (Org::Shelter, id_of("Safe Haven Shelter (fictional NGO)")),
        ]
        .into_iter()
        .collect();

        let mut recs = BTreeMap::new();
        for (rec, programme, seed) in [
            (Rec::Avrr, "avrr", 11),
            (Rec::Ct, "ct", 12),
            (Rec::ShelterCt, "ct", 13),
        ] {
            let (_, form) = a.svc.current_form(programme).await.unwrap();
            let answers = fill_with(&form, &mut Seed::new(seed), a.svc.today(), &consented(&form)).unwrap();
            let case = a
                .svc
                .register_case(&op, &ctx, programme, orgs[&rec.org()], &answers)
                .await
                .unwrap();
            let record = a.svc.case(&op, &ctx, case.id).await.unwrap();
            let person = record.person_id.unwrap();
            let doc = a
                .svc
                .add_document(&op, &ctx, case.id, "notes.txt", b"fictional notes")
                .await
                .unwrap();
            let consent = a
                .svc
                .record_consent(
                    &op,
                    &ctx,
                    person,
                    &passage_service::NewConsent {
                        scope: "processing".into(),
                        purpose: "Case work".into(),
                        recipients: vec![],
                        given_on: a.svc.today(),
                        evidence: None,
                    },
                )
                .await
                .unwrap();
            recs.insert(
                rec,
                RecIds {
                    case: case.id,
                    number: case.number.clone(),
                    person,
                    doc,
                    consent,
                    name: record.person_name.unwrap(),
                },
            );
        }
        a.assign_to(recs[&Rec::Avrr].case, "caseworker").await;
        let referral = a
            .svc
            .refer_case(
                &op,
                &ctx,
                recs[&Rec::Avrr].case,
                orgs[&Org::Shelter],
                "counselling",
                &[],
            )
            .await
            .unwrap();

        let new_user = |username: &str, org: Org, role: &str, password: &str| passage_service::NewUser {
            username: username.into(),
            display_name: format!("Matrix {username} (fictional)"),
            email: None,
            password: password.into(),
            org: orgs[&org],
            role: role.into(),
        };
        let mut members = BTreeMap::new();
        for (org, username) in [(Org::Iom, "matrix.iom"), (Org::Shelter, "matrix.shelter")] {
            let u = a
                .svc
                .create_user(
                    &op,
                    &ctx,
                    &new_user(username, org, "partner_viewer", LOGIN_PASSWORD),
                )
                .await
                .unwrap();
            members.insert(org, (u.id.as_uuid(), username.to_owned()));
        }
        a.svc
            .create_user(
                &op,
                &ctx,
                &new_user("matrix.login", Org::Mol, "partner_viewer", LOGIN_PASSWORD),
            )
            .await
            .unwrap();
        // A caseworker outside the CT case's team breaks the glass, so a grant waits for review
        // (a throwaway, so that the demo caseworker's view of the case stays masked).
        let reader = a
            .svc
            .create_user(
                &op,
                &ctx,
                &new_user("matrix.reader", Org::Iom, "caseworker", LOGIN_PASSWORD),
            )
            .await
            .unwrap();
        let reader_actor = Actor::User {
            id: reader.id,
            host_org: Some(orgs[&Org::Iom]),
            grants: vec![passage_domain::Grant {
                org: orgs[&Org::Iom],
                role: passage_domain::Role::new("caseworker"),
                permissions: [P::OrgView, P::CasesView, P::CasesEdit].into_iter().collect(),
            }],
            token_scope: None,
        };
        a.svc
            .break_glass(
                &reader_actor,
                &ctx,
                recs[&Rec::Ct].case,
                "Matrix test: confirming an identity",
            )
            .await
            .unwrap();
        let grant = a.svc.break_glass_grants(&op, &ctx).await.unwrap()[0].id;

        let mut devices = BTreeMap::new();
        for (org, username) in [(Org::Iom, "caseworker"), (Org::Shelter, "shelter.caseworker")] {
            let user = a
                .svc
                .users(&op, &ctx)
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.user.username.as_str() == username)
                .unwrap();
            let issued = a
                .svc
                .issue_device(&op, &ctx, orgs[&org], user.user.id, "Matrix tablet (fictional)")
                .await
                .unwrap();
            devices.insert(org, issued.device.id);
        }
        // The key routes' own device (the others are revoked by their rows).
        let caseworker = a.svc.users(&op, &ctx).await.unwrap();
        let caseworker = caseworker
            .iter()
            .find(|m| m.user.username.as_str() == "caseworker")
            .unwrap();
        let device_key = a
            .svc
            .issue_device(
                &op,
                &ctx,
                orgs[&Org::Iom],
                caseworker.user.id,
                "Matrix key device (fictional)",
            )
            .await
            .unwrap()
            .token;
        let (form, _) = a.svc.current_form("avrr").await.unwrap();
        // A manual value with an evidence file, so that its download answers for those who may.
        let evidence = passage_service::ManualEntry {
            year: 2020,
            value: "3".into(),
            source: "Matrix (fictional)".into(),
            evidence: String::new(),
            file: Some(("matrix.txt".into(), b"fictional evidence".to_vec())),
        };
        a.svc
            .set_manual_value(&passage_domain::Actor::Operator, &ctx, "SDG-10.7.2", &evidence)
            .await
            .unwrap();

        let mut sessions = Vec::new();
        let mut filter = uuid::Uuid::nil();
        let mut page_token = String::new();
        let mut api_token_id = String::new();
        for d in &USERS {
            let (cookie, csrf) = a.sign_in(d.name).await;
            let who = a.session(&cookie).await;
            let token = a
                .svc
                .create_token(&ctx, &who, "matrix", TokenScope::Write, None)
                .await
                .unwrap()
                .1;
            if d.name == "caseworker" {
                a.svc
                    .save_filter(&who.actor, &ctx, "Matrix", "programme=avrr")
                    .await
                    .unwrap();
                filter = a.svc.saved_filters(&who.actor).await.unwrap()[0].id;
                // Spare tokens to revoke, so that the caseworker's own token keeps working.
                for spare in ["matrix page spare", "matrix api spare"] {
                    let (t, _) = a
                        .svc
                        .create_token(&ctx, &who, spare, TokenScope::Read, None)
                        .await
                        .unwrap();
                    if spare.contains("page") {
                        page_token = t.id.to_string();
                    } else {
                        api_token_id = t.id.to_string();
                    }
                }
            }
            sessions.push((cookie, csrf, token));
        }
        Self {
            a,
            orgs,
            recs,
            members,
            devices,
            device_key,
            referral,
            filter,
            page_token,
            api_token_id,
            grant,
            form,
            login_password: LOGIN_PASSWORD.to_owned(),
            sessions,
        }
    }

    /// The route's path or body with the placeholders of `target`, for `who`.
    fn fill(&self, text: &str, who: Who, target: Target) -> String {
        let org = target.org(who);
        let other = who.demo().map_or(Org::Shelter, Demo::other_org);
        let mut out = text
            .replace("{org}", &self.orgs[&org].to_string())
            .replace("{other}", &self.orgs[&other].to_string())
            .replace("{iom}", &self.orgs[&Org::Iom].to_string())
            .replace("{referral}", &self.referral.to_string())
            .replace("{filter}", &self.filter.to_string())
            .replace("{page_token}", &self.page_token)
            .replace("{api_token}", &self.api_token_id)
            .replace("{grant}", &self.grant.to_string())
            .replace("{form}", &self.form.to_string())
            .replace("{device_key}", &self.device_key)
            .replace("{login_password}", &self.login_password)
            .replace("{indicator}", "AVRR-01")
            .replace("{manual_indicator}", "SDG-10.7.2")
            .replace("{evidence_year}", "2020")
            .replace("{asset}", "passage-1.js")
            .replace("{programme}", "avrr")
            .replace("{ct}", "ct")
            .replace("{framework}", "unsdcf")
            .replace("{xform_file}", "avrr_case.xml")
            .replace("{xform}", "avrr_case")
            .replace("{media}", "x.png")
            .replace("{xlsx}", "form.xlsx")
            .replace("{random}", "0195f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f");
        if let Some((member, username)) = self.members.get(&org) {
            out = out
                .replace("{member}", &member.to_string())
                .replace("{username}", username);
        }
        if let Some(device) = self.devices.get(&org) {
            out = out.replace("{device}", &device.to_string());
        }
        if let Target::Record(rec) = target {
            let ids = &self.recs[&rec];
            out = out
                .replace("{case}", &ids.case.to_string())
                .replace("{number}", &ids.number)
                .replace("{person}", &ids.person.to_string())
                .replace("{doc}", &ids.doc.to_string())
                .replace("{consent}", &ids.consent.to_string());
            let cross = if rec.org() == Org::Iom {
                Rec::ShelterCt
            } else {
                Rec::Avrr
            };
            out = out.replace("{cross_person}", &self.recs[&cross].person.to_string());
        }
        assert!(
            !out.contains('{') || out.starts_with('{'),
            "unfilled placeholder in {out}"
        );
        out
    }

    fn request(&self, route: &Route, who: Who, target: Target) -> Request<Body> {
        let path = self.fill(route.path, who, target);
        let mut req = Request::builder()
            .method(route.method)
            .uri(&path)
            .header(header::HOST, "passage.test")
            .header(header::ORIGIN, "http://passage.test");
        if let Who::User(i) = who {
            let (cookie, csrf, token) = &self.sessions[i];
            match route.channel() {
                Channel::Api => req = req.header(header::AUTHORIZATION, format!("Bearer {token}")),
                Channel::Page | Channel::Device => {
                    req = req.header(header::COOKIE, cookie).header("x-csrf-token", csrf);
                }
            }
        }
        let body = match &route.payload {
            Payload::None => Body::empty(),
            Payload::Form(f) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(self.fill(f, who, target))
            }
            Payload::Json(j) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(self.fill(j, who, target))
            }
            Payload::Raw(b) => {
                req = req.header(header::CONTENT_TYPE, "application/octet-stream");
                Body::from(b.to_string())
            }
            Payload::Multipart(parts) => {
                let boundary = "matrix-boundary-7d1c";
                req = req.header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                );
                let mut body = String::new();
                for (field, file, content) in *parts {
                    body.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\""
                    ));
                    if let Some(file) = file {
                        body.push_str(&format!(
                            "; filename=\"{file}\"\r\nContent-Type: application/octet-stream"
                        ));
                    }
                    body.push_str(&format!("\r\n\r\n{}\r\n", self.fill(content, who, target)));
                }
                body.push_str(&format!("--{boundary}--\r\n"));
                Body::from(body)
            }
        };
        req.body(body).unwrap()
    }

    async fn audit_len(&self) -> i64 {
        let mut pooled = self.a.t.db.acquire().await.unwrap();
        passage_store::audit::count_since(
            &mut pooled.conn(),
            None,
            passage_domain::Timestamp::from_micros(0),
        )
        .await
        .unwrap()
    }
}

/// A counter-trafficking record takes an identity only with consent (every point explained).
fn consented(form: &passage_xlsform::Form) -> passage_service::Instance {
    let Some(field) = form.field("consent_points") else {
        return passage_service::Instance::default();
    };
    let points = match &field.kind {
        passage_xlsform::FieldKind::SelectMultiple { list, .. } => form.choices[list]
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    passage_service::Instance::default()
        .with("con_Consent", "TRUE")
        .with("consent_points", &points.join(" "))
}

// ---------------------------------------------------------------------------------------------
// Running the matrix.

struct Cell {
    method: &'static str,
    path: &'static str,
    who: Who,
    target: Target,
    expected: Expect,
    got: u16,
    note: String,
}

fn judge(
    expected: Expect,
    status: StatusCode,
    location: Option<&str>,
    body: &str,
    hidden: Option<&str>,
) -> Option<String> {
    let s = status.as_u16();
    let to_login = s == 303 && location.is_some_and(|l| l.starts_with("/login"));
    let ok = match expected {
        Expect::Allowed | Expect::Masked => !matches!(s, 401 | 403 | 404) && s < 500 && !to_login,
        Expect::Status(e) | Expect::NoEffect(e) => s == e,
        Expect::Redirect(to) => s == 303 && location == Some(to),
        Expect::Denied => matches!(s, 403 | 404),
    };
    if !ok {
        return Some(location.map(|l| format!("-> {l}")).unwrap_or_default());
    }
    if expected == Expect::Masked
        && let Some(name) = hidden
        && body.contains(name)
    {
        return Some("the person's name is shown".into());
    }
    None
}

fn who_all() -> impl Iterator<Item = Who> {
    std::iter::once(Who::Anon).chain((0..USERS.len()).map(Who::User))
}

/// Run `routes` on a fresh fixture; returns the mismatches and how many cells ran.
async fn run(routes: &[Route]) -> (Vec<Cell>, usize) {
    let f = Fixture::new().await;
    // The masking check can fail: the case's team (the supervisor) does see the name.
    let manager = USERS.iter().position(|d| d.name == "manager").unwrap();
    let page =
        f.a.get(
            &format!("/cases/{}", f.recs[&Rec::Ct].case),
            Some(&f.sessions[manager].0),
        )
        .await;
    assert!(
        page.body.contains(&f.recs[&Rec::Ct].name),
        "the team sees who the case is about"
    );
    let mut bad = Vec::new();
    let mut cells = 0;
    for route in routes {
        let channel = route.channel();
        // Denied users first: a permitted user's change must not decide what a later denied
        // one sees.
        let mut plan: Vec<(Who, Target, Expect)> = Vec::new();
        for who in who_all() {
            for &target in route.targets {
                plan.push((who, target, expect(&route.rule, channel, who, target)));
            }
        }
        plan.sort_by_key(|(_, _, e)| matches!(e, Expect::Allowed | Expect::Masked));
        for (who, target, expected) in plan {
            cells += 1;
            let writes = route.method != "GET" && route.method != "HEAD";
            let before = if writes { f.audit_len().await } else { 0 };
            let reply = f.a.send(f.request(route, who, target)).await;
            let location = reply.headers.get(header::LOCATION).and_then(|v| v.to_str().ok());
            let hidden = match target {
                Target::Record(rec) => Some(f.recs[&rec].name.as_str()),
                _ => None,
            };
            let mut verdict = judge(expected, reply.status, location, &reply.body, hidden);
            let denied = matches!(
                expected,
                Expect::Status(401 | 403 | 404)
                    | Expect::Denied
                    | Expect::Redirect("/login")
                    | Expect::NoEffect(_)
            );
            if writes && denied && verdict.is_none() && f.audit_len().await != before {
                verdict = Some("denied, yet the audit trail grew".into());
            }
            let cell = Cell {
                method: route.method,
                path: route.path,
                who,
                target,
                expected,
                got: reply.status.as_u16(),
                note: verdict.clone().unwrap_or_default(),
            };
            if verdict.is_some() {
                bad.push(cell);
            }
        }
    }
    (bad, cells)
}

fn table(cells: &[Cell]) -> String {
    let mut out = format!(
        "{:<7} {:<55} {:<19} {:<12} {:<16} {:<4} note\n",
        "method", "path", "user", "target", "expected", "got"
    );
    for c in cells {
        out.push_str(&format!(
            "{:<7} {:<55} {:<19} {:<12} {:<16} {:<4} {}\n",
            c.method,
            c.path,
            c.who.label(),
            c.target.label(),
            c.expected.to_string(),
            c.got,
            c.note
        ));
    }
    out
}

#[tokio::test]
async fn every_route_answers_every_role_as_its_rule_says() {
    let (mut bad, mut cells) = run(&routes()).await;
    // Each session-ending route on an app of its own, so that it ends no one else's rows.
    for route in session_routes() {
        let (b, n) = run(std::slice::from_ref(&route)).await;
        bad.extend(b);
        cells += n;
    }
    assert!(
        bad.is_empty(),
        "{} of {cells} cells answer otherwise than their rule:\n{}",
        bad.len(),
        table(&bad)
    );
}

// ---------------------------------------------------------------------------------------------
// Completeness: every route of the server is in the matrix.

const SOURCES: &[(&str, &str)] = &[
    ("activity.rs", include_str!("../src/activity.rs")),
    ("api.rs", include_str!("../src/api.rs")),
    ("api_casework.rs", include_str!("../src/api_casework.rs")),
    ("assets.rs", include_str!("../src/assets.rs")),
    ("auth.rs", include_str!("../src/auth.rs")),
    ("cases.rs", include_str!("../src/cases.rs")),
    ("collection.rs", include_str!("../src/collection.rs")),
    ("data_protection.rs", include_str!("../src/data_protection.rs")),
    ("duplicates.rs", include_str!("../src/duplicates.rs")),
    ("error.rs", include_str!("../src/error.rs")),
    ("forms.rs", include_str!("../src/forms.rs")),
    ("frameworks.rs", include_str!("../src/frameworks.rs")),
    ("indicators.rs", include_str!("../src/indicators.rs")),
    ("lib.rs", include_str!("../src/lib.rs")),
    ("metrics.rs", include_str!("../src/metrics.rs")),
    ("openrosa.rs", include_str!("../src/openrosa.rs")),
    ("pages.rs", include_str!("../src/pages.rs")),
    ("register.rs", include_str!("../src/register.rs")),
    ("reports.rs", include_str!("../src/reports.rs")),
    ("screening.rs", include_str!("../src/screening.rs")),
    ("second_factor.rs", include_str!("../src/second_factor.rs")),
    ("security.rs", include_str!("../src/security.rs")),
    ("sso.rs", include_str!("../src/sso.rs")),
    ("transfer.rs", include_str!("../src/transfer.rs")),
];

/// Path constants routes are declared with.
const PATH_CONSTANTS: &[(&str, &str)] = &[("crate::auth::SECOND_FACTOR_PATH", "/login/second-factor")];

/// `/cases/{id}/documents/{doc}` → `/cases/{}/documents/{}`, without the query.
fn shape(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// The text from `open` (just after an opening parenthesis) to its matching `)`.
fn balanced(text: &str, open: usize) -> &str {
    let mut depth = 1;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses after byte {open}");
}

/// The HTTP methods a method router expression names (`get(a).post(b)`, `axum::routing::put(c)`).
fn methods_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in ["get", "post", "put", "delete", "patch", "head"] {
        let pattern = format!("{m}(");
        for (i, _) in expr.match_indices(&pattern) {
            let before = expr[..i].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                out.push(m.to_uppercase());
            }
        }
    }
    out
}

/// Every (method, path shape) the server routes, from its source.
fn routed() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (file, text) in SOURCES {
        // API routers are nested under /api/v1: all of api.rs and api_casework.rs, and each
        // module's `api_routes()`.
        let api_span = if matches!(*file, "api.rs" | "api_casework.rs") {
            Some((0, text.len()))
        } else {
            text.find("fn api_routes()").map(|start| {
                let end = text[start..].find("\n}\n").map_or(text.len(), |e| start + e);
                (start, end)
            })
        };
        for (at, _) in text.match_indices(".route(") {
            let args = balanced(text, at + ".route(".len());
            let (raw_path, expr) = args.split_once(',').expect("a route with a handler");
            let raw_path = raw_path.trim();
            let path = if let Some(lit) = raw_path.strip_prefix('"') {
                lit.trim_end_matches('"').to_owned()
            } else {
                PATH_CONSTANTS
                    .iter()
                    .find(|(name, _)| *name == raw_path)
                    .unwrap_or_else(|| {
                        panic!("{file}: route path constant {raw_path} is not in PATH_CONSTANTS")
                    })
                    .1
                    .to_owned()
            };
            let mut methods = methods_in(expr);
            // A method router built by a local closure (`let submission = || { get(…).post(…) }`).
            let expr = expr.trim();
            if let Some(name) = expr
                .strip_suffix("()")
                .filter(|n| n.chars().all(|c| c.is_alphanumeric() || c == '_'))
            {
                let def = text
                    .find(&format!("let {name} = ||"))
                    .unwrap_or_else(|| panic!("{file}: {name} is not a local closure"));
                let body = &text[def..def + text[def..].find("};").unwrap()];
                methods = methods_in(body);
            }
            assert!(!methods.is_empty(), "{file}: no method in route {path}: {expr}");
            let prefix = match api_span {
                Some((s, e)) if at >= s && at < e => "/api/v1",
                _ => "",
            };
            for m in methods {
                out.insert((m, shape(&format!("{prefix}{path}"))));
            }
        }
    }
    out
}

/// What the OpenAPI document lists (a documented route must exist and be in the matrix too).
fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(&passage_server::openapi_document()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch", "head"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), shape(&format!("/api/v1{path}"))));
            }
        }
    }
    out
}

#[test]
fn every_route_is_in_the_matrix() {
    let declared: BTreeSet<(String, String)> = routes()
        .iter()
        .chain(session_routes().iter())
        .map(|r| (r.method.to_owned(), shape(r.path)))
        .collect();
    // A new source file must join SOURCES, or its routes would go unseen.
    let on_disk: BTreeSet<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .collect();
    let read: BTreeSet<String> = SOURCES.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(on_disk, read, "SOURCES must list every file of crates/server/src");
    let routed = routed();
    assert!(
        routed.len() > 150,
        "the route parser found only {} routes",
        routed.len()
    );
    let documented = documented();
    let missing: Vec<_> = routed
        .union(&documented)
        .filter(|r| !declared.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a declared access rule (add them to routes()):\n{missing:#?}"
    );
    let stale: Vec<_> = declared.iter().filter(|r| !routed.contains(*r)).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist:\n{stale:#?}"
    );
}

#[tokio::test]
async fn roles_are_as_declared() {
    let a = App::new().await;
    let roles = a.svc.roles();
    for d in &USERS {
        let role = roles
            .iter()
            .find(|r| r.role.as_str() == d.role)
            .unwrap_or_else(|| panic!("no role {}", d.role));
        let seeded: BTreeSet<P> = role.permissions.iter().copied().collect();
        let declared: BTreeSet<P> = d.perms.iter().copied().collect();
        assert_eq!(
            seeded, declared,
            "{} ({}): the matrix's permissions differ from the seeded role",
            d.name, d.role
        );
    }
}
