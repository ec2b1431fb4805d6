//! Persons registered twice: the queue of likely pairs with merge and "not the same person",
//! and the merges with undo — as a page and in the JSON API.

use crate::AppState;
use crate::api::{ApiJson, ErrorBody, parse_id};
use crate::auth::{ApiUser, RequestCtx, WebUser};
use crate::error::{ApiError, PageError};
use crate::pages::{Chrome, first_org_with, render_with};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passage_domain::{OrgId, Permission};
use passage_service::{DuplicatePair, MergeRecord, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/persons/duplicates", get(queue))
        .route("/persons/duplicates/merge", post(merge))
        .route("/persons/duplicates/distinct", post(distinct))
        .route("/persons/merges/{id}/undo", post(undo))
}

pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/organisations/{org}/duplicates", get(api_queue))
        .route("/organisations/{org}/merges", get(api_merges))
        .route("/persons/merges", post(api_merge))
        .route("/persons/merges/{id}/undo", post(api_undo))
        .route("/persons/distinct", post(api_distinct))
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage {
    c: Chrome,
    pairs: Vec<DuplicatePair>,
    merges: Vec<MergeRecord>,
    /// Which model scored the pairs, in words.
    model: String,
}

impl DuplicatesPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn queue(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    let org = first_org_with(&who, Permission::CasesEdit)?;
    let pairs = state.svc.duplicate_pairs(&who.actor, &ctx, org).await?;
    let merges = state.svc.person_merges(&who.actor, org).await?;
    let learned = state.svc.match_model(org);
    let model = match (learned.learned_from, learned.learned_at) {
        (Some(persons), Some(at)) => format!(
            "Scored by the model learned from {persons} of this organisation's persons on {}.",
            at.to_datetime().date()
        ),
        _ => format!(
            "Scored by the standard model; the organisation's own is learned once it has {} persons.",
            passage_service::MATCH_MODEL_MIN_PERSONS
        ),
    };
    render_with(
        StatusCode::OK,
        &DuplicatesPage {
            c: Chrome::of(&who),
            pairs,
            merges,
            model,
        },
    )
}

#[derive(Deserialize)]
struct PairForm {
    first: String,
    second: String,
    /// Merge only: the legal basis for linking records across programmes without consent.
    #[serde(default)]
    legal_basis: Option<String>,
}

fn ids(first: &str, second: &str) -> Result<(uuid::Uuid, uuid::Uuid), ServiceError> {
    match (first.parse(), second.parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(ServiceError::NotFound),
    }
}

/// Merges `second` into `first` (the form's buttons order them so).
async fn merge(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(f): Form<PairForm>,
) -> Result<Response, PageError> {
    let (kept, merged) = ids(&f.first, &f.second)?;
    state
        .svc
        .merge_persons(&who.actor, &ctx, kept, merged, f.legal_basis.as_deref())
        .await?;
    Ok(Redirect::to("/persons/duplicates").into_response())
}

async fn distinct(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(f): Form<PairForm>,
) -> Result<Response, PageError> {
    let (a, b) = ids(&f.first, &f.second)?;
    state.svc.mark_distinct(&who.actor, &ctx, a, b).await?;
    Ok(Redirect::to("/persons/duplicates").into_response())
}

async fn undo(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    state.svc.unmerge_persons(&who.actor, &ctx, id).await?;
    Ok(Redirect::to("/persons/duplicates").into_response())
}

#[derive(Serialize, ToSchema)]
struct DuplicateOut {
    first: String,
    first_name: String,
    second: String,
    second_name: String,
    probability: f64,
    /// Which fields agreed, how, and how much each weighed; no values.
    explanation: String,
}

#[derive(Serialize, ToSchema)]
struct MergeOut {
    id: String,
    kept: String,
    merged: String,
    cases_moved: usize,
    merged_at: String,
    undone: bool,
}

impl From<MergeRecord> for MergeOut {
    fn from(m: MergeRecord) -> Self {
        Self {
            id: m.id.to_string(),
            kept: m.kept.to_string(),
            merged: m.merged.to_string(),
            cases_moved: m.cases_moved,
            merged_at: m.merged_at.to_string(),
            undone: m.undone,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeIn {
    /// The person who stays.
    kept: String,
    /// The person whose cases move to `kept`.
    merged: String,
    /// Needed when the merge links records across programmes and neither person consented
    /// to linking: on what basis, in at least 15 characters.
    #[serde(default)]
    legal_basis: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DistinctIn {
    first: String,
    second: String,
}

fn org_of(raw: &str) -> Result<OrgId, ApiError> {
    Ok(OrgId::from_uuid(parse_id(raw)?))
}

#[utoipa::path(get, path = "/organisations/{org}/duplicates", tag = "persons", summary = "Likely duplicate persons, most likely first, with reasons",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = [DuplicateOut]), (status = 404, body = ErrorBody)))]
async fn api_queue(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
) -> Result<Json<Vec<DuplicateOut>>, ApiError> {
    let pairs = state.svc.duplicate_pairs(&who.actor, &ctx, org_of(&org)?).await?;
    Ok(Json(
        pairs
            .into_iter()
            .map(|p| DuplicateOut {
                first: p.first.to_string(),
                first_name: p.first_name,
                second: p.second.to_string(),
                second_name: p.second_name,
                probability: p.probability,
                explanation: p.explanation,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/organisations/{org}/merges", tag = "persons", summary = "The organisation's merges of persons, newest first",
    params(("org" = String, Path, description = "Organisation id")),
    responses((status = 200, body = [MergeOut]), (status = 404, body = ErrorBody)))]
async fn api_merges(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
) -> Result<Json<Vec<MergeOut>>, ApiError> {
    Ok(Json(
        state
            .svc
            .person_merges(&who.actor, org_of(&org)?)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/persons/merges", tag = "persons", summary = "Merge two persons: the cases of `merged` move to `kept` (reversible)",
    request_body = MergeIn,
    responses((status = 201, body = MergeOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_merge(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    ApiJson(body): ApiJson<MergeIn>,
) -> Result<(StatusCode, Json<MergeOut>), ApiError> {
    let merge = state
        .svc
        .merge_persons(
            &who.actor,
            &ctx,
            parse_id(&body.kept)?,
            parse_id(&body.merged)?,
            body.legal_basis.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(merge.into())))
}

#[utoipa::path(post, path = "/persons/merges/{id}/undo", tag = "persons", summary = "Undo a merge: exactly the cases it moved go back",
    params(("id" = String, Path, description = "Merge id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn api_undo(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .unmerge_persons(&who.actor, &ctx, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/persons/distinct", tag = "persons", summary = "Two persons are different people: no longer offered as duplicates",
    request_body = DistinctIn,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn api_distinct(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    ApiJson(body): ApiJson<DistinctIn>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .mark_distinct(&who.actor, &ctx, parse_id(&body.first)?, parse_id(&body.second)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(
    paths(api_queue, api_merges, api_merge, api_undo, api_distinct),
    components(schemas(DuplicateOut, MergeOut, MergeIn, DistinctIn))
)]
pub struct DuplicatesDoc;
