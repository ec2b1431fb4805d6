//! The one place where errors become HTTP responses. Pages get an HTML error page, the API a
//! JSON body `{"error": {"code", "message"}}`. Internal causes are logged with the request id
//! and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use passage_domain::Denied;
use passage_service::ServiceError;

/// Status, stable code and user-facing message for a service error.
pub fn classify(e: &ServiceError) -> (StatusCode, &'static str, String) {
    match e {
        ServiceError::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", v.to_string()),
        ServiceError::Denied(Denied::NotFound) | ServiceError::NotFound => {
            (StatusCode::NOT_FOUND, "not_found", "Not found.".to_owned())
        }
        ServiceError::Denied(d) => (
            StatusCode::FORBIDDEN,
            "forbidden",
            capitalise(&d.to_string()) + ".",
        ),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict", capitalise(&e.to_string())),
        ServiceError::Stale { .. } => (StatusCode::CONFLICT, "stale", capitalise(&e.to_string()) + "."),
        ServiceError::BadCredentials => (
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "Wrong username or password.".to_owned(),
        ),
        ServiceError::Throttled { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            capitalise(&e.to_string()) + ".",
        ),
        ServiceError::SessionExpired => (
            StatusCode::UNAUTHORIZED,
            "session_expired",
            capitalise(&e.to_string()) + ".",
        ),
        ServiceError::NoAccountForSso => (
            StatusCode::FORBIDDEN,
            "no_account",
            capitalise(&e.to_string()) + ".",
        ),
        ServiceError::SecondFactorRequired => (
            StatusCode::UNAUTHORIZED,
            "second_factor_required",
            capitalise(&e.to_string()) + ".",
        ),
        ServiceError::BadToken => (
            StatusCode::UNAUTHORIZED,
            "bad_token",
            capitalise(&e.to_string()) + ".",
        ),
        // The indicator definitions no longer match the forms: a configuration problem the
        // M&E officer fixes; the message names the file, line, indicator and field.
        ServiceError::Indicators(d) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid_indicators",
            format!("The indicator definitions do not match the programme forms: {d}"),
        ),
        ServiceError::InvalidRecord(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_record",
            format!(
                "The answers were not accepted; nothing was saved. Problems:\n{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        ),
        ServiceError::InvalidForm(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_form",
            format!(
                "The form was not accepted; nothing was changed. Problems:\n{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        ),
        ServiceError::Unavailable(cause) => {
            tracing::error!(%cause, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The database is not reachable; please try again shortly.".to_owned(),
            )
        }
        ServiceError::Tampered => {
            tracing::error!("sealed data failed its integrity check");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "integrity",
                capitalise(&e.to_string()) + ".",
            )
        }
        // Only raised at start; a request never sees it, but it is an internal matter if one did.
        ServiceError::WrongMasterKey { .. } | ServiceError::Internal(_) => {
            let cause = e.to_string();
            tracing::error!(%cause, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side; the request id in the response headers helps the administrator find it.".to_owned(),
            )
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn retry_after(e: &ServiceError, mut response: Response) -> Response {
    if let ServiceError::Throttled { retry_after_secs } = e
        && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// A mistake the user can correct on the same page (an invalid value, a clash with an existing
/// record or a newer change): its status and message. Anything else becomes the error page.
pub fn correctable(e: ServiceError) -> Result<(StatusCode, String), PageError> {
    match e {
        ServiceError::Invalid(_) | ServiceError::Conflict(_) | ServiceError::Stale { .. } => {
            let (status, _, message) = classify(&e);
            Ok((status, message))
        }
        other => Err(PageError::Service(other)),
    }
}

/// An error on an HTML page.
#[derive(Debug)]
pub enum PageError {
    Service(ServiceError),
    /// A request the server refuses before any use case runs (e.g. CSRF).
    Refused(StatusCode, String),
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message, service_error) = match self {
            Self::Service(ServiceError::SessionExpired) => {
                return axum::response::Redirect::to("/login?expired=1").into_response();
            }
            Self::Service(e) => {
                let (status, _, message) = classify(&e);
                (status, message, Some(e))
            }
            Self::Refused(status, message) => (status, message, None),
        };
        let page = crate::pages::ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or(""),
            message,
        };
        let body = askama::Template::render(&page).unwrap_or_else(|_| "Error".to_owned());
        let response = (status, Html(body)).into_response();
        match service_error {
            Some(e) => retry_after(&e, response),
            None => response,
        }
    }
}

/// An error in the JSON API.
#[derive(Debug)]
pub enum ApiError {
    Service(ServiceError),
    Refused(StatusCode, &'static str, String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, service_error) = match self {
            Self::Service(e) => {
                let (status, code, message) = classify(&e);
                (status, code, message, Some(e))
            }
            Self::Refused(status, code, message) => (status, code, message, None),
        };
        let mut body = serde_json::json!({ "error": { "code": code, "message": message } });
        if let Some(ServiceError::InvalidRecord(problems)) = &service_error {
            body["error"]["problems"] = problems
                .iter()
                .map(|p| serde_json::json!({ "path": p.path, "reason": p.reason }))
                .collect();
        }
        if let Some(ServiceError::InvalidForm(problems)) = &service_error {
            body["error"]["problems"] = problems
                .iter()
                .map(|p| serde_json::json!({ "sheet": p.sheet, "row": p.row, "column": p.column, "reason": p.reason }))
                .collect();
        }
        if let Some(ServiceError::Stale { fields }) = &service_error {
            body["error"]["changed_fields"] = serde_json::json!(fields);
        }
        let response = (status, axum::Json(body)).into_response();
        match service_error {
            Some(e) => retry_after(&e, response),
            None => response,
        }
    }
}

/// An error on the OpenRosa endpoints: the status an ODK client handles, with an
/// `OpenRosaResponse` message it shows to the data collector. Invalid submissions are 400
/// (Collect's "the form is not accepting this submission"), not 422.
#[derive(Debug)]
pub struct OpenRosaError {
    pub error: ServiceError,
    /// The `WWW-Authenticate` challenge for a 401, when the client should sign in by Digest.
    pub challenge: Option<String>,
    /// A status decided by the transport (413 for an oversized body).
    pub status: Option<StatusCode>,
}

impl From<ServiceError> for OpenRosaError {
    fn from(error: ServiceError) -> Self {
        Self {
            error,
            challenge: None,
            status: None,
        }
    }
}

impl IntoResponse for OpenRosaError {
    fn into_response(self) -> Response {
        let (status, _, message) = classify(&self.error);
        let status = match &self.error {
            ServiceError::Invalid(_) | ServiceError::InvalidRecord(_) => StatusCode::BAD_REQUEST,
            ServiceError::SessionExpired => StatusCode::UNAUTHORIZED,
            _ => status,
        };
        let status = self.status.unwrap_or(status);
        let message = match &self.error {
            ServiceError::BadToken | ServiceError::SessionExpired => {
                "This device is not known to Passage or was revoked: ask an administrator for a new one."
                    .to_owned()
            }
            ServiceError::NotFound => {
                "Passage does not know this form, or this device may not use it.".to_owned()
            }
            _ => message,
        };
        if status.is_server_error() {
            tracing::error!(error = %self.error, "openrosa request failed");
        }
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            passage_openrosa::response(&message, true),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(passage_openrosa::VERSION_HEADER, HeaderValue::from_static("1.0"));
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        response
    }
}
