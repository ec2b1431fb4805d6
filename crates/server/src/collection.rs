//! The field collection page: an administrator issues ODK devices to members (with the QR
//! code ODK Collect scans), revokes them, and sees and re-processes quarantined submissions.

use crate::AppState;
use crate::api::{ErrorBody, parse_id};
use crate::auth::ApiUser;
use crate::auth::{RequestCtx, WebUser};
use crate::error::ApiError;
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_domain::{OrgId, Permission, Scope};
use passage_service::{Authenticated, DeviceInfo, IssuedDevice, ServiceError, SubmissionSummary};
use serde::{Deserialize, Serialize};
use std::io::Write;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/collection", get(collection))
        .route("/collection/devices", post(issue))
        .route("/collection/devices/{id}/revoke", post(revoke))
        .route("/collection/submissions/{id}/reprocess", post(reprocess))
        .route("/collection/quarantine", get(quarantine))
        .route("/collection/keys", get(keys).post(create_key))
        .route("/collection/keys/{programme}/unlock", post(unlock_key))
        .route("/collection/keys/{programme}/lock", post(lock_key))
}

/// ODK Collect's "configure via QR code" payload: zlib-compressed JSON settings, base64.
fn collect_settings(server_url: &str, project: &str) -> Result<String, ServiceError> {
    let json = serde_json::json!({
        "general": { "server_url": server_url, "form_update_mode": "match_exactly", "autosend": "wifi_and_cellular" },
        "admin": {},
        "project": { "name": project, "icon": "P", "color": "#1f5f8b" },
    });
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(json.to_string().as_bytes())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let bytes = z.finish().map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(data_encoding::BASE64.encode(&bytes))
}

/// The QR code as an inline SVG (drawn on the server: no script, nothing sent elsewhere).
pub(crate) fn qr_svg(payload: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(payload.as_bytes()).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

struct Issued {
    server_url: String,
    digest_server: String,
    username: String,
    password: String,
    qr: String,
}

struct OrgChoice {
    id: OrgId,
    name: String,
    chosen: bool,
}

struct MemberChoice {
    id: String,
    label: String,
}

struct DeviceRow {
    info: DeviceInfo,
    member: String,
}

struct SubmissionRow {
    s: SubmissionSummary,
    /// The programme's name.
    programme: String,
}

#[derive(Template)]
#[template(path = "collection.html")]
struct CollectionPage {
    c: Chrome,
    org: OrgId,
    orgs: Vec<OrgChoice>,
    members: Vec<MemberChoice>,
    devices: Vec<DeviceRow>,
    submissions: Vec<SubmissionRow>,
    state: String,
    issued: Option<Issued>,
    notice: Option<String>,
}

impl CollectionPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

#[derive(Deserialize, Default)]
struct Params {
    org: Option<String>,
    state: Option<String>,
    notice: Option<String>,
    issued: Option<String>,
}

/// Secrets of newly issued devices waiting for the page that shows them once (a reload
/// shows nothing, and re-posting the form is not needed to see them).
#[derive(Default)]
pub(crate) struct Handoff(std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Issued)>>);

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handoff(***)")
    }
}

/// How long issued secrets wait to be shown.
const HANDOFF_SECS: u64 = 300;

impl Handoff {
    fn put(&self, issued: Issued) -> Result<String, ServiceError> {
        let slot = passage_crypto::random_token("")?;
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, (at, _)| at.elapsed().as_secs() < HANDOFF_SECS);
            map.insert(slot.clone(), (std::time::Instant::now(), issued));
        }
        Ok(slot)
    }
    fn take(&self, slot: &str) -> Option<Issued> {
        let (at, issued) = self.0.lock().ok()?.remove(slot)?;
        (at.elapsed().as_secs() < HANDOFF_SECS).then_some(issued)
    }
}

/// The organisations whose devices this user manages, and the one the page shows.
async fn orgs_of(
    state: &AppState,
    who: &Authenticated,
    wanted: Option<&str>,
) -> Result<(OrgId, Vec<OrgChoice>), PageError> {
    let all = state.svc.organisations(&who.actor).await?;
    let managed: Vec<_> = all
        .into_iter()
        .filter(|o| {
            who.actor
                .authorize(Permission::DevicesManage, Scope::Org(o.id))
                .is_ok()
        })
        .collect();
    let chosen = wanted
        .and_then(|w| managed.iter().find(|o| o.id.to_string() == w))
        .or(managed.first())
        .map(|o| o.id)
        .ok_or(PageError::Service(ServiceError::Denied(
            passage_domain::Denied::Forbidden,
        )))?;
    Ok((
        chosen,
        managed
            .into_iter()
            .map(|o| OrgChoice {
                id: o.id,
                name: o.name.to_string(),
                chosen: o.id == chosen,
            })
            .collect(),
    ))
}

async fn page(state: &AppState, who: &Authenticated, p: Params) -> Result<Response, PageError> {
    // A new device's secrets are shown once, on the page the issuing redirected to.
    let issued = p.issued.as_deref().and_then(|slot| state.handoff.take(slot));
    let (org, orgs) = orgs_of(state, who, p.org.as_deref()).await?;
    let members = state.svc.device_members(&who.actor, org).await?;
    let name_of = |id: passage_domain::UserId| {
        members
            .iter()
            .find(|(m, _)| *m == id)
            .map(|(_, label)| label.clone())
            .unwrap_or_else(|| "(no longer records here)".into())
    };
    let devices = state
        .svc
        .devices(&who.actor, org)
        .await?
        .into_iter()
        .map(|info| DeviceRow {
            member: name_of(info.user_id),
            info,
        })
        .collect();
    let wanted_state = p.state.unwrap_or_else(|| "quarantined".into());
    let filter = (wanted_state != "all").then_some(wanted_state.as_str());
    let names: Vec<(String, String)> = state
        .svc
        .programmes()
        .await?
        .into_iter()
        .map(|p| (p.programme.code, p.programme.name))
        .collect();
    let submissions = state
        .svc
        .submissions(&who.actor, org, filter)
        .await?
        .into_iter()
        .map(|s| SubmissionRow {
            programme: names
                .iter()
                .find(|(code, _)| *code == s.programme)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| s.programme.clone()),
            s,
        })
        .collect();
    render_with(
        StatusCode::OK,
        &CollectionPage {
            c: Chrome::of(who),
            org,
            orgs,
            members: members
                .iter()
                .map(|(id, label)| MemberChoice {
                    id: id.to_string(),
                    label: label.clone(),
                })
                .collect(),
            devices,
            submissions,
            state: wanted_state,
            issued,
            notice: p.notice,
        },
    )
}

async fn collection(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    page(&state, &who, p).await
}

#[derive(Deserialize)]
struct IssueForm {
    org: String,
    user: String,
    name: String,
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, PageError> {
    raw.parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))
}

async fn issue(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    headers: axum::http::HeaderMap,
    Form(form): Form<IssueForm>,
) -> Result<Response, PageError> {
    let org: OrgId = parse(&form.org)?;
    let user = parse(&form.user)?;
    let IssuedDevice {
        device,
        token,
        password,
    } = state
        .svc
        .issue_device(&who.actor, &ctx, org, user, &form.name)
        .await?;
    let scheme = if state.options.secure { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let server_url = format!("{scheme}://{host}/key/{token}");
    let qr = qr_svg(&collect_settings(
        &server_url,
        &format!("Passage: {}", device.name),
    )?)?;
    let issued = Issued {
        server_url,
        digest_server: format!("{scheme}://{host}"),
        username: device.digest_username,
        password,
        qr,
    };
    let slot = state.handoff.put(issued)?;
    // Post/redirect/get: a reload does not issue a second device.
    Ok(Redirect::to(&format!("/collection?org={org}&issued={slot}")).into_response())
}

#[derive(Deserialize)]
struct OrgForm {
    org: String,
}

async fn revoke(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Form(form): Form<OrgForm>,
) -> Result<Response, PageError> {
    state.svc.revoke_device(&who.actor, &ctx, parse(&id)?).await?;
    Ok(Redirect::to(&format!("/collection?org={}&notice=revoked", form.org)).into_response())
}

async fn reprocess(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Form(form): Form<OrgForm>,
) -> Result<Response, PageError> {
    let outcome = state
        .svc
        .reprocess_submission(&who.actor, &ctx, parse(&id)?)
        .await?;
    Ok(Redirect::to(&format!("/collection?org={}&notice={outcome}", form.org)).into_response())
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage {
    c: Chrome,
    submissions: Vec<SubmissionSummary>,
}

impl QuarantinePage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

/// Records sent from the field that wait for someone who registers them to correct them.
async fn quarantine(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    let submissions = state.svc.quarantined_for(&who.actor).await?;
    render_with(
        StatusCode::OK,
        &QuarantinePage {
            c: Chrome::of(&who),
            submissions,
        },
    )
}

#[derive(Template)]
#[template(path = "collection_keys.html")]
struct KeysPage {
    c: Chrome,
    keys: Vec<passage_service::CollectionKeyInfo>,
    /// Programmes without a key yet: (code, name).
    without: Vec<(String, String)>,
    created: Option<String>,
    notice: Option<String>,
    problem: Option<String>,
}

impl KeysPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn keys_page(
    state: &AppState,
    who: &Authenticated,
    status: StatusCode,
    created: Option<String>,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<Response, PageError> {
    let keys = state.svc.collection_keys(&who.actor).await?;
    let without = state
        .svc
        .programmes()
        .await?
        .into_iter()
        .filter(|p| !keys.iter().any(|k| k.programme == p.programme.code))
        .map(|p| (p.programme.code, p.programme.name))
        .collect();
    render_with(
        status,
        &KeysPage {
            c: Chrome::of(who),
            keys,
            without,
            created,
            notice,
            problem,
        },
    )
}

#[derive(Deserialize, Default)]
struct KeysParams {
    notice: Option<String>,
}

async fn keys(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Query(p): Query<KeysParams>,
) -> Result<Response, PageError> {
    let notice = p.notice.map(|n| match n.parse::<usize>() {
        Ok(count) => {
            format!("Unlocked: {count} encrypted submission(s) were read and registered or quarantined.")
        }
        Err(_) => "Locked: encrypted submissions wait again until the key is unlocked.".to_owned(),
    });
    keys_page(&state, &who, StatusCode::OK, None, notice, None).await
}

#[derive(Deserialize)]
struct CreateKeyForm {
    programme: String,
    passphrase: String,
    confirm: String,
    #[serde(default)]
    private_key_pem: String,
}

/// A refusal the holder can correct is shown on the page (422), not as an error page.
async fn correctable(
    state: &AppState,
    who: &Authenticated,
    result: Result<Response, ServiceError>,
) -> Result<Response, PageError> {
    match result {
        Ok(r) => Ok(r),
        Err(ServiceError::Invalid(v)) => {
            keys_page(
                state,
                who,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                Some(v.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_key(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(form): Form<CreateKeyForm>,
) -> Result<Response, PageError> {
    if form.passphrase != form.confirm {
        let problem = Some("The two passphrases differ.".to_owned());
        return keys_page(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
            problem,
        )
        .await;
    }
    let pem = Some(form.private_key_pem.trim()).filter(|p| !p.is_empty());
    let created = state
        .svc
        .create_collection_key(&who.actor, &ctx, &form.programme, &form.passphrase, pem)
        .await;
    match created {
        Ok(public_key) => keys_page(&state, &who, StatusCode::OK, Some(public_key), None, None).await,
        Err(e) => correctable(&state, &who, Err(e)).await,
    }
}

#[derive(Deserialize)]
struct UnlockForm {
    passphrase: String,
}

async fn unlock_key(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(programme): Path<String>,
    Form(form): Form<UnlockForm>,
) -> Result<Response, PageError> {
    let result = state
        .svc
        .unlock_collection_key(&who.actor, &ctx, &programme, &form.passphrase)
        .await
        .map(|n| Redirect::to(&format!("/collection/keys?notice={n}")).into_response());
    correctable(&state, &who, result).await
}

async fn lock_key(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(programme): Path<String>,
) -> Result<Response, PageError> {
    state
        .svc
        .lock_collection_key(&who.actor, &ctx, &programme)
        .await?;
    Ok(Redirect::to("/collection/keys?notice=locked").into_response())
}

pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/organisations/{org}/submissions", get(api_submissions))
        .route("/submissions/{id}", get(api_submission))
        .route("/submissions/{id}/answers", post(api_fix))
        .route("/submissions/{id}/reprocess", post(api_reprocess))
}

#[derive(Serialize, ToSchema)]
struct SubmissionOut {
    id: String,
    instance_id: String,
    programme: String,
    /// incomplete, received, processed, quarantined or encrypted
    state: String,
    /// Why it is quarantined (fields and rules, never values), or a note.
    problem: Option<String>,
    received_at: String,
    case_id: Option<String>,
    /// An edit (deprecatedID) of an earlier submission.
    edit: bool,
}

impl From<SubmissionSummary> for SubmissionOut {
    fn from(s: SubmissionSummary) -> Self {
        Self {
            id: s.id.to_string(),
            instance_id: s.instance_id,
            programme: s.programme,
            state: s.state.to_owned(),
            problem: s.problem,
            received_at: s.received_at.to_string(),
            case_id: s.case_id.map(|c| c.to_string()),
            edit: s.edit,
        }
    }
}

#[derive(Deserialize, IntoParams)]
struct StateParams {
    /// Only submissions in this state (default: all).
    state: Option<String>,
}

#[utoipa::path(get, path = "/organisations/{org}/submissions", tag = "collection", summary = "The organisation's ODK submissions, newest first (no answers)",
    params(("org" = String, Path, description = "Organisation id"), StateParams),
    responses((status = 200, body = [SubmissionOut]), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_submissions(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(org): Path<String>,
    Query(p): Query<StateParams>,
) -> Result<Json<Vec<SubmissionOut>>, ApiError> {
    let org = OrgId::from_uuid(parse_id(&org)?);
    let list = state.svc.submissions(&who.actor, org, p.state.as_deref()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, ToSchema)]
struct QuarantinedOut {
    submission: SubmissionOut,
    /// The answers as received, by field name (repeats as arrays of objects).
    #[schema(value_type = Object)]
    answers: serde_json::Value,
}

#[utoipa::path(get, path = "/submissions/{id}", tag = "collection", summary = "A quarantined submission with its answers, for those who register its programme's records (audited)",
    params(("id" = String, Path, description = "Submission id")),
    responses((status = 200, body = QuarantinedOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn api_submission(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<QuarantinedOut>, ApiError> {
    let (summary, answers) = state
        .svc
        .submission_answers(&who.actor, &ctx, parse_id(&id)?)
        .await?;
    Ok(Json(QuarantinedOut {
        submission: summary.into(),
        answers: passage_service::instance_to_json(&answers),
    }))
}

#[derive(Deserialize, ToSchema)]
struct FixIn {
    /// The corrected answers, in the same shape as `answers` above.
    #[schema(value_type = Object)]
    answers: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
struct FixedOut {
    case_id: String,
}

#[utoipa::path(post, path = "/submissions/{id}/answers", tag = "collection", summary = "Register a quarantined submission with corrected answers (checked like any record; the submission as received is kept)",
    params(("id" = String, Path, description = "Submission id")), request_body = FixIn,
    responses((status = 201, body = FixedOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_fix(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    Json(body): Json<FixIn>,
) -> Result<(StatusCode, Json<FixedOut>), ApiError> {
    let answers = passage_service::instance_from_json(&body.answers)?;
    let case = state
        .svc
        .fix_submission(&who.actor, &ctx, parse_id(&id)?, &answers)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(FixedOut {
            case_id: case.to_string(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
struct ReprocessedOut {
    /// processed, or quarantined again (with the new reason in the list)
    state: String,
}

#[utoipa::path(post, path = "/submissions/{id}/reprocess", tag = "collection", summary = "Try a quarantined submission again, after its cause was put right",
    params(("id" = String, Path, description = "Submission id")),
    responses((status = 200, body = ReprocessedOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn api_reprocess(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<ReprocessedOut>, ApiError> {
    let outcome = state
        .svc
        .reprocess_submission(&who.actor, &ctx, parse_id(&id)?)
        .await?;
    Ok(Json(ReprocessedOut {
        state: outcome.to_owned(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_submissions, api_submission, api_fix, api_reprocess),
    components(schemas(SubmissionOut, QuarantinedOut, FixIn, FixedOut, ReprocessedOut))
)]
pub struct CollectionDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn collect_settings_decode_to_the_server_url() {
        let payload = collect_settings("https://passage.example/key/abc", "Passage: tablet 1").unwrap();
        let bytes = data_encoding::BASE64.decode(payload.as_bytes()).unwrap();
        let mut json = String::new();
        flate2::read::ZlibDecoder::new(&bytes[..])
            .read_to_string(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["general"]["server_url"], "https://passage.example/key/abc");
        assert!(qr_svg(&payload).unwrap().starts_with("<?xml"));
    }
}
