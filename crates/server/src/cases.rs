//! Case pages: an organisation's cases, and one case with its answers labelled by its form.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passage_domain::{Actor, OrgId, Permission, Scope, Timestamp, UserId};
use passage_service::{
    Authenticated, CaseQuery, CaseSort, CaseSummary, Instance, SERVICE_TYPES, ServiceError,
};
use passage_xlsform::{FieldKind, Form, Node, Sensitivity};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases", get(list))
        .route("/cases/filters", post(save_filter))
        .route("/cases/filters/{id}/delete", post(delete_filter))
        .route("/cases/{id}", get(view))
        .route("/cases/{id}/stage", post(move_stage))
        .route("/cases/{id}/break-glass", post(break_glass))
        .route("/persons/{id}", get(person))
        .route("/persons/{id}/consents", post(record_consent))
        .route(
            "/persons/{id}/consents/{consent}/withdraw",
            post(withdraw_consent),
        )
}

pub(crate) fn parse_uuid(raw: &str) -> Result<uuid::Uuid, PageError> {
    raw.parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))
}

struct CaseLine {
    id: String,
    number: String,
    person: Option<(String, String)>,
    identity_hidden: bool,
    programme: String,
    /// Short form for tables (the code, upper case).
    programme_code: String,
    stage: String,
    county: String,
    assignee: String,
    due_on: String,
    overdue: bool,
    created_at: Timestamp,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    c: Chrome,
    orgs: Vec<(String, String)>,
    p: ListParams,
    org: String,
    programmes: Vec<(String, String)>,
    stages: Vec<(String, String)>,
    counties: Vec<(String, String)>,
    assignees: Vec<(String, String)>,
    sorts: [(&'static str, &'static str); 5],
    saved: Vec<(String, String, String)>,
    /// The query string of the current filter without personal terms, for saving.
    saveable: String,
    cases: Vec<CaseLine>,
    total: i64,
    first: i64,
    last: i64,
    prev: Option<String>,
    next: Option<String>,
    notice: Option<String>,
}

/// One line of a case page.
enum DisplayRow {
    Heading(usize, String),
    /// (depth, label, value, stored encrypted)
    Answer(usize, String, String, bool),
}

/// One entry of a case's history: when, who, what.
struct Event {
    at: Timestamp,
    who: String,
    what: String,
    /// Earlier values of changed answers: (label, before).
    details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    c: Chrome,
    number: String,
    programme: String,
    stage: String,
    organisation: String,
    created: String,
    form_version: String,
    rows: Vec<DisplayRow>,
    id: String,
    revision: i64,
    closed: bool,
    can_edit: bool,
    person: Option<(String, String)>,
    assignee: String,
    due_on: String,
    assignees: Vec<(String, String, bool)>,
    /// (stage label, reached or current, is current)
    stages: Vec<(String, bool, bool)>,
    /// (stage code, label, needs approval, closes)
    moves: Vec<(String, String, bool, bool)>,
    awaiting_approval: Vec<String>,
    reasons: Vec<(&'static str, &'static str)>,
    service_types: Vec<(&'static str, &'static str)>,
    /// (date, type, provider, value)
    services: Vec<(String, String, String, String)>,
    /// (when, who, text)
    notes: Vec<(String, String, String)>,
    /// (id, name, type, size)
    documents: Vec<(String, String, String, String)>,
    /// (id, to, service, status, when)
    referrals: Vec<(String, String, String, String, String)>,
    /// Organisations a case may be referred to: (id, name).
    partners: Vec<(String, String)>,
    /// Top-level answered fields that a referral may share: (name, label, identifying).
    shareable: Vec<(String, String, bool)>,
    history: Vec<Event>,
    today: String,
    error: Option<String>,
    /// A need-to-know case outside the reader's cases: shown masked, with the break-glass form.
    identity_hidden: bool,
    /// When the reader's break-glass access to this case ends.
    glass_until: Option<String>,
    /// Past its retention: only reporting answers are left.
    shredded: bool,
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    c: Chrome,
    id: String,
    org: String,
    name: String,
    /// (label, value)
    identity: Vec<(&'static str, String)>,
    cases: Vec<CaseLine>,
    /// Programmes a new case may be registered in for this person: (code, name).
    programmes: Vec<(String, String)>,
    /// (id, scope label, purpose, recipients, given on, withdrawn on, evidence)
    consents: Vec<ConsentLine>,
    /// Organisations a sharing consent may name: (id, name).
    partners: Vec<(String, String)>,
    can_edit: bool,
    today: String,
    error: Option<String>,
}

struct ConsentLine {
    id: String,
    scope: String,
    purpose: String,
    recipients: String,
    given_on: String,
    withdrawn_on: Option<String>,
    evidence: String,
}

macro_rules! chrome_of {
    ($($page:ty),+) => {$(
        impl $page {
            pub fn chrome(&self) -> Option<&Chrome> {
                Some(&self.c)
            }
        }
    )+};
}
chrome_of!(CasesPage, CasePage, PersonPage);

#[derive(Deserialize, Default, Clone)]
pub(crate) struct ListParams {
    #[serde(default)]
    org: String,
    #[serde(default)]
    programme: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    county: String,
    /// `me`, a user id, or empty.
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    open: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    notice: String,
}

const SORTS: [(&str, &str); 5] = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("number", "Case number"),
    ("due", "Due date"),
    ("stage", "Stage"),
];

fn sort_of(raw: &str) -> CaseSort {
    match raw {
        "oldest" => CaseSort::Oldest,
        "number" => CaseSort::Number,
        "due" => CaseSort::Due,
        "stage" => CaseSort::Stage,
        _ => CaseSort::Newest,
    }
}

fn date_param(raw: &str, field: &'static str) -> Result<Option<time::Date>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    time::Date::parse(raw, &time::format_description::well_known::Iso8601::DATE)
        .map(Some)
        .map_err(|_| passage_domain::InvalidValue::new(field, "must be a date (YYYY-MM-DD)").into())
}

impl ListParams {
    /// The query string of these filters; `personal` keeps the name and number terms.
    fn query(&self, personal: bool, page: Option<u32>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        let pairs = [
            ("org", &self.org),
            ("programme", &self.programme),
            ("stage", &self.stage),
            ("county", &self.county),
            ("assignee", &self.assignee),
            ("from", &self.from),
            ("to", &self.to),
            ("overdue", &self.overdue),
            ("open", &self.open),
            ("sort", &self.sort),
        ];
        for (k, v) in pairs {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if personal {
            for (k, v) in [("number", &self.number), ("name", &self.name)] {
                if !v.is_empty() {
                    q.append_pair(k, v);
                }
            }
        }
        if let Some(p) = page {
            q.append_pair("page", &p.to_string());
        }
        q.finish()
    }
}

/// The organisations whose cases the user may read, and the one to show.
fn readable_org(who: &Authenticated, asked: &str) -> Result<(OrgId, Vec<OrgId>), PageError> {
    let readable: Vec<OrgId> = who
        .actor
        .grants()
        .iter()
        .filter(|g| {
            g.permissions.contains(&Permission::CasesView)
                || g.permissions.contains(&Permission::CrossingsView)
        })
        .map(|g| g.org)
        .collect();
    let org = match asked {
        "" => *readable.first().ok_or(PageError::Service(ServiceError::Denied(
            passage_domain::Denied::Forbidden,
        )))?,
        raw => raw
            .parse()
            .map_err(|_| PageError::Service(ServiceError::NotFound))?,
    };
    Ok((org, readable))
}

async fn list(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let (org, readable) = readable_org(&who, &p.org)?;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let assigned_to = match p.assignee.as_str() {
        "" => None,
        "me" => Some(who.user.id),
        raw => Some(
            raw.parse()
                .map_err(|_| PageError::Service(ServiceError::NotFound))?,
        ),
    };
    let query = CaseQuery {
        org: Some(org),
        programme: nonempty(&p.programme),
        stage: nonempty(&p.stage),
        county: nonempty(&p.county),
        assigned_to,
        number: nonempty(p.number.trim()),
        name: nonempty(p.name.trim()),
        registered_from: date_param(&p.from, "from")?,
        registered_to: date_param(&p.to, "to")?,
        open_only: p.open == "1",
        overdue: p.overdue == "1",
        sort: sort_of(&p.sort),
        page: p.page.unwrap_or(1),
        page_size: 50,
    };
    let page = state.svc.search_cases(&who.actor, &ctx, &query).await?;
    let all_orgs = state.svc.organisations(&who.actor).await?;
    let orgs = all_orgs
        .iter()
        .filter(|o| readable.contains(&o.id))
        .map(|o| (o.id.to_string(), o.name.to_string()))
        .collect();
    let programmes = programme_names(&state).await?;
    let stages = match &query.programme {
        Some(code) => state
            .svc
            .stages(code)
            .iter()
            .map(|s| (s.code.clone(), s.label.clone()))
            .collect(),
        None => Vec::new(),
    };
    let staff = state.svc.caseworkers(&who.actor, org).await.unwrap_or_default();
    let today = state.svc.today().to_string();
    let cases = case_lines(&state, page.cases, &programmes, &staff, &today).await?;
    let shown = cases.len() as i64;
    let first = i64::from(page.page - 1) * i64::from(page.page_size);
    let saved = state
        .svc
        .saved_filters(&who.actor)
        .await?
        .into_iter()
        .map(|f| (f.id.to_string(), f.name, f.query))
        .collect();
    render_with(
        StatusCode::OK,
        &CasesPage {
            c: Chrome::of(&who),
            orgs,
            org: org.to_string(),
            programmes,
            stages,
            counties: state
                .svc
                .counties()
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect(),
            assignees: staff.iter().map(|(id, n)| (id.to_string(), n.clone())).collect(),
            sorts: SORTS,
            saved,
            saveable: p.query(false, None),
            total: page.total,
            first: if shown == 0 { 0 } else { first + 1 },
            last: first + shown,
            prev: (page.page > 1).then(|| p.query(true, Some(page.page - 1))),
            next: (first + shown < page.total).then(|| p.query(true, Some(page.page + 1))),
            notice: nonempty(&p.notice),
            cases,
            p,
        },
    )
}

async fn programme_names(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    Ok(state
        .svc
        .programmes()
        .await?
        .into_iter()
        .map(|p| (p.programme.code, p.programme.name))
        .collect())
}

async fn case_lines(
    state: &AppState,
    cases: Vec<CaseSummary>,
    programmes: &[(String, String)],
    staff: &[(UserId, String)],
    today: &str,
) -> Result<Vec<CaseLine>, PageError> {
    let mut labels: std::collections::HashMap<(String, String), String> = Default::default();
    for (code, _) in programmes {
        for s in state.svc.stages(code) {
            labels.insert((code.clone(), s.code.clone()), s.label.clone());
        }
    }
    let county_names: std::collections::HashMap<&str, &str> = state
        .svc
        .counties()
        .iter()
        .map(|c| (c.code.as_str(), c.name.as_str()))
        .collect();
    Ok(cases
        .into_iter()
        .map(|c| {
            let due = c.due_on.clone().unwrap_or_default();
            CaseLine {
                id: c.id.to_string(),
                person: c
                    .person_id
                    .zip(c.person_name.clone())
                    .map(|(id, n)| (id.to_string(), n)),
                identity_hidden: c.identity_hidden,
                programme_code: c.programme.to_uppercase(),
                programme: programmes
                    .iter()
                    .find(|(code, _)| *code == c.programme)
                    .map_or(c.programme.clone(), |(_, n)| n.clone()),
                stage: labels
                    .get(&(c.programme.clone(), c.stage.clone()))
                    .cloned()
                    .unwrap_or(c.stage),
                county: c
                    .county
                    .as_deref()
                    .map(|k| county_names.get(k).copied().unwrap_or(k).to_owned())
                    .unwrap_or_default(),
                assignee: c
                    .assigned_to
                    .and_then(|u| staff.iter().find(|(id, _)| *id == u))
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                overdue: !c.closed && !due.is_empty() && due.as_str() < today,
                due_on: due,
                number: c.number,
                created_at: c.created_at,
            }
        })
        .collect())
}

#[derive(Deserialize)]
struct SaveFilterForm {
    name: String,
    query: String,
}

async fn save_filter(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    axum::Form(form): axum::Form<SaveFilterForm>,
) -> Result<Response, PageError> {
    // Re-read the query so that only known, non-personal filters are stored.
    let p: ListParams = serde_urlencoded_query(&form.query);
    let query = p.query(false, None);
    let notice = match state.svc.save_filter(&who.actor, &ctx, &form.name, &query).await {
        Ok(()) => "Filter saved.".to_owned(),
        Err(e) => crate::error::correctable(e)?.1,
    };
    let mut back = form_urlencoded::Serializer::new(query);
    back.append_pair("notice", &notice);
    Ok(Redirect::to(&format!("/cases?{}", back.finish())).into_response())
}

fn serde_urlencoded_query(raw: &str) -> ListParams {
    axum::extract::Query::<ListParams>::try_from_uri(&format!("/?{raw}").parse().unwrap_or_default())
        .map(|q| q.0)
        .unwrap_or_default()
}

async fn delete_filter(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    state.svc.delete_filter(&who.actor, parse_uuid(&id)?).await?;
    Ok(Redirect::to("/cases").into_response())
}

async fn view(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    case_page(&state, &ctx, &who, parse_uuid(&id)?, StatusCode::OK, None).await
}

pub(crate) async fn case_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    id: uuid::Uuid,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let svc = &state.svc;
    let case = svc.case(&who.actor, ctx, id).await?;
    let form = svc.form_model(case.form_version).await?;
    let flow = svc.workflow(&who.actor, id).await?;
    let organisation = svc
        .organisation(&who.actor, case.owner_org)
        .await
        .map(|o| o.name.to_string())
        .unwrap_or_default();
    let language = form.default_language.clone().unwrap_or_default();
    let mut rows = Vec::new();
    display(&form, &form.children, &case.answers, 0, &language, &mut rows);
    let version = svc
        .form_versions(&case.programme)
        .await?
        .into_iter()
        .find(|v| v.id == case.form_version);
    let programmes = programme_names(state).await?;
    let programme = programmes
        .iter()
        .find(|(c, _)| *c == case.programme)
        .map_or(case.programme.clone(), |(_, n)| n.clone());
    let position = flow
        .stages
        .iter()
        .position(|s| s.code == flow.current)
        .unwrap_or(0);
    let label = |code: &str| {
        flow.stages
            .iter()
            .find(|s| s.code == code)
            .map_or(code.to_owned(), |s| s.label.clone())
    };
    let (_, edit) = passage_service::record_permissions(&case.programme);
    let hidden = case.identity_hidden;
    let can_edit = !hidden && !case.shredded && who.actor.authorize(edit, Scope::Org(case.owner_org)).is_ok();
    let glass_until = svc
        .break_glass_until(&who.actor, id)
        .await?
        .map(|t| t.display_minutes());
    let staff = svc
        .caseworkers(&who.actor, case.owner_org)
        .await
        .unwrap_or_default();
    let name_of = |u: Option<UserId>| match u {
        None => "system".to_owned(),
        Some(u) => staff
            .iter()
            .find(|(id, _)| *id == u)
            .map_or_else(|| "a former member".to_owned(), |(_, n)| n.clone()),
    };
    let person = case
        .person_id
        .map(|p| p.to_string())
        .zip(case.person_name.clone());
    let orgs = svc.organisations(&Actor::Operator).await?;
    let org_name = |o: OrgId| {
        orgs.iter()
            .find(|x| x.id == o)
            .map_or_else(String::new, |x| x.name.to_string())
    };
    let service_label = |code: &str| {
        SERVICE_TYPES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code.to_owned(), |(_, l)| (*l).to_owned())
    };
    let field_label = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        let name = name.split('[').next().unwrap_or(name);
        form.field(name)
            .and_then(|f| f.label.get(&language))
            .map_or_else(|| path.to_owned(), |l| l.replace("**", ""))
    };

    let services = svc.services(&who.actor, id).await?;
    let notes = svc.notes(&who.actor, id).await?;
    let documents = if hidden {
        Vec::new()
    } else {
        svc.documents(&who.actor, id).await?
    };
    let referrals = svc.referrals(&who.actor, None, Some(id)).await?;
    let versions = svc.case_versions(&who.actor, id).await?;

    let mut history: Vec<Event> = Vec::new();
    history.push(Event {
        at: case.created_at,
        who: name_of(case.created_by),
        what: "Registered".into(),
        details: Vec::new(),
    });
    for h in &flow.history {
        let reason = h
            .reason
            .as_deref()
            .and_then(|r| passage_service::CLOSURE_REASONS.iter().find(|(c, _)| *c == r))
            .map(|(_, l)| format!(" ({l})"))
            .unwrap_or_default();
        history.push(Event {
            at: h.at,
            who: name_of(h.actor),
            what: format!(
                "Moved from {} to {}{reason}",
                label(&h.from_stage),
                label(&h.to_stage)
            ),
            details: Vec::new(),
        });
    }
    // Assignment changes are kept with the edits under these two names.
    let describe = |path: &str, before: &Option<String>| -> (String, String) {
        let before = match (path, before) {
            (_, None) => "(empty)".to_owned(),
            ("assigned_to", Some(u)) => name_of(u.parse().ok()),
            (_, Some(v)) => v.clone(),
        };
        let label = match path {
            "assigned_to" => "Caseworker".to_owned(),
            "due_on" => "Due date".to_owned(),
            other => field_label(other),
        };
        (label, before)
    };
    for v in &versions {
        let fields: Vec<String> = v.changes.iter().map(|(p, b)| describe(p, b).0).collect();
        history.push(Event {
            at: v.at,
            who: name_of(v.actor),
            what: format!("Changed {}", fields.join(", ")),
            details: v.changes.iter().map(|(p, before)| describe(p, before)).collect(),
        });
    }
    for s in &services {
        history.push(Event {
            at: s.recorded_at,
            who: name_of(s.recorded_by),
            what: format!("Recorded service: {}", service_label(&s.service_type)),
            details: Vec::new(),
        });
    }
    for n in &notes {
        history.push(Event {
            at: n.at,
            who: name_of(n.author),
            what: "Added a note".into(),
            details: Vec::new(),
        });
    }
    for d in &documents {
        history.push(Event {
            at: d.at,
            who: name_of(d.uploaded_by),
            what: "Attached a document".into(),
            details: Vec::new(),
        });
    }
    for r in &referrals {
        history.push(Event {
            at: r.requested_at,
            who: name_of(r.requested_by),
            what: format!(
                "Referred to {} for {}",
                org_name(r.to_org),
                service_label(&r.service_type)
            ),
            details: Vec::new(),
        });
    }
    history.sort_by_key(|e| std::cmp::Reverse(e.at));

    let shareable = form
        .children
        .iter()
        .flat_map(top_level_fields)
        .filter(|f| case.answers.values.contains_key(&f.name))
        .map(|f| {
            (
                f.name.clone(),
                f.label.get(&language).unwrap_or(&f.name).replace("**", ""),
                f.sensitivity != Some(Sensitivity::Reporting),
            )
        })
        .collect();
    render_with(
        status,
        &CasePage {
            c: Chrome::of(who),
            number: case.number,
            programme,
            stage: label(&case.stage),
            organisation,
            created: case.created_at.display_minutes(),
            form_version: version.map(|v| v.version).unwrap_or_default(),
            rows,
            id: id.to_string(),
            revision: case.revision,
            closed: case.closed,
            can_edit,
            person,
            assignee: case.assigned_to.map(|u| name_of(Some(u))).unwrap_or_default(),
            due_on: case.due_on.clone().unwrap_or_default(),
            assignees: staff
                .iter()
                .map(|(u, n)| (u.to_string(), n.clone(), case.assigned_to == Some(*u)))
                .collect(),
            stages: flow
                .stages
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.closed || s.code == flow.current)
                .map(|(i, s)| (s.label.clone(), i <= position, s.code == flow.current))
                .collect(),
            moves: flow
                .moves
                .iter()
                .filter(|_| !hidden)
                .map(|m| {
                    (
                        m.to.code.clone(),
                        m.to.label.clone(),
                        m.needs_approval,
                        m.to.closed,
                    )
                })
                .collect(),
            awaiting_approval: flow.awaiting_approval.iter().map(|s| s.label.clone()).collect(),
            reasons: passage_service::CLOSURE_REASONS.to_vec(),
            service_types: SERVICE_TYPES.to_vec(),
            services: services
                .iter()
                .map(|s| {
                    (
                        s.delivered_on.clone(),
                        service_label(&s.service_type),
                        s.provider_org.map(org_name).unwrap_or_default(),
                        match (&s.value, &s.currency) {
                            (Some(v), Some(c)) => format!("{v} {c}"),
                            _ => String::new(),
                        },
                    )
                })
                .collect(),
            notes: notes
                .into_iter()
                .rev()
                .map(|n| (n.at.display_minutes(), name_of(n.author), n.body))
                .collect(),
            documents: documents
                .into_iter()
                .map(|d| {
                    (
                        d.id.to_string(),
                        d.name,
                        d.content_type,
                        format!("{:.1} KiB", d.size as f64 / 1024.0),
                    )
                })
                .collect(),
            referrals: referrals
                .iter()
                .map(|r| {
                    (
                        r.id.to_string(),
                        org_name(r.to_org),
                        service_label(&r.service_type),
                        r.status.clone(),
                        r.requested_at.display_minutes(),
                    )
                })
                .collect(),
            partners: orgs
                .iter()
                .filter(|o| o.id != case.owner_org)
                .map(|o| (o.id.to_string(), o.name.to_string()))
                .collect(),
            shareable,
            history,
            today: svc.today().to_string(),
            error,
            identity_hidden: hidden,
            glass_until,
            shredded: case.shredded,
        },
    )
}

/// The fields of a form outside repeat groups.
fn top_level_fields(node: &Node) -> Vec<&passage_xlsform::Field> {
    match node {
        Node::Field(f)
            if !matches!(
                f.kind,
                FieldKind::Note | FieldKind::Calculate | FieldKind::Metadata(_)
            ) =>
        {
            vec![f]
        }
        Node::Field(_) => Vec::new(),
        Node::Group(g) if g.repeat => Vec::new(),
        Node::Group(g) => g.children.iter().flat_map(top_level_fields).collect(),
    }
}

#[derive(Deserialize)]
struct MoveForm {
    to: String,
    reason: Option<String>,
    revision: Option<i64>,
}

async fn move_stage(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = state
        .svc
        .move_case(
            &who.actor,
            &ctx,
            id,
            &form.to,
            form.reason.as_deref(),
            form.revision,
        )
        .await;
    after_change(&state, &ctx, &who, id, result).await
}

#[derive(serde::Deserialize)]
struct BreakGlassForm {
    reason: String,
}

async fn break_glass(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<BreakGlassForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = state.svc.break_glass(&who.actor, &ctx, id, &form.reason).await;
    after_change(&state, &ctx, &who, id, result).await
}

/// Back to the case after a change, or the case page with the problem when it was refused.
pub(crate) async fn after_change<T>(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    id: uuid::Uuid,
    result: Result<T, ServiceError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            case_page(state, ctx, who, id, status, Some(message)).await
        }
    }
}

const IDENTITY_LABELS: [(&str, &str); 9] = [
    ("given_name", "Given name"),
    ("middle_name", "Middle name"),
    ("surname", "Surname"),
    ("other_names", "Other names"),
    ("date_of_birth", "Date of birth"),
    ("sex", "Sex"),
    ("nationality", "Nationality"),
    ("phone", "Phone"),
    ("document_number", "Document number"),
];

async fn person(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    person_page(&state, &ctx, &who, parse_uuid(&id)?, StatusCode::OK, None).await
}

async fn record_consent(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::extract::RawForm(raw): axum::extract::RawForm,
) -> Result<Response, PageError> {
    let person = parse_uuid(&id)?;
    // Recipients come as repeated fields.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&raw).into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let recipients = pairs
        .iter()
        .filter(|(k, _)| k == "recipients")
        .map(|(_, v)| v.parse().map(OrgId::from_uuid))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    let result = match time::Date::parse(
        &get("given_on"),
        &time::format_description::well_known::Iso8601::DATE,
    ) {
        Ok(given_on) => {
            let new = passage_service::NewConsent {
                scope: get("scope"),
                purpose: get("purpose"),
                recipients,
                given_on,
                evidence: Some(get("evidence")),
            };
            state
                .svc
                .record_consent(&who.actor, &ctx, person, &new)
                .await
                .map(|_| ())
        }
        Err(_) => Err(passage_domain::InvalidValue::new("given_on", "must be a date").into()),
    };
    after_person_change(&state, &ctx, &who, person, result).await
}

async fn withdraw_consent(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path((id, consent)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let person = parse_uuid(&id)?;
    let today = state.svc.today();
    let result = state
        .svc
        .withdraw_consent(&who.actor, &ctx, person, parse_uuid(&consent)?, today)
        .await;
    after_person_change(&state, &ctx, &who, person, result).await
}

async fn after_person_change(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    person: uuid::Uuid,
    result: Result<(), ServiceError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/persons/{person}")).into_response()),
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            person_page(state, ctx, who, person, status, Some(message)).await
        }
    }
}

async fn person_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    id: uuid::Uuid,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let p = state.svc.person(&who.actor, ctx, id).await?;
    let programmes = programme_names(state).await?;
    let staff = state
        .svc
        .caseworkers(&who.actor, p.owner_org)
        .await
        .unwrap_or_default();
    let today = state.svc.today().to_string();
    let registrable = programmes
        .iter()
        .filter(|(code, _)| code != "capacity")
        .filter(|(code, _)| {
            let (_, edit) = passage_service::record_permissions(code);
            who.actor.authorize(edit, Scope::Org(p.owner_org)).is_ok()
        })
        .cloned()
        .collect();
    let orgs = state.svc.organisations(&Actor::Operator).await?;
    let org_name = |o: &OrgId| {
        orgs.iter()
            .find(|x| x.id == *o)
            .map_or_else(String::new, |x| x.name.to_string())
    };
    let consents = state
        .svc
        .consents(&who.actor, p.id)
        .await?
        .into_iter()
        .map(|c| ConsentLine {
            id: c.id.to_string(),
            scope: passage_service::CONSENT_SCOPES
                .iter()
                .find(|(s, _)| *s == c.scope)
                .map_or(c.scope.clone(), |(_, l)| (*l).to_owned()),
            purpose: c.purpose,
            recipients: c.recipients.iter().map(org_name).collect::<Vec<_>>().join(", "),
            given_on: c.given_on,
            withdrawn_on: c.withdrawn_on,
            evidence: c.evidence.unwrap_or_default(),
        })
        .collect();
    let can_edit = who
        .actor
        .authorize(passage_domain::Permission::CasesEdit, Scope::Org(p.owner_org))
        .is_ok();
    render_with(
        status,
        &PersonPage {
            c: Chrome::of(who),
            consents,
            partners: orgs
                .iter()
                .filter(|o| o.id != p.owner_org)
                .map(|o| (o.id.to_string(), o.name.to_string()))
                .collect(),
            can_edit,
            today: today.clone(),
            error,
            id: p.id.to_string(),
            org: p.owner_org.to_string(),
            name: passage_service::display_name(&p.identity),
            identity: IDENTITY_LABELS
                .iter()
                .filter_map(|(k, label)| p.identity.get(*k).map(|v| (*label, v.clone())))
                .collect(),
            cases: case_lines(state, p.cases, &programmes, &staff, &today).await?,
            programmes: registrable,
        },
    )
}

/// Answers in form order, labelled; choices shown by their labels; empty groups left out.
fn display(
    form: &Form,
    nodes: &[Node],
    answers: &Instance,
    depth: usize,
    language: &str,
    out: &mut Vec<DisplayRow>,
) {
    for node in nodes {
        match node {
            Node::Field(f) => {
                let Some(raw) = answers.values.get(&f.name) else {
                    continue;
                };
                let value = match &f.kind {
                    FieldKind::SelectOne { list, .. } | FieldKind::SelectMultiple { list, .. } => raw
                        .split_whitespace()
                        .map(|v| form.choice_label(list, v, language).unwrap_or(v).to_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => raw.clone(),
                };
                let label = f.label.get(language).unwrap_or(&f.name).to_owned();
                let protected = matches!(
                    f.sensitivity,
                    Some(Sensitivity::Identifying | Sensitivity::Sensitive)
                );
                out.push(DisplayRow::Answer(depth, label, value, protected));
            }
            Node::Group(g) if g.repeat => {
                for (i, instance) in answers
                    .repeats
                    .get(&g.name)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .enumerate()
                {
                    let label = g.label.get(language).unwrap_or(&g.name);
                    out.push(DisplayRow::Heading(depth, format!("{label} {}", i + 1)));
                    display(form, &g.children, instance, depth + 1, language, out);
                }
            }
            Node::Group(g) => {
                let before = out.len();
                out.push(DisplayRow::Heading(
                    depth,
                    g.label.get(language).unwrap_or(&g.name).to_owned(),
                ));
                display(form, &g.children, answers, depth + 1, language, out);
                if out.len() == before + 1 {
                    out.pop();
                }
            }
        }
    }
}
