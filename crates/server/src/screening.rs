//! Watchlist screening: the page where a border post uploads its lists and reviews the hits
//! raised by the crossings it records, and the same in the JSON API.

use crate::AppState;
use crate::api::{ErrorBody, parse_id};
use crate::auth::{ApiUser, RequestCtx, WebUser};
use crate::error::{ApiError, PageError};
use crate::pages::{Chrome, first_org_with, render_with};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passage_domain::{OrgId, Permission, Scope};
use passage_service::{Authenticated, MAX_WATCHLIST_BYTES, ScreeningHit, ServiceError, WatchlistSummary};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/screening", get(screening))
        .route(
            "/screening/watchlists",
            post(upload).layer(DefaultBodyLimit::max(MAX_WATCHLIST_BYTES + 64 * 1024)),
        )
        .route("/screening/hits/{id}", post(decide))
}

pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/organisations/{org}/watchlists",
            get(api_watchlists)
                .post(api_upload)
                .layer(DefaultBodyLimit::max(MAX_WATCHLIST_BYTES + 1)),
        )
        .route("/organisations/{org}/screening-hits", get(api_hits))
        .route("/screening-hits/{id}/decision", post(api_decide))
}

/// The organisation whose border screening the user works on: the first where they may read

#[derive(Template)]
#[template(path = "screening.html")]
struct ScreeningPage {
    c: Chrome,
    lists: Vec<WatchlistSummary>,
    hits: Vec<ScreeningHit>,
    show_all: bool,
    can_upload: bool,
    can_decide: bool,
    notice: Option<String>,
    problems: Vec<String>,
}

impl ScreeningPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

#[derive(Deserialize, Default)]
struct PageParams {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    uploaded: Option<String>,
}

/// The organisation the Screening page works on: where the user sees crossings, or else keeps
/// the watchlists.
fn screening_org(who: &Authenticated) -> Result<passage_domain::OrgId, PageError> {
    first_org_with(who, Permission::CrossingsView)
        .or_else(|_| first_org_with(who, Permission::WatchlistsManage))
}

async fn page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    status: StatusCode,
    show_all: bool,
    notice: Option<String>,
    problems: Vec<String>,
) -> Result<Response, PageError> {
    let org = screening_org(who)?;
    let lists = state.svc.watchlists(&who.actor, org).await?;
    let allowed = |p| who.actor.authorize(p, Scope::Org(org)).is_ok();
    // A list keeper who does not see crossings (an administrator) manages lists only.
    let hits = if allowed(Permission::CrossingsView) {
        state.svc.screening_hits(&who.actor, ctx, org, !show_all).await?
    } else {
        Vec::new()
    };
    render_with(
        status,
        &ScreeningPage {
            c: Chrome::of(who),
            lists,
            hits,
            show_all,
            can_upload: allowed(Permission::WatchlistsManage),
            can_decide: allowed(Permission::CrossingsRecord),
            notice,
            problems,
        },
    )
}

async fn screening(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<PageParams>,
) -> Result<Response, PageError> {
    let notice = p.uploaded.map(|entries| {
        format!("The list was saved with {entries} entries; crossings are screened against it from now on.")
    });
    page(&state, &ctx, &who, StatusCode::OK, p.all, notice, Vec::new()).await
}

async fn upload(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let org = screening_org(&who)?;
    let (mut name, mut file) = (None, None);
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("name") => name = field.text().await.ok(),
            Some("file") => file = field.bytes().await.ok(),
            _ => {}
        }
    }
    let (Some(name), Some(file)) = (name, file.filter(|f| !f.is_empty())) else {
        return page(
            &state,
            &ctx,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            false,
            None,
            vec!["Give the list a name and choose a CSV file.".into()],
        )
        .await;
    };
    match state
        .svc
        .upload_watchlist(&who.actor, &ctx, org, &name, &file)
        .await
    {
        // Post/redirect/get: a reload does not upload again.
        Ok(list) => Ok(Redirect::to(&format!("/screening?uploaded={}", list.entries)).into_response()),
        Err(ServiceError::InvalidRecord(problems)) => {
            let lines = problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.reason))
                .collect();
            page(
                &state,
                &ctx,
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
                None,
                lines,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
}

fn confirms(decision: &str) -> Result<bool, ServiceError> {
    match decision {
        "confirm" => Ok(true),
        "dismiss" => Ok(false),
        _ => Err(ServiceError::Invalid(passage_domain::InvalidValue::new(
            "decision",
            "must be confirm or dismiss",
        ))),
    }
}

async fn decide(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    state
        .svc
        .review_hit(&who.actor, &ctx, id, confirms(&form.decision)?)
        .await?;
    Ok(Redirect::to("/screening").into_response())
}

#[derive(Serialize, ToSchema)]
struct WatchlistOut {
    id: String,
    name: String,
    entries: i64,
    uploaded_at: String,
}

impl From<WatchlistSummary> for WatchlistOut {
    fn from(w: WatchlistSummary) -> Self {
        Self {
            id: w.id.to_string(),
            name: w.name,
            entries: w.entries,
            uploaded_at: w.uploaded_at.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct HitOut {
    id: String,
    case_id: String,
    case_number: String,
    watchlist: String,
    /// The list entry's id (never its name).
    entry_ref: String,
    score: f64,
    /// Which name parts and qualifiers agreed; no names.
    explanation: String,
    /// `open`, `confirmed` or `dismissed`.
    status: String,
    created_at: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ListParams {
    /// The list's name (uploading a list under an existing name replaces it).
    name: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
struct HitParams {
    /// Only hits awaiting a decision (default true).
    open: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionIn {
    /// `confirm` (the traveller is the listed person) or `dismiss`.
    decision: String,
}

fn org_of(raw: &str) -> Result<OrgId, ApiError> {
    Ok(OrgId::from_uuid(parse_id(raw)?))
}

#[utoipa::path(post, path = "/organisations/{org}/watchlists", tag = "screening",
    summary = "Upload (or replace, by name) a watchlist: CSV with id, full_name (or given_name/surname), aliases (`;`-separated), date_of_birth, nationality, list, reason",
    params(("org" = String, Path, description = "Organisation id"), ListParams),
    request_body(content = Vec<u8>, content_type = "text/csv"),
    responses((status = 201, body = WatchlistOut), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_upload(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
    Query(p): Query<ListParams>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<WatchlistOut>), ApiError> {
    let list = state
        .svc
        .upload_watchlist(&who.actor, &ctx, org_of(&org)?, &p.name, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(list.into())))
}

#[utoipa::path(get, path = "/organisations/{org}/watchlists", tag = "screening", summary = "The organisation's watchlists (names of lists and entry counts)",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = [WatchlistOut]), (status = 404, body = ErrorBody)))]
async fn api_watchlists(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
) -> Result<Json<Vec<WatchlistOut>>, ApiError> {
    Ok(Json(
        state
            .svc
            .watchlists(&who.actor, org_of(&org)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/organisations/{org}/screening-hits", tag = "screening", summary = "Hits raised by the organisation's border crossings, newest first",
    params(("org" = String, Path, description = "Organisation id"), HitParams),
    responses((status = 200, body = [HitOut]), (status = 404, body = ErrorBody)))]
async fn api_hits(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
    Query(p): Query<HitParams>,
) -> Result<Json<Vec<HitOut>>, ApiError> {
    let hits = state
        .svc
        .screening_hits(&who.actor, &ctx, org_of(&org)?, p.open.unwrap_or(true))
        .await?;
    Ok(Json(
        hits.into_iter()
            .map(|h| HitOut {
                id: h.id.to_string(),
                case_id: h.case_id.to_string(),
                case_number: h.case_number,
                watchlist: h.watchlist,
                entry_ref: h.entry_ref,
                score: h.score,
                explanation: h.explanation,
                status: h.status,
                created_at: h.created_at.to_string(),
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/screening-hits/{id}/decision", tag = "screening", summary = "Confirm or dismiss a hit (once)",
    params(("id" = String, Path, description = "Hit id")), request_body = DecisionIn,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_decide(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    crate::api::ApiJson(body): crate::api::ApiJson<DecisionIn>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .review_hit(&who.actor, &ctx, parse_id(&id)?, confirms(&body.decision)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(
    paths(api_upload, api_watchlists, api_hits, api_decide),
    components(schemas(WatchlistOut, HitOut, DecisionIn))
)]
pub struct ScreeningDoc;
