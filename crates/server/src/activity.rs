//! Case work on the case page (assignment, services, notes, documents, referrals) and the
//! referral pages where the receiving organisation reads what was shared and answers.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::cases::{after_change, parse_uuid};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_domain::{Actor, InvalidValue, OrgId, Permission, Scope};
use passage_service::{DECLINE_REASONS, NewService, SERVICE_TYPES, ServiceError};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases/{id}/assign", post(assign))
        .route("/cases/{id}/services", post(record_service))
        .route("/cases/{id}/notes", post(add_note))
        .route(
            "/cases/{id}/documents",
            post(upload_document).layer(DefaultBodyLimit::max(
                passage_service::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        )
        .route("/cases/{id}/documents/{doc}", get(download_document))
        .route("/cases/{id}/referrals", post(refer))
        .route("/referrals", get(referrals))
        .route("/referrals/{id}", get(referral))
        .route("/referrals/{id}/answer", post(answer))
        .route("/referrals/{id}/complete", post(complete))
}

fn optional_date(raw: &str, field: &'static str) -> Result<Option<time::Date>, ServiceError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    time::Date::parse(raw, &time::format_description::well_known::Iso8601::DATE)
        .map(Some)
        .map_err(|_| InvalidValue::new(field, "must be a date (YYYY-MM-DD)").into())
}

#[derive(Deserialize)]
struct AssignForm {
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    due_on: String,
    revision: Option<i64>,
}

async fn assign(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AssignForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = async {
        let assignee = match form.assignee.as_str() {
            "" => None,
            raw => Some(
                raw.parse()
                    .map_err(|_| InvalidValue::new("assignee", "is not a user"))?,
            ),
        };
        let due = optional_date(&form.due_on, "due_on")?;
        state
            .svc
            .assign_case(&who.actor, &ctx, id, assignee, due, form.revision)
            .await
    }
    .await;
    after_change(&state, &ctx, &who, id, result).await
}

#[derive(Deserialize)]
struct ServiceForm {
    service_type: String,
    delivered_on: String,
    #[serde(default)]
    provider_org: String,
    value: Option<String>,
    currency: Option<String>,
}

async fn record_service(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ServiceForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = async {
        let delivered_on = optional_date(&form.delivered_on, "delivered_on")?
            .ok_or(InvalidValue::new("delivered_on", "is required"))?;
        let provider_org: Option<OrgId> = match form.provider_org.as_str() {
            "" => None,
            raw => Some(
                raw.parse()
                    .map_err(|_| InvalidValue::new("provider_org", "is not an organisation"))?,
            ),
        };
        let new = NewService {
            service_type: form.service_type,
            delivered_on,
            provider_org,
            value: form.value,
            currency: form.currency,
        };
        state.svc.record_service(&who.actor, &ctx, id, &new).await
    }
    .await;
    after_change(&state, &ctx, &who, id, result).await
}

#[derive(Deserialize)]
struct NoteForm {
    body: String,
}

async fn add_note(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<NoteForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = state.svc.add_note(&who.actor, &ctx, id, &form.body).await;
    after_change(&state, &ctx, &who, id, result).await
}

async fn upload_document(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes)),
                    Err(_) => {
                        let e = InvalidValue::new("document", "is larger than 10 MiB or was cut off").into();
                        return after_change::<()>(&state, &ctx, &who, id, Err(e)).await;
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                let e = InvalidValue::new("document", "is larger than 10 MiB or was cut off").into();
                return after_change::<()>(&state, &ctx, &who, id, Err(e)).await;
            }
        }
    }
    let result = match file {
        Some((name, bytes)) => state.svc.add_document(&who.actor, &ctx, id, &name, &bytes).await,
        None => Err(InvalidValue::new("document", "choose a file to upload").into()),
    };
    after_change(&state, &ctx, &who, id, result).await
}

async fn download_document(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let (info, bytes) = state
        .svc
        .document(&who.actor, &ctx, parse_uuid(&id)?, parse_uuid(&doc)?)
        .await?;
    // The stored name is personal: the download is named by its id; the browser keeps the type.
    let extension = passage_service::document_extension(&info.content_type);
    Ok((
        [
            (header::CONTENT_TYPE, info.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"document-{}.{extension}\"", info.id),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn refer(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let (mut to, mut service_type, mut fields) = (String::new(), String::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "to" => to = v.into_owned(),
            "service_type" => service_type = v.into_owned(),
            "fields" => fields.push(v.into_owned()),
            _ => {}
        }
    }
    let result = async {
        let to: OrgId = to
            .parse()
            .map_err(|_| InvalidValue::new("to", "choose the organisation to refer to"))?;
        state
            .svc
            .refer_case(&who.actor, &ctx, id, to, &service_type, &fields)
            .await
    }
    .await;
    after_change(&state, &ctx, &who, id, result).await
}

struct ReferralLine {
    id: String,
    direction: &'static str,
    other: String,
    service: String,
    status: String,
    when: String,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    c: Chrome,
    org_name: String,
    referrals: Vec<ReferralLine>,
}

#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    c: Chrome,
    id: String,
    from: String,
    to: String,
    service: String,
    status: String,
    requested: String,
    /// (label, value) of what the referring organisation shared.
    shared: Vec<(String, String)>,
    /// The person's consent to share with the receiving organisation is withdrawn.
    identity_withheld: bool,
    /// The case, for members of the referring organisation.
    case_link: Option<String>,
    can_answer: bool,
    can_complete: bool,
    decline_reason: String,
    reasons: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

impl ReferralsPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}
impl ReferralPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

fn service_label(code: &str) -> String {
    SERVICE_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code.to_owned(), |(_, l)| (*l).to_owned())
}

async fn org_names(state: &AppState) -> Result<Vec<(OrgId, String)>, PageError> {
    Ok(state
        .svc
        .organisations(&Actor::Operator)
        .await?
        .into_iter()
        .map(|o| (o.id, o.name.to_string()))
        .collect())
}

fn name_in(names: &[(OrgId, String)], org: OrgId) -> String {
    names
        .iter()
        .find(|(id, _)| *id == org)
        .map_or_else(String::new, |(_, n)| n.clone())
}

#[derive(Deserialize)]
struct OrgParam {
    #[serde(default)]
    org: String,
}

async fn referrals(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Query(p): Query<OrgParam>,
) -> Result<Response, PageError> {
    let org: OrgId = match p.org.as_str() {
        "" => who
            .actor
            .grants()
            .iter()
            .find(|g| g.permissions.contains(&Permission::CasesView))
            .map(|g| g.org)
            .ok_or(PageError::Service(ServiceError::Denied(
                passage_domain::Denied::Forbidden,
            )))?,
        raw => raw
            .parse()
            .map_err(|_| PageError::Service(ServiceError::NotFound))?,
    };
    let list = state.svc.referrals(&who.actor, Some(org), None).await?;
    let names = org_names(&state).await?;
    render_with(
        StatusCode::OK,
        &ReferralsPage {
            c: Chrome::of(&who),
            org_name: name_in(&names, org),
            referrals: list
                .into_iter()
                .map(|r| {
                    let incoming = r.to_org == org;
                    ReferralLine {
                        id: r.id.to_string(),
                        direction: if incoming { "From" } else { "To" },
                        other: name_in(&names, if incoming { r.from_org } else { r.to_org }),
                        service: service_label(&r.service_type),
                        status: r.status,
                        when: r.requested_at.display_minutes(),
                    }
                })
                .collect(),
        },
    )
}

async fn referral_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    id: uuid::Uuid,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let r = state.svc.referral(&who.actor, ctx, id).await?;
    let names = org_names(state).await?;
    let may = |p: Permission, o: OrgId| who.actor.authorize(p, Scope::Org(o)).is_ok();
    let receiver = may(Permission::CasesEdit, r.to_org);
    let sender = may(Permission::CasesView, r.from_org);
    let shared = r
        .shared
        .iter()
        .map(|a| (a.label.clone(), a.value.clone()))
        .collect();
    render_with(
        status,
        &ReferralPage {
            c: Chrome::of(who),
            id: id.to_string(),
            from: name_in(&names, r.from_org),
            to: name_in(&names, r.to_org),
            service: service_label(&r.service_type),
            status: r.status.clone(),
            requested: r.requested_at.display_minutes(),
            shared,
            identity_withheld: r.identity_withheld,
            case_link: sender.then(|| r.case_id.to_string()),
            can_answer: receiver && r.status == "requested",
            can_complete: receiver && r.status == "accepted",
            decline_reason: r
                .decline_reason
                .as_deref()
                .and_then(|c| DECLINE_REASONS.iter().find(|(k, _)| *k == c))
                .map(|(_, l)| (*l).to_owned())
                .unwrap_or_default(),
            reasons: DECLINE_REASONS.to_vec(),
            error,
        },
    )
}

async fn referral(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    referral_page(&state, &ctx, &who, parse_uuid(&id)?, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct AnswerForm {
    decision: String,
    reason: Option<String>,
}

async fn answer(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AnswerForm>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = state
        .svc
        .answer_referral(
            &who.actor,
            &ctx,
            id,
            form.decision == "accept",
            form.reason.as_deref(),
        )
        .await;
    after_referral(&state, &ctx, &who, id, result).await
}

async fn complete(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_uuid(&id)?;
    let result = state.svc.complete_referral(&who.actor, &ctx, id).await;
    after_referral(&state, &ctx, &who, id, result).await
}

async fn after_referral(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &passage_service::Authenticated,
    id: uuid::Uuid,
    result: Result<(), ServiceError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/referrals/{id}")).into_response()),
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            referral_page(state, ctx, who, id, status, Some(message)).await
        }
    }
}
