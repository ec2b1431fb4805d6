//! The JSON API under `/api/v1`, described by an OpenAPI document generated from these
//! handlers (`/api/v1/openapi.json`) and listed on `/api/v1/docs`.

use crate::AppState;
use crate::auth::{ApiUser, RequestCtx};
use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use passage_domain::{OrgId, TokenId};
use passage_service::{AuditQuery, NewUser, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .route("/me", get(me))
        .route(
            "/organisations",
            get(list_organisations).post(create_organisation),
        )
        .route("/organisations/{id}", get(get_organisation))
        .route("/organisations/{id}/members", get(list_members).post(add_member))
        .route("/users", get(list_users).post(create_user))
        .route("/roles", get(list_roles))
        .route("/audit/events", get(audit_events))
        .route("/tokens", get(list_tokens))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/places/counties", get(counties))
        .route("/places/crossing-points", get(crossing_points))
        .route("/programmes", get(list_programmes))
        .route(
            "/programmes/{code}/forms",
            get(list_form_versions).post(upload_form),
        )
        .route("/forms/{id}/xlsx", get(download_form))
        .route("/programmes/{code}/media", get(list_form_media))
        .route(
            "/programmes/{code}/media/{name}",
            axum::routing::put(upload_form_media).layer(axum::extract::DefaultBodyLimit::max(
                passage_service::MAX_FORM_MEDIA_BYTES + 1,
            )),
        )
        .route("/programmes/{code}/cases", axum::routing::post(register_case))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/stage", axum::routing::post(move_case))
        .route("/cases/{id}/break-glass", axum::routing::post(break_glass))
        .merge(crate::api_casework::routes())
        .merge(crate::transfer::api_routes())
        .merge(crate::screening::api_routes())
        .merge(crate::collection::api_routes())
        .merge(crate::indicators::api_routes())
        .merge(crate::duplicates::api_routes())
        .fallback(|| async {
            ApiError::Refused(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such API endpoint.".to_owned(),
            )
        })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Passage API", version = "1", description = "Migration case work and evidence. Authenticate with `Authorization: Bearer psg_…`."),
    paths(me, list_organisations, create_organisation, get_organisation, list_members, add_member,
          list_users, create_user, list_roles, audit_events, list_tokens, revoke_token, counties, crossing_points,
          list_programmes, list_form_versions, upload_form, download_form, list_form_media, upload_form_media, register_case, get_case, move_case, break_glass),
    components(schemas(ErrorBody, ErrorDetail, MeOut, MembershipOut, OrganisationOut, NewOrganisationIn, MemberOut,
                       AddMemberIn, NewUserIn, UserOut, RoleOut, AuditEventOut, AuditPageOut, TokenOut, CountyOut,
                       CrossingPointOut, ProgrammeOut, FormVersionOut, FormProblemOut, FormMediaOut, NewCaseIn, CaseOut,
                       MoveIn, BreakGlassIn, BreakGlassOut)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "token",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document as JSON.
pub fn openapi_document() -> String {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::api_casework::CaseWorkDoc::openapi());
    doc.merge(crate::transfer::TransferDoc::openapi());
    doc.merge(crate::screening::ScreeningDoc::openapi());
    doc.merge(crate::collection::CollectionDoc::openapi());
    doc.merge(crate::indicators::IndicatorsDoc::openapi());
    doc.merge(crate::duplicates::DuplicatesDoc::openapi());
    doc.to_pretty_json().unwrap_or_default()
}

async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

async fn docs() -> Result<Response, crate::error::PageError> {
    let doc = ApiDoc::openapi();
    let mut operations = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ] {
            if let Some(op) = op {
                operations.push((
                    method.to_owned(),
                    format!("/api/v1{path}"),
                    op.summary.clone().unwrap_or_default(),
                ));
            }
        }
    }
    let page = crate::pages::ApiDocsPage { operations };
    askama::Template::render(&page)
        .map(|html| Html(html).into_response())
        .map_err(|e| ServiceError::Internal(format!("template: {e}")).into())
}

/// JSON bodies whose parse errors come back in our error format.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Self(v))
            .map_err(|e: JsonRejection| {
                ApiError::Refused(
                    e.status(),
                    "bad_request",
                    format!("Request body: {}", e.body_text()),
                )
            })
    }
}

pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::Service(ServiceError::NotFound))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid`, `forbidden`.
    code: String,
    message: String,
}

#[derive(Serialize, ToSchema)]
struct MembershipOut {
    organisation_id: String,
    role: String,
    permissions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct MeOut {
    id: String,
    username: String,
    display_name: String,
    memberships: Vec<MembershipOut>,
    /// `read` or `write` when calling with a token; absent for browser sessions.
    token_scope: Option<String>,
}

#[utoipa::path(get, path = "/me", tag = "account", summary = "Who am I: the caller's account and memberships",
    responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
async fn me(ApiUser(who): ApiUser) -> Json<MeOut> {
    let token_scope = match &who.actor {
        passage_domain::Actor::User { token_scope, .. } => token_scope.map(|s| s.as_str().to_owned()),
        passage_domain::Actor::Operator => None,
    };
    Json(MeOut {
        id: who.user.id.to_string(),
        username: who.user.username.to_string(),
        display_name: who.user.display_name.to_string(),
        memberships: who
            .actor
            .grants()
            .iter()
            .map(|g| MembershipOut {
                organisation_id: g.org.to_string(),
                role: g.role.to_string(),
                permissions: g.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            })
            .collect(),
        token_scope,
    })
}

#[derive(Serialize, ToSchema)]
struct OrganisationOut {
    id: String,
    name: String,
    /// `un_agency`, `government`, `ngo` or `other`.
    kind: String,
    is_host: bool,
    created_at: String,
}

impl From<passage_service::Organisation> for OrganisationOut {
    fn from(o: passage_service::Organisation) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.to_string(),
            kind: o.kind.as_str().to_owned(),
            is_host: o.is_host,
            created_at: o.created_at.to_string(),
        }
    }
}

#[utoipa::path(get, path = "/organisations", tag = "organisations", summary = "List the organisations you may see",
    responses((status = 200, body = [OrganisationOut])))]
async fn list_organisations(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<OrganisationOut>>, ApiError> {
    let orgs = state.svc.organisations(&who.actor).await?;
    Ok(Json(orgs.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOrganisationIn {
    name: String,
    /// `un_agency`, `government`, `ngo` or `other`.
    kind: String,
}

#[utoipa::path(post, path = "/organisations", tag = "organisations",
    summary = "Create an organisation (host administrators)", request_body = NewOrganisationIn,
    responses((status = 201, body = OrganisationOut), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_organisation(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    ApiJson(body): ApiJson<NewOrganisationIn>,
) -> Result<(StatusCode, Json<OrganisationOut>), ApiError> {
    let org = state
        .svc
        .create_org(&who.actor, &ctx, &body.name, &body.kind, false)
        .await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

#[utoipa::path(get, path = "/organisations/{id}", tag = "organisations", summary = "One organisation",
    params(("id" = String, Path, description = "Organisation id")),
    responses((status = 200, body = OrganisationOut), (status = 404, body = ErrorBody)))]
async fn get_organisation(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<OrganisationOut>, ApiError> {
    let org = state.svc.organisation(&who.actor, parse_id(&id)?).await?;
    Ok(Json(org.into()))
}

#[derive(Serialize, ToSchema)]
struct MemberOut {
    user_id: String,
    username: String,
    display_name: String,
    email: Option<String>,
    organisation_id: String,
    role: String,
}

impl From<passage_service::Member> for MemberOut {
    fn from(m: passage_service::Member) -> Self {
        Self {
            user_id: m.user.id.to_string(),
            username: m.user.username.to_string(),
            display_name: m.user.display_name.to_string(),
            email: m.user.email.map(|e| e.to_string()),
            organisation_id: m.org.to_string(),
            role: m.role.to_string(),
        }
    }
}

#[utoipa::path(get, path = "/organisations/{id}/members", tag = "organisations",
    summary = "Members of an organisation (audited)", params(("id" = String, Path, description = "Organisation id")),
    responses((status = 200, body = [MemberOut]), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<MemberOut>>, ApiError> {
    let members = state.svc.members(&who.actor, &ctx, parse_id(&id)?).await?;
    Ok(Json(members.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddMemberIn {
    username: String,
    role: String,
}

#[utoipa::path(post, path = "/organisations/{id}/members", tag = "organisations",
    summary = "Give an existing user a role in the organisation", request_body = AddMemberIn,
    params(("id" = String, Path, description = "Organisation id")),
    responses((status = 200, body = UserOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_member(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMemberIn>,
) -> Result<Json<UserOut>, ApiError> {
    let org: OrgId = parse_id(&id)?;
    let user = state
        .svc
        .add_member(&who.actor, &ctx, &body.username, org, &body.role)
        .await?;
    Ok(Json(user.into()))
}

#[utoipa::path(get, path = "/users", tag = "users",
    summary = "Everyone in the organisations you may see, one row per membership (audited)",
    responses((status = 200, body = [MemberOut])))]
async fn list_users(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<MemberOut>>, ApiError> {
    let members = state.svc.users(&who.actor, &ctx).await?;
    Ok(Json(members.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserIn {
    username: String,
    display_name: String,
    email: Option<String>,
    /// At least 12 characters.
    password: String,
    organisation_id: String,
    role: String,
}

#[derive(Serialize, ToSchema)]
struct UserOut {
    id: String,
    username: String,
    display_name: String,
}

impl From<passage_service::User> for UserOut {
    fn from(u: passage_service::User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            display_name: u.display_name.to_string(),
        }
    }
}

#[utoipa::path(post, path = "/users", tag = "users", summary = "Create an account with its first membership",
    request_body = NewUserIn,
    responses((status = 201, body = UserOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    ApiJson(body): ApiJson<NewUserIn>,
) -> Result<(StatusCode, Json<UserOut>), ApiError> {
    let new = NewUser {
        username: body.username,
        display_name: body.display_name,
        email: body.email,
        password: body.password,
        org: parse_id(&body.organisation_id)?,
        role: body.role,
    };
    let user = state.svc.create_user(&who.actor, &ctx, &new).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Serialize, ToSchema)]
struct RoleOut {
    name: String,
    label: String,
    description: String,
    permissions: Vec<String>,
}

#[utoipa::path(get, path = "/roles", tag = "users", summary = "Roles and their permissions",
    responses((status = 200, body = [RoleOut])))]
async fn list_roles(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
) -> Result<Json<Vec<RoleOut>>, ApiError> {
    let roles = state.svc.roles().to_vec();
    Ok(Json(
        roles
            .into_iter()
            .map(|r| RoleOut {
                name: r.role.to_string(),
                label: r.label,
                description: r.description,
                permissions: r.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct AuditParams {
    /// Organisation id; omitted means all you may audit.
    organisation: Option<String>,
    /// Action prefix such as `auth.` or `auth.login_failed`.
    action: Option<String>,
    /// Only events older than this sequence number (paging).
    before: Option<i64>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct AuditEventOut {
    seq: i64,
    at: String,
    actor_user_id: Option<String>,
    organisation_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    channel: String,
    request_id: Option<String>,
    /// Identifiers, counts and codes only.
    details: serde_json::Value,
    hash: String,
}

#[derive(Serialize, ToSchema)]
struct AuditPageOut {
    events: Vec<AuditEventOut>,
    /// Pass as `before` to get the next, older page.
    next_before: Option<i64>,
}

#[utoipa::path(get, path = "/audit/events", tag = "audit", summary = "Audit events, newest first (auditors)",
    params(AuditParams), responses((status = 200, body = AuditPageOut), (status = 403, body = ErrorBody)))]
async fn audit_events(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditPageOut>, ApiError> {
    let org = p.organisation.as_deref().map(parse_id).transpose()?;
    let q = AuditQuery {
        org,
        action_prefix: p.action,
        before_seq: p.before,
        limit: p.limit.unwrap_or(0),
        ..Default::default()
    };
    let page = state.svc.audit_events(&who.actor, &ctx, &q).await?;
    Ok(Json(AuditPageOut {
        events: page
            .events
            .into_iter()
            .map(|e| AuditEventOut {
                seq: e.seq,
                at: e.at.to_string(),
                actor_user_id: e.actor.map(|a| a.to_string()),
                organisation_id: e.org.map(|o| o.to_string()),
                action: e.action,
                target_type: e.target_type,
                target_id: e.target_id,
                outcome: e.outcome,
                channel: e.channel,
                request_id: e.request_id,
                details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
                hash: data_encoding::HEXLOWER.encode(&e.hash),
            })
            .collect(),
        next_before: page.next_before,
    }))
}

#[derive(Serialize, ToSchema)]
struct TokenOut {
    id: String,
    name: String,
    scope: String,
    created_at: String,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
}

#[utoipa::path(get, path = "/tokens", tag = "account", summary = "Your API tokens (never their secrets)",
    responses((status = 200, body = [TokenOut])))]
async fn list_tokens(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    let tokens = state.svc.tokens(&who).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenOut {
                id: t.id.to_string(),
                name: t.name,
                scope: t.scope.as_str().to_owned(),
                created_at: t.created_at.to_string(),
                expires_at: t.expires_at.map(|x| x.to_string()),
                revoked_at: t.revoked_at.map(|x| x.to_string()),
                last_used_at: t.last_used_at.map(|x| x.to_string()),
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "account", summary = "Revoke one of your tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TokenId = parse_id(&id)?;
    state.svc.revoke_token(&ctx, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct CountyOut {
    /// ISO 3166-2:LR code.
    code: String,
    name: String,
    capital: String,
}

#[utoipa::path(get, path = "/places/counties", tag = "places", summary = "Liberia's counties",
    responses((status = 200, body = [CountyOut])))]
async fn counties(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
) -> Result<Json<Vec<CountyOut>>, ApiError> {
    let list = state.svc.counties().to_vec();
    Ok(Json(
        list.into_iter()
            .map(|c| CountyOut {
                code: c.code,
                name: c.name,
                capital: c.capital,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
struct CrossingPointOut {
    code: String,
    name: String,
    county_code: String,
    /// `air`, `sea`, `land` or `river`.
    kind: String,
    /// ISO 3166-1 alpha-3 of the neighbouring country, for land and river crossings.
    neighbour: Option<String>,
}

#[utoipa::path(get, path = "/places/crossing-points", tag = "places", summary = "Border crossing points",
    responses((status = 200, body = [CrossingPointOut])))]
async fn crossing_points(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
) -> Result<Json<Vec<CrossingPointOut>>, ApiError> {
    let list = state.svc.crossing_points().to_vec();
    Ok(Json(
        list.into_iter()
            .map(|p| CrossingPointOut {
                code: p.code,
                name: p.name,
                county_code: p.county_code,
                kind: p.kind,
                neighbour: p.neighbour,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
struct ProgrammeOut {
    code: String,
    name: String,
    /// The XLSForm `form_id` of this programme's form.
    form_id: String,
    current_form: Option<FormVersionOut>,
}

#[derive(Serialize, ToSchema)]
struct FormVersionOut {
    id: String,
    programme: String,
    version: String,
    title: String,
    uploaded_at: String,
    /// SHA-256 of the workbook, hex.
    sha256: String,
}

impl From<passage_service::FormVersion> for FormVersionOut {
    fn from(v: passage_service::FormVersion) -> Self {
        Self {
            id: v.id.to_string(),
            programme: v.programme,
            version: v.version,
            title: v.title,
            uploaded_at: v.uploaded_at.to_string(),
            sha256: data_encoding::HEXLOWER.encode(&v.sha256),
        }
    }
}

/// One problem in a refused workbook (in `error.problems`).
#[derive(Serialize, ToSchema)]
struct FormProblemOut {
    sheet: String,
    row: Option<usize>,
    column: Option<String>,
    reason: String,
}

#[utoipa::path(get, path = "/programmes", tag = "forms", summary = "Programmes and their current forms",
    responses((status = 200, body = [ProgrammeOut])))]
async fn list_programmes(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
) -> Result<Json<Vec<ProgrammeOut>>, ApiError> {
    let list = state.svc.programmes().await?;
    Ok(Json(
        list.into_iter()
            .map(|p| ProgrammeOut {
                code: p.programme.code,
                name: p.programme.name,
                form_id: p.programme.form_id,
                current_form: p.current.map(Into::into),
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/programmes/{code}/forms", tag = "forms", summary = "Every version of a programme's form, newest first",
    params(("code" = String, Path, description = "Programme code, e.g. `avrr`")),
    responses((status = 200, body = [FormVersionOut])))]
async fn list_form_versions(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    Path(code): Path<String>,
) -> Result<Json<Vec<FormVersionOut>>, ApiError> {
    let versions = state.svc.form_versions(&code).await?;
    Ok(Json(versions.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/programmes/{code}/forms", tag = "forms",
    summary = "Upload a new version of a programme's form (the .xlsx workbook as the request body)",
    params(("code" = String, Path, description = "Programme code, e.g. `avrr`")),
    request_body(content = Vec<u8>, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    responses((status = 201, body = FormVersionOut),
              (status = 422, description = "Refused whole; `error.problems` lists sheet, row, column and reason", body = ErrorBody)))]
async fn upload_form(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<FormVersionOut>), ApiError> {
    let version = state.svc.upload_form(&who.actor, &ctx, &code, &body).await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}

#[utoipa::path(get, path = "/forms/{id}/xlsx", tag = "forms", summary = "Download a form version's workbook",
    params(("id" = String, Path, description = "Form version id")),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
              (status = 404, body = ErrorBody)))]
async fn download_form(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, xlsx) = state.svc.form_workbook(parse_id(&id)?).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )],
        xlsx,
    )
        .into_response())
}

/// A media file the current form shows; the upload fields are empty while it is missing.
#[derive(Serialize, ToSchema)]
struct FormMediaOut {
    name: String,
    uploaded: bool,
    content_type: Option<String>,
    size: Option<i64>,
    /// MD5 of the bytes, hex (the hash in the OpenRosa manifest).
    md5: Option<String>,
    uploaded_at: Option<String>,
}

impl From<passage_service::FormMedia> for FormMediaOut {
    fn from(m: passage_service::FormMedia) -> Self {
        let f = m.file.as_ref();
        Self {
            uploaded: f.is_some(),
            content_type: f.map(|f| f.content_type.clone()),
            size: f.map(|f| f.size),
            md5: f.map(|f| f.md5.clone()),
            uploaded_at: f.map(|f| f.uploaded_at.to_string()),
            name: m.name,
        }
    }
}

#[utoipa::path(get, path = "/programmes/{code}/media", tag = "forms",
    summary = "The media files the programme's current form shows, uploaded or missing",
    params(("code" = String, Path, description = "Programme code, e.g. `avrr`")),
    responses((status = 200, body = [FormMediaOut]), (status = 404, body = ErrorBody)))]
async fn list_form_media(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    Path(code): Path<String>,
) -> Result<Json<Vec<FormMediaOut>>, ApiError> {
    let media = state.svc.form_media(&code).await?;
    Ok(Json(media.into_iter().map(Into::into).collect()))
}

#[utoipa::path(put, path = "/programmes/{code}/media/{name}", tag = "forms",
    summary = "Upload or replace a media file the current form shows (the file as the request body, at most 10 MiB)",
    params(("code" = String, Path, description = "Programme code"), ("name" = String, Path, description = "File name as the form's media column writes it")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FormMediaOut), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn upload_form_media(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path((code, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<FormMediaOut>), ApiError> {
    let file = state
        .svc
        .upload_form_media(&who.actor, &ctx, &code, &name, &body)
        .await?;
    let out = passage_service::FormMedia {
        name: file.name.clone(),
        file: Some(file),
    };
    Ok((StatusCode::CREATED, Json(out.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BreakGlassIn {
    /// Why the caller needs this case now (at least 15 characters); the data protection focal
    /// point reads it.
    reason: String,
}

#[derive(Serialize, ToSchema)]
struct BreakGlassOut {
    /// When the access ends by itself.
    expires_at: String,
}

#[utoipa::path(post, path = "/cases/{id}/break-glass", tag = "cases",
    summary = "Emergency access to a counter-trafficking case outside the caller's cases: time-limited, highlighted in the audit trail, reviewed by the data protection focal point",
    params(("id" = String, Path, description = "Case id")), request_body = BreakGlassIn,
    responses((status = 201, body = BreakGlassOut), (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn break_glass(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    Json(body): Json<BreakGlassIn>,
) -> Result<(StatusCode, Json<BreakGlassOut>), ApiError> {
    let until = state
        .svc
        .break_glass(&who.actor, &ctx, parse_id(&id)?, &body.reason)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(BreakGlassOut {
            expires_at: until.to_string(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCaseIn {
    /// The organisation that will own the case.
    organisation_id: String,
    /// Answers by field name of the programme's current form: text or numbers; a repeat is a
    /// list of objects of answers. Multiple choices are space-separated.
    #[schema(value_type = Object)]
    answers: serde_json::Value,
    /// An existing person (of the same organisation) this case is about; when absent, a new
    /// person is created from the identity answers.
    person_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct CaseOut {
    id: String,
    /// e.g. `AVRR-2026-000123`
    number: String,
    programme: String,
    organisation_id: String,
    form_version_id: String,
    stage: String,
    /// Send back with a change to detect a concurrent edit.
    revision: i64,
    created_at: String,
    person_id: Option<String>,
    assigned_to: Option<String>,
    /// ISO date the next step is due.
    due_on: Option<String>,
    closed: bool,
    /// A counter-trafficking case outside the caller's cases: the person and every
    /// identifying answer are left out (`POST /cases/{id}/break-glass` in an emergency).
    identity_hidden: bool,
    /// Closed and past its programme's retention schedule: only reporting answers are left.
    shredded: bool,
    #[schema(value_type = Object)]
    answers: serde_json::Value,
}

impl From<passage_service::CaseRecord> for CaseOut {
    fn from(c: passage_service::CaseRecord) -> Self {
        Self {
            id: c.id.to_string(),
            number: c.number,
            programme: c.programme,
            organisation_id: c.owner_org.to_string(),
            form_version_id: c.form_version.to_string(),
            stage: c.stage,
            revision: c.revision,
            created_at: c.created_at.to_string(),
            person_id: c.person_id.filter(|_| !c.identity_hidden).map(|p| p.to_string()),
            assigned_to: c.assigned_to.map(|u| u.to_string()),
            due_on: c.due_on,
            closed: c.closed,
            identity_hidden: c.identity_hidden,
            shredded: c.shredded,
            answers: passage_service::instance_to_json(&c.answers),
        }
    }
}

#[utoipa::path(post, path = "/programmes/{code}/cases", tag = "cases",
    summary = "Register a case with the programme's current form (answers checked; identifying and sensitive answers encrypted)",
    params(("code" = String, Path, description = "Programme code, e.g. `avrr`")), request_body = NewCaseIn,
    responses((status = 201, body = CaseOut),
              (status = 422, description = "Not saved; `error.problems` lists each answer's path and reason", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn register_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<NewCaseIn>,
) -> Result<(StatusCode, Json<CaseOut>), ApiError> {
    let org: OrgId = parse_id(&body.organisation_id)?;
    let new = passage_service::NewCase {
        answers: passage_service::instance_from_json(&body.answers)?,
        person: body.person_id.as_deref().map(parse_id).transpose()?,
    };
    let case = state
        .svc
        .register_cases(&who.actor, &ctx, &code, org, std::slice::from_ref(&new))
        .await?
        .pop()
        .ok_or(ServiceError::NotFound)?;
    Ok((StatusCode::CREATED, Json(case.into())))
}

#[utoipa::path(get, path = "/cases/{id}", tag = "cases", summary = "One case with all the answers you may read (audited)",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody)))]
async fn get_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<CaseOut>, ApiError> {
    let case = state.svc.case(&who.actor, &ctx, parse_id(&id)?).await?;
    Ok(Json(case.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveIn {
    /// The stage to move to (one of the moves the workflow allows from the current stage).
    to: String,
    /// Required when closing: `completed`, `no_longer_eligible`, `withdrew`, `lost_contact`,
    /// `relocated`, `referred_elsewhere`, `deceased`, `duplicate` or `other`.
    reason: Option<String>,
    /// The case's `revision` you last read; the move is refused (409) if the case changed since.
    revision: Option<i64>,
}

#[utoipa::path(post, path = "/cases/{id}/stage", tag = "cases",
    summary = "Move a case to another stage of its workflow (approvals need the approval permission)",
    params(("id" = String, Path, description = "Case id")), request_body = MoveIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn move_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MoveIn>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .move_case(
            &who.actor,
            &ctx,
            parse_id(&id)?,
            &body.to,
            body.reason.as_deref(),
            body.revision,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
