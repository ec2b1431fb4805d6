//! Case pages: an organisation's cases, and one case with its answers labelled by its form.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passage_domain::{OrgId, Permission, Timestamp};
use passage_service::{Instance, ServiceError};
use passage_xlsform::{FieldKind, Form, Node, Sensitivity};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases", get(list))
        .route("/cases/{id}", get(view))
        .route("/cases/{id}/stage", axum::routing::post(move_stage))
}

struct CaseLine {
    id: String,
    number: String,
    programme: String,
    stage: String,
    created_at: Timestamp,
    sex: String,
    age: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    c: Chrome,
    orgs: Vec<(String, String)>,
    org: String,
    programmes: Vec<(String, String)>,
    programme: String,
    cases: Vec<CaseLine>,
}

/// One line of a case page.
enum DisplayRow {
    Heading(usize, String),
    /// (depth, label, value, stored encrypted)
    Answer(usize, String, String, bool),
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
    /// (stage label, reached or current, is current)
    stages: Vec<(String, bool, bool)>,
    /// (stage code, label, needs approval, closes)
    moves: Vec<(String, String, bool, bool)>,
    reasons: Vec<(&'static str, &'static str)>,
    /// (when, who, from, to, reason)
    history: Vec<(String, String, String, String, String)>,
    error: Option<String>,
}

impl CasesPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

impl CasePage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

#[derive(Deserialize)]
struct ListParams {
    org: Option<String>,
    programme: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
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
    let org = match p.org.as_deref().filter(|o| !o.is_empty()) {
        Some(raw) => raw
            .parse()
            .map_err(|_| PageError::Service(ServiceError::NotFound))?,
        None => *readable.first().ok_or(PageError::Service(ServiceError::Denied(
            passage_domain::Denied::Forbidden,
        )))?,
    };
    let programme = p.programme.filter(|p| !p.is_empty());
    let cases = state
        .svc
        .cases(&who.actor, &ctx, org, programme.as_deref())
        .await?;
    let all_orgs = state.svc.organisations(&who.actor).await?;
    let orgs = all_orgs
        .iter()
        .filter(|o| readable.contains(&o.id))
        .map(|o| (o.id.to_string(), o.name.to_string()))
        .collect();
    let programmes: Vec<(String, String)> = state
        .svc
        .programmes()
        .await?
        .into_iter()
        .map(|p| (p.programme.code, p.programme.name))
        .collect();
    let name_of = |code: &str| {
        programmes
            .iter()
            .find(|(c, _)| c == code)
            .map_or(code, |(_, n)| n.as_str())
            .to_owned()
    };

    let text = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    let cases = cases
        .into_iter()
        .map(|c| CaseLine {
            id: c.id.to_string(),
            sex: text(&c.reporting, "sex"),
            age: text(&c.reporting, "age"),
            programme: name_of(&c.programme),
            number: c.number,
            stage: c.stage,
            created_at: c.created_at,
        })
        .collect();
    render_with(
        StatusCode::OK,
        &CasesPage {
            c: Chrome::of(&who),
            orgs,
            org: org.to_string(),
            programmes,
            programme: programme.unwrap_or_default(),
            cases,
        },
    )
}

async fn view(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    case_page(&state, &ctx, &who, id, StatusCode::OK, None).await
}

async fn case_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    id: uuid::Uuid,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let case = state.svc.case(&who.actor, ctx, id).await?;
    let form = state.svc.form_model(case.form_version).await?;
    let flow = state.svc.workflow(&who.actor, id).await?;
    let organisation = state
        .svc
        .organisation(&who.actor, case.owner_org)
        .await
        .map(|o| o.name.to_string())
        .unwrap_or_default();
    let language = form.default_language.clone().unwrap_or_default();
    let mut rows = Vec::new();
    display(&form, &form.children, &case.answers, 0, &language, &mut rows);
    let version = state
        .svc
        .form_versions(&case.programme)
        .await?
        .into_iter()
        .find(|v| v.id == case.form_version);
    let programme = state
        .svc
        .programmes()
        .await?
        .into_iter()
        .find(|p| p.programme.code == case.programme)
        .map_or(case.programme.clone(), |p| p.programme.name);
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
    let names: std::collections::BTreeMap<String, String> = state
        .svc
        .users(&who.actor, ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.user.id.to_string(), m.user.display_name.to_string()))
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
                .map(|m| {
                    (
                        m.to.code.clone(),
                        m.to.label.clone(),
                        m.needs_approval,
                        m.to.closed,
                    )
                })
                .collect(),
            reasons: passage_service::CLOSURE_REASONS.to_vec(),
            history: flow
                .history
                .iter()
                .rev()
                .map(|h| {
                    let who = h.actor.map(|a| {
                        names
                            .get(&a.to_string())
                            .cloned()
                            .unwrap_or_else(|| a.to_string())
                    });
                    let reason = h
                        .reason
                        .as_deref()
                        .and_then(|r| passage_service::CLOSURE_REASONS.iter().find(|(c, _)| *c == r));
                    (
                        h.at.display_minutes(),
                        who.unwrap_or_else(|| "operator".into()),
                        label(&h.from_stage),
                        label(&h.to_stage),
                        reason.map(|(_, l)| (*l).to_owned()).unwrap_or_default(),
                    )
                })
                .collect(),
            error,
        },
    )
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
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    match state
        .svc
        .move_case(
            &who.actor,
            &ctx,
            id,
            &form.to,
            form.reason.as_deref(),
            form.revision,
        )
        .await
    {
        Ok(()) => Ok(axum::response::Redirect::to(&format!("/cases/{id}")).into_response()),
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            case_page(&state, &ctx, &who, id, status, Some(message)).await
        }
    }
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
