//! OpenRosa 1.0 endpoints for ODK Collect, KoboCollect, Enketo and ODK Web Forms: the form
//! list, form download and submission, either under a device's secret URL (`/key/{token}/…`,
//! what Collect's QR code configures) or at the root with HTTP Digest. Clients' quirks are
//! tolerated: the `Date` header is ignored, `deviceID` queries are accepted, part names
//! decoded as Latin-1 are read again as UTF-8.

use crate::AppState;
use crate::error::OpenRosaError;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passage_domain::{Channel, InvalidValue};
use passage_service::{Collector, Ctx, MAX_SUBMISSION_BYTES, Receipt, ServiceError, Upload, UploadedFile};

pub fn routes() -> Router<AppState> {
    let submission = || {
        get(preflight)
            .head(preflight)
            .post(submit)
            // Room for the multipart framing around the largest submission we ask for.
            .layer(DefaultBodyLimit::max(MAX_SUBMISSION_BYTES + 64 * 1024))
    };
    Router::new()
        .route("/key/{token}/formList", get(form_list))
        .route("/key/{token}/forms/{file}", get(form))
        .route("/key/{token}/forms/{file}/manifest", get(manifest))
        .route("/key/{token}/forms/{file}/media/{name}", get(media))
        .route("/key/{token}/submission", submission())
        .route("/formList", get(form_list))
        .route("/forms/{file}", get(form))
        .route("/forms/{file}/manifest", get(manifest))
        .route("/forms/{file}/media/{name}", get(media))
        .route("/submission", submission())
}

/// A signed-in device, and the URL prefix it used (its key path, or none for Digest).
struct Client {
    who: Collector,
    base: String,
}

fn challenge(state: &AppState, stale: bool) -> String {
    let opaque = passage_openrosa::digest::md5_hex(passage_service::REALM.as_bytes());
    passage_openrosa::digest::challenge(passage_service::REALM, &state.svc.digest_nonce(), &opaque, stale)
}

impl FromRequestParts<AppState> for Client {
    type Rejection = OpenRosaError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let scheme = if state.options.secure { "https" } else { "http" };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        if let Some(rest) = parts.uri.path().strip_prefix("/key/") {
            let token = rest.split('/').next().unwrap_or("");
            let who = state.svc.collector_by_token(token).await?;
            return Ok(Self {
                who,
                base: format!("{scheme}://{host}/key/{token}"),
            });
        }
        let refuse = |stale| OpenRosaError {
            error: ServiceError::BadToken,
            challenge: Some(challenge(state, stale)),
            status: None,
        };
        let Some(auth) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
        else {
            return Err(refuse(false));
        };
        match state.svc.collector_by_digest(auth, parts.method.as_str()).await {
            Ok(who) => Ok(Self {
                who,
                base: format!("{scheme}://{host}"),
            }),
            Err(ServiceError::SessionExpired) => Err(refuse(true)),
            Err(ServiceError::BadToken) => Err(refuse(false)),
            Err(e) => Err(e.into()),
        }
    }
}

fn ctx(parts_headers: &axum::http::HeaderMap) -> Ctx {
    Ctx {
        channel: Channel::OpenRosa,
        request_id: parts_headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The headers every OpenRosa answer carries.
fn openrosa(status: StatusCode, body: String, submission: bool) -> Response {
    let mut r = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, body).into_response()
    };
    let h = r.headers_mut();
    h.insert(passage_openrosa::VERSION_HEADER, HeaderValue::from_static("1.0"));
    if status != StatusCode::NO_CONTENT {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        );
    }
    if submission && let Ok(v) = HeaderValue::from_str(&MAX_SUBMISSION_BYTES.to_string()) {
        h.insert(passage_openrosa::ACCEPT_CONTENT_LENGTH_HEADER, v);
    }
    r
}

async fn form_list(State(state): State<AppState>, client: Client) -> Result<Response, OpenRosaError> {
    let forms = state.svc.collection_forms(&client.who).await?;
    let entries: Vec<_> = forms
        .into_iter()
        .map(|f| passage_openrosa::FormListEntry {
            download_url: format!("{}/forms/{}.xml", client.base, segment(&f.form_id)),
            name: f.title,
            version: f.version,
            manifest_url: (!f.media.is_empty())
                .then(|| format!("{}/forms/{}/manifest", client.base, segment(&f.form_id))),
            form_id: f.form_id,
            md5: f.md5,
        })
        .collect();
    let body = passage_openrosa::form_list(&entries).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(openrosa(StatusCode::OK, body, false))
}

/// A URL path segment: form ids and media file names may hold spaces or `&`.
fn segment(raw: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'&')
        .add(b'+')
        .add(b'/')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    percent_encoding::utf8_percent_encode(raw, SEGMENT).to_string()
}

/// A path parameter by name (`/key/{token}/…` routes carry one more).
fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

use axum::extract::Path;
type Params = Vec<(String, String)>;

async fn collection_form(
    state: &AppState,
    client: &Client,
    form_id: &str,
) -> Result<passage_service::CollectionForm, OpenRosaError> {
    Ok(state
        .svc
        .collection_forms(&client.who)
        .await?
        .into_iter()
        .find(|f| f.form_id == form_id)
        .ok_or(ServiceError::NotFound)?)
}

async fn form(
    State(state): State<AppState>,
    client: Client,
    Path(params): Path<Params>,
) -> Result<Response, OpenRosaError> {
    let file = param(&params, "file");
    let found = collection_form(&state, &client, file.strip_suffix(".xml").unwrap_or(file)).await?;
    Ok(openrosa(StatusCode::OK, (*found.xform).clone(), false))
}

/// The form's media files with their hashes: Collect downloads those it lacks or that changed.
async fn manifest(
    State(state): State<AppState>,
    client: Client,
    Path(params): Path<Params>,
) -> Result<Response, OpenRosaError> {
    let form_id = param(&params, "file");
    let found = collection_form(&state, &client, form_id).await?;
    let files: Vec<_> = found
        .media
        .iter()
        .map(|m| passage_openrosa::MediaEntry {
            filename: m.name.clone(),
            md5: m.md5.clone(),
            download_url: format!(
                "{}/forms/{}/media/{}",
                client.base,
                segment(form_id),
                segment(&m.name)
            ),
        })
        .collect();
    let body = passage_openrosa::manifest(&files).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(openrosa(StatusCode::OK, body, false))
}

async fn media(
    State(state): State<AppState>,
    client: Client,
    Path(params): Path<Params>,
) -> Result<Response, OpenRosaError> {
    let (content_type, bytes) = state
        .svc
        .collection_media(&client.who, param(&params, "file"), param(&params, "name"))
        .await?;
    let mut r = (StatusCode::OK, bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(passage_openrosa::VERSION_HEADER, HeaderValue::from_static("1.0"));
    Ok(r)
}

/// `HEAD /submission`: Collect checks this answers exactly 204 before it posts.
async fn preflight(_client: Client) -> Response {
    openrosa(StatusCode::NO_CONTENT, String::new(), true)
}

/// Multipart libraries decode non-ASCII part names as Latin-1; clients send UTF-8.
fn utf8_name(raw: &str) -> String {
    if raw.chars().all(|c| (c as u32) < 0x100) {
        let bytes: Vec<u8> = raw.chars().map(|c| c as u8).collect();
        if let Ok(s) = String::from_utf8(bytes) {
            return s;
        }
    }
    raw.to_owned()
}

fn bad(reason: impl Into<String>) -> OpenRosaError {
    ServiceError::from(InvalidValue::new("submission", reason.into())).into()
}

async fn submit(
    State(state): State<AppState>,
    client: Client,
    request: Request<Body>,
) -> Result<Response, OpenRosaError> {
    let ctx = ctx(request.headers());
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| bad("must be multipart/form-data with a part named xml_submission_file"))?;
    let mut upload = Upload::default();
    let mut xml = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(OpenRosaError {
                    status: Some(StatusCode::PAYLOAD_TOO_LARGE),
                    ..bad(format!(
                        "is larger than {} MB: send it in parts",
                        MAX_SUBMISSION_BYTES / 1_000_000
                    ))
                });
            }
            Err(_) => return Err(bad("the multipart body is malformed or was cut short")),
        };
        let name = utf8_name(field.name().unwrap_or(""));
        let file_name = field.file_name().map(utf8_name);
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|_| bad("the multipart body is malformed or was cut short"))?;
        match name.as_str() {
            "xml_submission_file" => xml = Some(bytes.to_vec()),
            "*isIncomplete*" => upload.incomplete = bytes.as_ref().eq_ignore_ascii_case(b"yes"),
            _ => upload.files.push(UploadedFile {
                name: file_name.filter(|f| !f.is_empty()).unwrap_or(name),
                content_type,
                bytes: bytes.to_vec(),
            }),
        }
    }
    upload.xml = xml.ok_or_else(|| bad("has no part named xml_submission_file"))?;
    let receipt = state.svc.receive_submission(&client.who, &ctx, upload).await?;
    Ok(match receipt {
        Receipt::Created(m) => openrosa(StatusCode::CREATED, passage_openrosa::response(&m, false), true),
        Receipt::Duplicate(m) => openrosa(StatusCode::ACCEPTED, passage_openrosa::response(&m, false), true),
    })
}
