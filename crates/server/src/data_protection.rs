//! The data protection focal point's page: break-glass accesses to need-to-know cases, with
//! who, when, until when and why, each marked reviewed once looked at.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_service::BreakGlass;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/data-protection", get(page))
        .route("/data-protection/break-glass/{id}/reviewed", post(reviewed))
        .route("/data-protection/subject", post(subject))
        .route("/data-protection/subject/export", post(subject_export))
}

/// A subject access request being answered: the case number asked with, and who accessed the
/// person and their cases (when, action, by, target).
type Subject = (String, Vec<(String, String, String, String)>);

#[derive(Template)]
#[template(path = "data_protection.html")]
struct DataProtectionPage {
    c: Chrome,
    grants: Vec<BreakGlass>,
    subject: Option<Subject>,
    problem: Option<String>,
}

impl DataProtectionPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn page(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    render(&state, &ctx, &who, StatusCode::OK, None, None).await
}

async fn render(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    status: StatusCode,
    subject: Option<Subject>,
    problem: Option<String>,
) -> Result<Response, PageError> {
    let grants = state.svc.break_glass_grants(&who.actor, ctx).await?;
    render_with(
        status,
        &DataProtectionPage {
            c: Chrome::of(who),
            grants,
            subject,
            problem,
        },
    )
}

#[derive(serde::Deserialize)]
struct SubjectForm {
    case_number: String,
}

/// The person behind a case number, or the page saying none is known (the number is the
/// requester's; nothing else is echoed).
async fn subject_person(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    number: &str,
) -> Result<Result<uuid::Uuid, Response>, PageError> {
    // Only those who answer such requests may learn whether a number exists.
    if !who
        .actor
        .has_anywhere(passage_domain::Permission::DataProtectionOversee)
    {
        return Err(PageError::Service(passage_service::ServiceError::Denied(
            passage_domain::Denied::Forbidden,
        )));
    }
    match state.svc.person_of_case_number(number).await {
        Ok(p) => Ok(Ok(p)),
        Err(passage_service::ServiceError::NotFound) => {
            let problem = "No person is known by that case number.".to_owned();
            Ok(Err(render(
                state,
                ctx,
                who,
                StatusCode::NOT_FOUND,
                None,
                Some(problem),
            )
            .await?))
        }
        Err(e) => Err(e.into()),
    }
}

async fn subject(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    axum::Form(form): axum::Form<SubjectForm>,
) -> Result<Response, PageError> {
    let person = match subject_person(&state, &ctx, &who, &form.case_number).await? {
        Ok(p) => p,
        Err(page) => return Ok(page),
    };
    let events = state.svc.person_access_report(&who.actor, &ctx, person).await?;
    let members = state.svc.users(&who.actor, &ctx).await.unwrap_or_default();
    let name = |u: passage_domain::UserId| {
        members
            .iter()
            .find(|m| m.user.id == u)
            .map_or_else(|| u.to_string(), |m| m.user.display_name.to_string())
    };
    let lines = events
        .into_iter()
        .map(|e| {
            (
                e.at.display_minutes(),
                e.action,
                e.actor.map_or_else(|| "operator".to_owned(), name),
                e.target_type
                    .zip(e.target_id)
                    .map(|(t, i)| format!("{t} {i}"))
                    .unwrap_or_default(),
            )
        })
        .collect();
    render(
        &state,
        &ctx,
        &who,
        StatusCode::OK,
        Some((form.case_number.trim().to_uppercase(), lines)),
        None,
    )
    .await
}

#[derive(serde::Deserialize)]
struct ExportFormat {
    format: Option<String>,
}

async fn subject_export(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    axum::extract::Query(q): axum::extract::Query<ExportFormat>,
    axum::Form(form): axum::Form<SubjectForm>,
) -> Result<Response, PageError> {
    let person = match subject_person(&state, &ctx, &who, &form.case_number).await? {
        Ok(p) => p,
        Err(page) => return Ok(page),
    };
    Ok(subject_access_file(&state, &ctx, &who.actor, person, q.format.as_deref()).await?)
}

/// Everything held about a person as a download: JSON (with document contents) or PDF.
pub(crate) async fn subject_access_file(
    state: &AppState,
    ctx: &passage_service::Ctx,
    actor: &passage_domain::Actor,
    person: uuid::Uuid,
    format: Option<&str>,
) -> Result<Response, passage_service::ServiceError> {
    let pdf = match format {
        None | Some("json") => false,
        Some("pdf") => true,
        Some(other) => {
            return Err(passage_domain::InvalidValue::new(
                "format",
                format!("'{other}' is not one of json, pdf"),
            )
            .into());
        }
    };
    let export = state.svc.subject_access_export(actor, ctx, person).await?;
    if pdf {
        let report = passage_service::subject_access_report(&export);
        return crate::reports::pdf_file(state, &report).await;
    }
    let body = serde_json::to_vec_pretty(&export)
        .map_err(|e| passage_service::ServiceError::Internal(e.to_string()))?;
    Ok(crate::transfer::attachment((
        format!("subject-access-{person}.json"),
        "application/json",
        body,
    )))
}

async fn reviewed(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(passage_service::ServiceError::NotFound))?;
    match state.svc.review_break_glass(&who.actor, &ctx, id).await {
        // Reviewed by someone else meanwhile: the page shows it so.
        Ok(()) | Err(passage_service::ServiceError::Conflict(_)) => {
            Ok(Redirect::to("/data-protection").into_response())
        }
        Err(e) => Err(e.into()),
    }
}
