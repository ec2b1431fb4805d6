//! Import and export of case records as CSV or XLSX: the `/cases/import` page (check, then
//! import), the `/cases/export` download, and the same through `/api/v1`.

use crate::AppState;
use crate::auth::{ApiUser, RequestCtx, WebUser};
use crate::error::{ApiError, PageError};
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passage_domain::{Actor, InvalidValue, OrgId, Permission};
use passage_service::{Authenticated, ImportReport, RowProblem, ServiceError, SheetFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest file an import accepts (the app's default body limit is 1 MiB).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/cases/import",
            get(import_page)
                .post(import_upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/cases/export", get(export_download))
}

/// Routes under `/api/v1` (merged into the API router by `api::routes`).
// Until api.rs merges these routes, nothing else refers to them.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/programmes/{code}/import",
            post(api_import).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/programmes/{code}/export", get(api_export))
}

fn invalid(field: &'static str, reason: &str) -> ServiceError {
    ServiceError::Invalid(InvalidValue::new(field, reason))
}

fn parse_org(raw: Option<&str>) -> Result<OrgId, ServiceError> {
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| invalid("organisation", "is required"))?;
    raw.parse().map_err(|_| ServiceError::NotFound)
}

fn parse_format(raw: Option<&str>) -> Result<SheetFormat, ServiceError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(SheetFormat::Csv),
        Some(r) => SheetFormat::parse(r).ok_or_else(|| invalid("format", "must be `csv` or `xlsx`")),
    }
}

fn parse_version(raw: Option<&str>) -> Result<Option<uuid::Uuid>, ServiceError> {
    match raw.map(str::trim).filter(|r| !r.is_empty() && *r != "current") {
        None => Ok(None),
        Some(r) => r.parse().map(Some).map_err(|_| ServiceError::NotFound),
    }
}

/// The file as a download (used by every page that offers one).
pub(crate) fn attachment((file_name, content_type, bytes): passage_service::ExportFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

// ----- pages -------------------------------------------------------------------------------

/// What the import page shows after a check or an import.
struct Outcome {
    file_name: String,
    committed: bool,
    rows: usize,
    imported: usize,
    problems: Vec<RowProblem>,
    more_problems: usize,
    possible_duplicates: Vec<(usize, passage_service::SimilarPerson)>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    c: Chrome,
    /// (id, name) of the organisations the user may register records for.
    import_orgs: Vec<(String, String)>,
    /// (id, name) of the organisations the user may export records of.
    export_orgs: Vec<(String, String)>,
    /// (code, name) of the programmes that have a form.
    programmes: Vec<(String, String)>,
    /// (programme name, version id, version) of earlier form versions, for exports.
    versions: Vec<(String, String, String)>,
    org: String,
    programme: String,
    /// A file that could not be read, or a refused request.
    error: Option<String>,
    outcome: Option<Outcome>,
}

impl ImportPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

/// Organisations where the actor holds any of `permissions`, with their names.
async fn orgs_with(
    state: &AppState,
    actor: &Actor,
    permissions: &[Permission],
) -> Result<Vec<(String, String)>, ServiceError> {
    let ids: Vec<OrgId> = actor
        .grants()
        .iter()
        .filter(|g| permissions.iter().any(|p| g.permissions.contains(p)))
        .map(|g| g.org)
        .collect();
    Ok(state
        .svc
        .organisations(actor)
        .await?
        .into_iter()
        .filter(|o| ids.contains(&o.id))
        .map(|o| (o.id.to_string(), o.name.to_string()))
        .collect())
}

async fn page(
    state: &AppState,
    who: &Authenticated,
    org: String,
    programme: String,
    error: Option<String>,
    outcome: Option<Outcome>,
) -> Result<ImportPage, PageError> {
    let import_orgs = orgs_with(
        state,
        &who.actor,
        &[Permission::CasesEdit, Permission::CrossingsRecord],
    )
    .await?;
    let export_orgs = orgs_with(
        state,
        &who.actor,
        &[
            Permission::CasesView,
            Permission::CrossingsView,
            Permission::ReportsView,
        ],
    )
    .await?;
    let mut programmes = Vec::new();
    let mut versions = Vec::new();
    for p in state.svc.programmes().await? {
        let Some(current) = p.current else { continue };
        for v in state.svc.form_versions(&p.programme.code).await? {
            if v.id != current.id {
                versions.push((p.programme.name.clone(), v.id.to_string(), v.version));
            }
        }
        programmes.push((p.programme.code, p.programme.name));
    }
    Ok(ImportPage {
        c: Chrome::of(who),
        import_orgs,
        export_orgs,
        programmes,
        versions,
        org,
        programme,
        error,
        outcome,
    })
}

async fn import_page(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    let p = page(&state, &who, String::new(), String::new(), None, None).await?;
    render_with(StatusCode::OK, &p)
}

async fn import_upload(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let (mut org, mut programme, mut commit) = (String::new(), String::new(), false);
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut too_large = false;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("org") => org = field.text().await.unwrap_or_default(),
                Some("programme") => programme = field.text().await.unwrap_or_default(),
                Some("commit") => commit = field.text().await.is_ok_and(|v| v == "1"),
                Some("file") => {
                    let name = field.file_name().unwrap_or("").to_owned();
                    match field.bytes().await {
                        Ok(bytes) => file = Some((name, bytes.to_vec())),
                        Err(_) => too_large = true,
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(_) => {
                too_large = true;
                break;
            }
        }
    }
    // htmx swaps only successful responses: answer its requests with 200 and the message.
    let htmx = headers.contains_key("hx-request");
    let refused = |message: String| Refusal {
        htmx,
        org: org.clone(),
        programme: programme.clone(),
        message,
    };
    if too_large {
        return refused(format!(
            "The file could not be received; files of up to {} MiB can be imported.",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ))
        .render(&state, &who)
        .await;
    }
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return refused("Choose a programme, an organisation and a .csv or .xlsx file.".to_owned())
            .render(&state, &who)
            .await;
    };
    let Ok(org_id) = org.parse::<OrgId>() else {
        return refused("Choose the organisation the cases belong to.".to_owned())
            .render(&state, &who)
            .await;
    };
    let report = match state
        .svc
        .import_cases(&who.actor, &ctx, &programme, org_id, &file_name, &bytes, commit)
        .await
    {
        Ok(r) => r,
        Err(ServiceError::Invalid(v)) => {
            return refused(format!("The {} {}.", v.field, v.reason))
                .render(&state, &who)
                .await;
        }
        Err(e) => return Err(e.into()),
    };
    let code = if commit && !report.committed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let outcome = Outcome {
        file_name,
        committed: report.committed,
        rows: report.rows,
        imported: report.imported,
        problems: report.problems,
        more_problems: report.more_problems,
        possible_duplicates: report.possible_duplicates,
    };
    let p = page(&state, &who, org, programme, None, Some(outcome)).await?;
    render_with(if htmx { StatusCode::OK } else { code }, &p)
}

/// The import page again, with why the upload was refused.
struct Refusal {
    htmx: bool,
    org: String,
    programme: String,
    message: String,
}

impl Refusal {
    async fn render(self, state: &AppState, who: &Authenticated) -> Result<Response, PageError> {
        let status = if self.htmx {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let p = page(state, who, self.org, self.programme, Some(self.message), None).await?;
        render_with(status, &p)
    }
}

#[derive(Deserialize)]
struct ExportParams {
    org: Option<String>,
    programme: Option<String>,
    format: Option<String>,
    version: Option<String>,
}

async fn export_download(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<ExportParams>,
) -> Result<Response, PageError> {
    let org = parse_org(p.org.as_deref())?;
    let programme = p.programme.unwrap_or_default();
    let format = parse_format(p.format.as_deref())?;
    let version = parse_version(p.version.as_deref())?;
    let file = state
        .svc
        .export_cases(&who.actor, &ctx, org, &programme, version, format)
        .await?;
    Ok(attachment(file))
}

// ----- API ---------------------------------------------------------------------------------

/// The OpenAPI description of these routes (merged into the API's document).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api_import, api_export),
    components(schemas(ImportReportOut, ImportProblemOut, ImportDuplicateOut))
)]
// Until api.rs merges this document, nothing else refers to it.
pub struct TransferDoc;

/// One problem of an import: spreadsheet row (the header is row 1), column and reason.
#[derive(Serialize, ToSchema)]
struct ImportProblemOut {
    row: usize,
    column: String,
    reason: String,
}

/// What an import found and did.
#[derive(Serialize, ToSchema)]
struct ImportReportOut {
    programme: String,
    /// The form version the rows were checked against.
    form_version_id: String,
    /// `csv` or `xlsx`.
    format: String,
    /// Data rows read (empty rows are skipped).
    rows: usize,
    /// The first 1,000 problems, in row order.
    problems: Vec<ImportProblemOut>,
    /// Problems found beyond those listed.
    more_problems: usize,
    /// Whether the cases were stored (a commit without problems).
    committed: bool,
    /// Cases registered.
    imported: usize,
    /// On a check: rows naming someone the organisation may already have registered.
    possible_duplicates: Vec<ImportDuplicateOut>,
}

/// A row that may name a person already registered.
#[derive(Serialize, ToSchema)]
struct ImportDuplicateOut {
    /// The row as the spreadsheet shows it (the header is row 1).
    row: usize,
    person_id: String,
    name: String,
    probability: f64,
    explanation: String,
}

impl From<ImportReport> for ImportReportOut {
    fn from(r: ImportReport) -> Self {
        Self {
            programme: r.programme,
            form_version_id: r.form_version.to_string(),
            format: r.format.extension().to_owned(),
            rows: r.rows,
            problems: r
                .problems
                .into_iter()
                .map(|p| ImportProblemOut {
                    row: p.row,
                    column: p.column,
                    reason: p.reason,
                })
                .collect(),
            more_problems: r.more_problems,
            committed: r.committed,
            imported: r.imported,
            possible_duplicates: r
                .possible_duplicates
                .into_iter()
                .map(|(row, s)| ImportDuplicateOut {
                    row,
                    person_id: s.id.to_string(),
                    name: s.name,
                    probability: s.probability,
                    explanation: s.explanation,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
struct ImportParams {
    organisation: Option<String>,
    commit: Option<String>,
}

/// The uploaded file: a multipart `file` field, or the whole request body.
async fn upload(state: &AppState, req: Request) -> Result<(String, Vec<u8>), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let too_large = || {
        ApiError::Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "The file could not be received; files of up to {} MiB can be imported.",
                MAX_UPLOAD_BYTES / (1024 * 1024)
            ),
        )
    };
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, state).await.map_err(|e| {
            ApiError::Refused(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("Request body: {e}"),
            )
        })?;
        loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.name() == Some("file") => {
                    let name = field.file_name().unwrap_or("").to_owned();
                    let bytes = field.bytes().await.map_err(|_| too_large())?;
                    return Ok((name, bytes.to_vec()));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(ServiceError::Invalid(InvalidValue::new(
                        "file",
                        "is missing: send it as the multipart field `file`, or as the whole request body",
                    ))
                    .into());
                }
                Err(_) => return Err(too_large()),
            }
        }
    }
    let name = if content_type.starts_with("text/csv") {
        "upload.csv"
    } else if content_type.contains("spreadsheetml") {
        "upload.xlsx"
    } else {
        "upload"
    };
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|_| too_large())?;
    Ok((name.to_owned(), bytes.to_vec()))
}

/// Check a spreadsheet of new cases and, with `commit=true`, register them all (or none).
#[utoipa::path(post, path = "/programmes/{code}/import", tag = "cases",
    summary = "Import cases from a CSV or XLSX file (header row of field names): a dry run lists problems by row and column; `commit=true` registers every row or none",
    params(("code" = String, Path, description = "Programme code, e.g. `ct`"),
           ("organisation" = String, Query, description = "The organisation that will own the cases"),
           ("commit" = Option<bool>, Query, description = "Register the cases (default: only check them)")),
    request_body(content = Vec<u8>, description = "The file: a multipart field `file`, or the whole body (`text/csv` or the XLSX content type)"),
    responses((status = 200, description = "Checked (problems, if any, are listed)", body = ImportReportOut),
              (status = 201, description = "Every row registered", body = ImportReportOut),
              (status = 422, description = "A commit with problems: nothing stored; or a file that cannot be read (`error`)", body = ImportReportOut),
              (status = 404, description = "No such programme or organisation")))]
async fn api_import(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
    Query(p): Query<ImportParams>,
    req: Request,
) -> Result<Response, ApiError> {
    let org = parse_org(p.organisation.as_deref())?;
    let commit = match p.commit.as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(invalid("commit", "must be `true` or `false`").into()),
    };
    let (file_name, bytes) = upload(&state, req).await?;
    let report = state
        .svc
        .import_cases(&who.actor, &ctx, &code, org, &file_name, &bytes, commit)
        .await?;
    let (status, refused) = match (commit, report.committed) {
        (true, true) => (StatusCode::CREATED, false),
        (true, false) => (StatusCode::UNPROCESSABLE_ENTITY, true),
        (false, _) => (StatusCode::OK, false),
    };
    let count = report.problem_count();
    let mut body = serde_json::to_value(ImportReportOut::from(report))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    if refused {
        body["error"] = serde_json::json!({
            "code": "invalid_rows",
            "message": format!("The file has {count} problem(s); nothing was imported."),
        });
    }
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize)]
struct ExportApiParams {
    organisation: Option<String>,
    format: Option<String>,
    version: Option<String>,
}

/// Download a programme's cases of one organisation and form version.
#[utoipa::path(get, path = "/programmes/{code}/export", tag = "cases",
    summary = "Export an organisation's cases of a programme as CSV or XLSX (identifying and sensitive columns only for readers of the records; audited)",
    params(("code" = String, Path, description = "Programme code, e.g. `ct`"),
           ("organisation" = String, Query, description = "Organisation id"),
           ("format" = Option<String>, Query, description = "`csv` (default) or `xlsx`"),
           ("version" = Option<String>, Query, description = "Form version id (default: the current form)")),
    responses((status = 200, description = "The file, as an attachment", content_type = "text/csv", body = Vec<u8>),
              (status = 403, description = "Your role may not export these records"),
              (status = 404, description = "No such programme, organisation or form version")))]
async fn api_export(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
    Query(p): Query<ExportApiParams>,
) -> Result<Response, ApiError> {
    let org = parse_org(p.organisation.as_deref())?;
    let format = parse_format(p.format.as_deref())?;
    let version = parse_version(p.version.as_deref())?;
    let file = state
        .svc
        .export_cases(&who.actor, &ctx, org, &code, version, format)
        .await?;
    Ok(attachment(file))
}
