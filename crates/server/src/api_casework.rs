//! Case work in the JSON API: search, edits with conflict detection, persons, assignment,
//! services, notes, documents and referrals. Documented in the same OpenAPI document.

use crate::AppState;
use crate::api::{ApiJson, CaseOut, ErrorBody, parse_id};
use crate::auth::{ApiUser, RequestCtx};
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passage_domain::{InvalidValue, OrgId, UserId};
use passage_service::{CaseQuery, CaseSort, NewService};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases", get(search_cases))
        .route("/cases/{id}/answers", axum::routing::put(update_case))
        .route("/cases/{id}/history", get(case_history))
        .route("/cases/{id}/assignment", axum::routing::put(assign_case))
        .route("/cases/{id}/services", get(list_services).post(record_service))
        .route("/cases/{id}/notes", get(list_notes).post(add_note))
        .route(
            "/cases/{id}/documents",
            get(list_documents)
                .post(upload_document)
                .layer(DefaultBodyLimit::max(passage_service::MAX_DOCUMENT_BYTES + 1)),
        )
        .route("/cases/{id}/documents/{doc}", get(download_document))
        .route("/cases/{id}/referrals", post(refer_case))
        .route("/persons/{id}", get(get_person))
        .route("/persons/{id}/subject-access", get(subject_access))
        .route("/organisations/{org}/persons/similar", post(similar_persons))
        .route("/referrals", get(list_referrals))
        .route("/referrals/{id}", get(get_referral))
        .route("/referrals/{id}/answer", post(answer_referral))
        .route("/referrals/{id}/complete", post(complete_referral))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        subject_access,
        search_cases,
        update_case,
        case_history,
        assign_case,
        list_services,
        record_service,
        list_notes,
        add_note,
        list_documents,
        upload_document,
        download_document,
        refer_case,
        get_person,
        similar_persons,
        list_referrals,
        get_referral,
        answer_referral,
        complete_referral
    ),
    components(schemas(
        CaseSummaryOut,
        CasePageOut,
        UpdateIn,
        VersionOut,
        ChangeOut,
        AssignIn,
        ServiceIn,
        ServiceOut,
        NoteIn,
        NoteOut,
        DocumentOut,
        ReferralIn,
        ReferralOut,
        AnswerIn,
        PersonOut,
        IdentityIn,
        SimilarOut,
        IdOut
    ))
)]
pub struct CaseWorkDoc;

fn date(raw: &str, field: &'static str) -> Result<time::Date, ApiError> {
    time::Date::parse(raw, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|_| ApiError::Service(InvalidValue::new(field, "must be a date (YYYY-MM-DD)").into()))
}

#[derive(Serialize, ToSchema)]
struct IdOut {
    id: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
struct SearchParams {
    organisation: String,
    /// Programme code, e.g. `ct`.
    programme: Option<String>,
    stage: Option<String>,
    /// County code, e.g. `LR-MO`.
    county: Option<String>,
    /// A user id, or `me`.
    assignee: Option<String>,
    /// Exact case number.
    number: Option<String>,
    /// Words of the person's name (all must match; case and accents ignored).
    name: Option<String>,
    /// Registered on or after (YYYY-MM-DD).
    from: Option<String>,
    /// Registered on or before (YYYY-MM-DD).
    to: Option<String>,
    #[serde(default)]
    open_only: bool,
    /// Open cases whose due date has passed.
    #[serde(default)]
    overdue: bool,
    /// `newest` (default), `oldest`, `number`, `due` or `stage`.
    sort: Option<String>,
    page: Option<u32>,
    /// Up to 500; default 50.
    page_size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
struct CaseSummaryOut {
    id: String,
    number: String,
    programme: String,
    stage: String,
    created_at: String,
    person_id: Option<String>,
    person_name: Option<String>,
    county: Option<String>,
    assigned_to: Option<String>,
    due_on: Option<String>,
    closed: bool,
    /// The reporting answers only (sex, age band, nationality, county…).
    #[schema(value_type = Object)]
    reporting: serde_json::Value,
}

impl From<passage_service::CaseSummary> for CaseSummaryOut {
    fn from(c: passage_service::CaseSummary) -> Self {
        Self {
            id: c.id.to_string(),
            number: c.number,
            programme: c.programme,
            stage: c.stage,
            created_at: c.created_at.to_string(),
            person_id: c.person_id.map(|p| p.to_string()),
            person_name: c.person_name,
            county: c.county,
            assigned_to: c.assigned_to.map(|u| u.to_string()),
            due_on: c.due_on,
            closed: c.closed,
            reporting: c.reporting,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct CasePageOut {
    cases: Vec<CaseSummaryOut>,
    total: i64,
    page: u32,
    page_size: u32,
}

#[utoipa::path(get, path = "/cases", tag = "cases",
    summary = "Search an organisation's cases: filters, sorting and pages (audited; names are searched through keyed hashes)",
    params(SearchParams), responses((status = 200, body = CasePageOut), (status = 404, body = ErrorBody),
                                    (status = 422, body = ErrorBody)))]
async fn search_cases(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Query(p): Query<SearchParams>,
) -> Result<Json<CasePageOut>, ApiError> {
    let assigned_to = match p.assignee.as_deref() {
        None | Some("") => None,
        Some("me") => Some(who.user.id),
        Some(raw) => Some(parse_id::<UserId>(raw)?),
    };
    let sort = match p.sort.as_deref().unwrap_or("newest") {
        "newest" => CaseSort::Newest,
        "oldest" => CaseSort::Oldest,
        "number" => CaseSort::Number,
        "due" => CaseSort::Due,
        "stage" => CaseSort::Stage,
        _ => {
            return Err(ApiError::Service(
                InvalidValue::new("sort", "must be newest, oldest, number, due or stage").into(),
            ));
        }
    };
    let q = CaseQuery {
        org: Some(parse_id(&p.organisation)?),
        programme: p.programme,
        stage: p.stage,
        county: p.county,
        assigned_to,
        number: p.number,
        name: p.name,
        registered_from: p.from.as_deref().map(|d| date(d, "from")).transpose()?,
        registered_to: p.to.as_deref().map(|d| date(d, "to")).transpose()?,
        open_only: p.open_only,
        overdue: p.overdue,
        sort,
        page: p.page.unwrap_or(1),
        page_size: p.page_size.unwrap_or(50),
    };
    let page = state.svc.search_cases(&who.actor, &ctx, &q).await?;
    Ok(Json(CasePageOut {
        cases: page.cases.into_iter().map(Into::into).collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateIn {
    /// All the case's answers as they should be (checked against the form version the case
    /// was made with).
    #[schema(value_type = Object)]
    answers: serde_json::Value,
    /// The revision you read; if the case changed since, nothing is saved (409 with
    /// `error.changed_fields`).
    revision: i64,
}

#[utoipa::path(put, path = "/cases/{id}/answers", tag = "cases",
    summary = "Change a case's answers (versioned; refused with 409 if someone changed the case since your revision)",
    params(("id" = String, Path, description = "Case id")), request_body = UpdateIn,
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, description = "Changed since your revision; `error.changed_fields` says what", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn update_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateIn>,
) -> Result<Json<CaseOut>, ApiError> {
    let answers = passage_service::instance_from_json(&body.answers)?;
    let case = state
        .svc
        .update_case(&who.actor, &ctx, parse_id(&id)?, &answers, body.revision)
        .await?;
    Ok(Json(case.into()))
}

#[derive(Serialize, ToSchema)]
struct ChangeOut {
    /// Answer path, e.g. `household[2]/hh_sex`.
    path: String,
    /// The value before this change (absent: it was empty).
    before: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct VersionOut {
    revision: i64,
    at: String,
    actor: Option<String>,
    changes: Vec<ChangeOut>,
}

#[utoipa::path(get, path = "/cases/{id}/history", tag = "cases",
    summary = "Every edit of a case's answers: who, when, which fields and their earlier values",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = [VersionOut]), (status = 404, body = ErrorBody)))]
async fn case_history(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<VersionOut>>, ApiError> {
    let versions = state.svc.case_versions(&who.actor, parse_id(&id)?).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| VersionOut {
                revision: v.revision,
                at: v.at.to_string(),
                actor: v.actor.map(|a| a.to_string()),
                changes: v
                    .changes
                    .into_iter()
                    .map(|(path, before)| ChangeOut { path, before })
                    .collect(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignIn {
    /// A member of the case's organisation who may work on it; null to unassign.
    assignee: Option<String>,
    /// YYYY-MM-DD; null for no due date.
    due_on: Option<String>,
    revision: Option<i64>,
}

#[utoipa::path(put, path = "/cases/{id}/assignment", tag = "cases",
    summary = "Assign a case to a caseworker and set when its next step is due",
    params(("id" = String, Path, description = "Case id")), request_body = AssignIn,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn assign_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignIn>,
) -> Result<StatusCode, ApiError> {
    let assignee = body.assignee.as_deref().map(parse_id::<UserId>).transpose()?;
    let due = body.due_on.as_deref().map(|d| date(d, "due_on")).transpose()?;
    state
        .svc
        .assign_case(&who.actor, &ctx, parse_id(&id)?, assignee, due, body.revision)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ServiceIn {
    /// One of `counselling`, `medical`, `psychosocial`, `shelter`, `legal`, `documentation`,
    /// `transport`, `cash`, `in_kind`, `education`, `vocational_training`, `business_support`,
    /// `family_tracing`, `other`.
    service_type: String,
    /// YYYY-MM-DD, not in the future.
    delivered_on: String,
    provider_organisation_id: Option<String>,
    /// Decimal amount; requires `currency`.
    value: Option<String>,
    /// ISO 4217 code, e.g. `USD`, `LRD`.
    currency: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ServiceOut {
    id: String,
    service_type: String,
    delivered_on: String,
    provider_organisation_id: Option<String>,
    value: Option<String>,
    currency: Option<String>,
    recorded_by: Option<String>,
    recorded_at: String,
}

#[utoipa::path(post, path = "/cases/{id}/services", tag = "case activity",
    summary = "Record a service or assistance delivered",
    params(("id" = String, Path, description = "Case id")), request_body = ServiceIn,
    responses((status = 201, body = IdOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_service(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ServiceIn>,
) -> Result<(StatusCode, Json<IdOut>), ApiError> {
    let new = NewService {
        service_type: body.service_type,
        delivered_on: date(&body.delivered_on, "delivered_on")?,
        provider_org: body
            .provider_organisation_id
            .as_deref()
            .map(parse_id::<OrgId>)
            .transpose()?,
        value: body.value,
        currency: body.currency,
    };
    let id = state
        .svc
        .record_service(&who.actor, &ctx, parse_id(&id)?, &new)
        .await?;
    Ok((StatusCode::CREATED, Json(IdOut { id: id.to_string() })))
}

#[utoipa::path(get, path = "/cases/{id}/services", tag = "case activity", summary = "A case's services",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = [ServiceOut]), (status = 404, body = ErrorBody)))]
async fn list_services(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<ServiceOut>>, ApiError> {
    let list = state.svc.services(&who.actor, parse_id(&id)?).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| ServiceOut {
                id: s.id.to_string(),
                service_type: s.service_type,
                delivered_on: s.delivered_on,
                provider_organisation_id: s.provider_org.map(|o| o.to_string()),
                value: s.value,
                currency: s.currency,
                recorded_by: s.recorded_by.map(|u| u.to_string()),
                recorded_at: s.recorded_at.to_string(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteIn {
    body: String,
}

#[derive(Serialize, ToSchema)]
struct NoteOut {
    id: String,
    body: String,
    author: Option<String>,
    at: String,
}

#[utoipa::path(post, path = "/cases/{id}/notes", tag = "case activity", summary = "Add a note (stored encrypted)",
    params(("id" = String, Path, description = "Case id")), request_body = NoteIn,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_note(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteIn>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .add_note(&who.actor, &ctx, parse_id(&id)?, &body.body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/cases/{id}/notes", tag = "case activity", summary = "A case's notes",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = [NoteOut]), (status = 404, body = ErrorBody)))]
async fn list_notes(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<NoteOut>>, ApiError> {
    let notes = state.svc.notes(&who.actor, parse_id(&id)?).await?;
    Ok(Json(
        notes
            .into_iter()
            .map(|n| NoteOut {
                id: n.id.to_string(),
                body: n.body,
                author: n.author.map(|a| a.to_string()),
                at: n.at.to_string(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
struct DocumentOut {
    id: String,
    name: String,
    content_type: String,
    size: i64,
    at: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
struct DocumentParams {
    /// The file name; its extension must match the content (pdf, png, jpg/jpeg, txt).
    name: String,
}

#[utoipa::path(post, path = "/cases/{id}/documents", tag = "case activity",
    summary = "Attach a document: the raw file as the body, its name in `?name=` (≤ 10 MiB; type checked against content; stored encrypted)",
    params(("id" = String, Path, description = "Case id"), DocumentParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = IdOut), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn upload_document(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    Query(p): Query<DocumentParams>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<IdOut>), ApiError> {
    let doc = state
        .svc
        .add_document(&who.actor, &ctx, parse_id(&id)?, &p.name, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(IdOut { id: doc.to_string() })))
}

#[utoipa::path(get, path = "/cases/{id}/documents", tag = "case activity", summary = "A case's documents (without content)",
    params(("id" = String, Path, description = "Case id")),
    responses((status = 200, body = [DocumentOut]), (status = 404, body = ErrorBody)))]
async fn list_documents(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<DocumentOut>>, ApiError> {
    let docs = state.svc.documents(&who.actor, parse_id(&id)?).await?;
    Ok(Json(
        docs.into_iter()
            .map(|d| DocumentOut {
                id: d.id.to_string(),
                name: d.name,
                content_type: d.content_type,
                size: d.size,
                at: d.at.to_string(),
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/cases/{id}/documents/{doc}", tag = "case activity",
    summary = "A document's content (audited)",
    params(("id" = String, Path, description = "Case id"), ("doc" = String, Path, description = "Document id")),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)))]
async fn download_document(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (info, bytes) = state
        .svc
        .document(&who.actor, &ctx, parse_id(&id)?, parse_id(&doc)?)
        .await?;
    Ok(([(header::CONTENT_TYPE, info.content_type)], bytes).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReferralIn {
    to_organisation_id: String,
    /// A service type (see `POST /cases/{id}/services`).
    service_type: String,
    /// Top-level field names of the case's form whose answers the receiving organisation
    /// may read; nothing else is shared.
    fields: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct SharedAnswerOut {
    field: String,
    /// The question as the case's form labels it.
    label: String,
    /// The answer as shown (choices by their labels).
    value: String,
    /// The answer as stored (choice codes).
    raw: String,
}

#[derive(Serialize, ToSchema)]
struct ReferralOut {
    id: String,
    case_id: Option<String>,
    from_organisation_id: String,
    to_organisation_id: String,
    /// `requested`, `accepted`, `declined` or `completed`.
    status: String,
    service_type: String,
    shared_fields: Vec<String>,
    /// The shared answers, labelled (only when reading one referral).
    shared: Vec<SharedAnswerOut>,
    requested_at: String,
    decline_reason: Option<String>,
}

impl ReferralOut {
    /// The case id is shown only to the referring organisation.
    fn of(r: passage_service::ReferralRecord, sender: bool) -> Self {
        Self {
            id: r.id.to_string(),
            case_id: sender.then(|| r.case_id.to_string()),
            from_organisation_id: r.from_org.to_string(),
            to_organisation_id: r.to_org.to_string(),
            status: r.status,
            service_type: r.service_type,
            shared_fields: r.shared_fields,
            shared: r
                .shared
                .into_iter()
                .map(|a| SharedAnswerOut {
                    field: a.field,
                    label: a.label,
                    value: a.value,
                    raw: a.raw,
                })
                .collect(),
            requested_at: r.requested_at.to_string(),
            decline_reason: r.decline_reason,
        }
    }
}

fn is_sender(who: &passage_service::Authenticated, r: &passage_service::ReferralRecord) -> bool {
    who.actor
        .authorize(
            passage_domain::Permission::CasesView,
            passage_domain::Scope::Org(r.from_org),
        )
        .is_ok()
}

#[utoipa::path(post, path = "/cases/{id}/referrals", tag = "referrals",
    summary = "Refer a case to another organisation, sharing only the named answers",
    params(("id" = String, Path, description = "Case id")), request_body = ReferralIn,
    responses((status = 201, body = IdOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn refer_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReferralIn>,
) -> Result<(StatusCode, Json<IdOut>), ApiError> {
    let to: OrgId = parse_id(&body.to_organisation_id)?;
    let referral = state
        .svc
        .refer_case(
            &who.actor,
            &ctx,
            parse_id(&id)?,
            to,
            &body.service_type,
            &body.fields,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IdOut {
            id: referral.to_string(),
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ReferralListParams {
    organisation: String,
}

#[utoipa::path(get, path = "/referrals", tag = "referrals",
    summary = "Referrals an organisation sent or received (without shared content)",
    params(ReferralListParams), responses((status = 200, body = [ReferralOut]), (status = 404, body = ErrorBody)))]
async fn list_referrals(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(p): Query<ReferralListParams>,
) -> Result<Json<Vec<ReferralOut>>, ApiError> {
    let list = state
        .svc
        .referrals(&who.actor, Some(parse_id(&p.organisation)?), None)
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|r| {
                let sender = is_sender(&who, &r);
                ReferralOut::of(r, sender)
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/referrals/{id}", tag = "referrals",
    summary = "One referral with the answers it shares (audited)",
    params(("id" = String, Path, description = "Referral id")),
    responses((status = 200, body = ReferralOut), (status = 404, body = ErrorBody)))]
async fn get_referral(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<ReferralOut>, ApiError> {
    let r = state.svc.referral(&who.actor, &ctx, parse_id(&id)?).await?;
    let sender = is_sender(&who, &r);
    Ok(Json(ReferralOut::of(r, sender)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AnswerIn {
    accept: bool,
    /// Required to decline: `no_capacity`, `not_eligible`, `out_of_area` or `other`.
    reason: Option<String>,
}

#[utoipa::path(post, path = "/referrals/{id}/answer", tag = "referrals",
    summary = "Accept or decline a referral (receiving organisation)",
    params(("id" = String, Path, description = "Referral id")), request_body = AnswerIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn answer_referral(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AnswerIn>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .answer_referral(
            &who.actor,
            &ctx,
            parse_id(&id)?,
            body.accept,
            body.reason.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/referrals/{id}/complete", tag = "referrals",
    summary = "Mark an accepted referral's service completed (receiving organisation)",
    params(("id" = String, Path, description = "Referral id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn complete_referral(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .svc
        .complete_referral(&who.actor, &ctx, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct SubjectAccessParams {
    format: Option<String>,
}

#[utoipa::path(get, path = "/persons/{id}/subject-access", tag = "cases",
    summary = "Everything held about a person, for their subject access request: JSON with document contents, or `?format=pdf` (data protection focal point; audited)",
    params(("id" = String, Path, description = "Person id"),
           ("format" = Option<String>, Query, description = "json (default) or pdf")),
    responses((status = 200, description = "The export"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn subject_access(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    Query(q): Query<SubjectAccessParams>,
) -> Result<Response, ApiError> {
    Ok(crate::data_protection::subject_access_file(
        &state,
        &ctx,
        &who.actor,
        parse_id(&id)?,
        q.format.as_deref(),
    )
    .await?)
}

#[derive(Serialize, ToSchema)]
struct PersonOut {
    id: String,
    organisation_id: String,
    /// given_name, middle_name, surname, other_names, date_of_birth, sex, nationality,
    /// phone, document_number (those known).
    identity: std::collections::BTreeMap<String, String>,
    cases: Vec<CaseSummaryOut>,
}

#[utoipa::path(get, path = "/persons/{id}", tag = "cases",
    summary = "A person and the cases of theirs you may read (audited)",
    params(("id" = String, Path, description = "Person id")),
    responses((status = 200, body = PersonOut), (status = 404, body = ErrorBody)))]
async fn get_person(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<PersonOut>, ApiError> {
    let p = state.svc.person(&who.actor, &ctx, parse_id(&id)?).await?;
    Ok(Json(PersonOut {
        id: p.id.to_string(),
        organisation_id: p.owner_org.to_string(),
        identity: p.identity,
        cases: p.cases.into_iter().map(Into::into).collect(),
    }))
}

/// Who is being registered, as far as known (any field may be left out).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IdentityIn {
    given_name: Option<String>,
    middle_name: Option<String>,
    surname: Option<String>,
    /// YYYY-MM-DD, YYYY-MM or YYYY.
    date_of_birth: Option<String>,
    sex: Option<String>,
    nationality: Option<String>,
    phone: Option<String>,
    document_number: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SimilarOut {
    person_id: String,
    name: String,
    /// Match probability (0.5–1).
    probability: f64,
    /// Which fields agreed, how, and how much each weighed; no values.
    explanation: String,
}

#[utoipa::path(post, path = "/organisations/{org}/persons/similar", tag = "persons",
    summary = "Before registering someone: the organisation's persons who may be them (at most five, most likely first, with reasons)",
    params(("org" = String, Path, description = "Organisation id")), request_body = IdentityIn,
    responses((status = 200, body = [SimilarOut]), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn similar_persons(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
    ApiJson(body): ApiJson<IdentityIn>,
) -> Result<Json<Vec<SimilarOut>>, ApiError> {
    let org = OrgId::from_uuid(parse_id(&org)?);
    let identity: passage_service::Identity = [
        ("given_name", body.given_name),
        ("middle_name", body.middle_name),
        ("surname", body.surname),
        ("date_of_birth", body.date_of_birth),
        ("sex", body.sex),
        ("nationality", body.nationality),
        ("phone", body.phone),
        ("document_number", body.document_number),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.trim().is_empty()).map(|v| (k.to_owned(), v)))
    .collect();
    let similar = state
        .svc
        .similar_persons(&who.actor, &ctx, org, &identity)
        .await?;
    Ok(Json(
        similar
            .into_iter()
            .map(|s| SimilarOut {
                person_id: s.id.to_string(),
                name: s.name,
                probability: s.probability,
                explanation: s.explanation,
            })
            .collect(),
    ))
}
