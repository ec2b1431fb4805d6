//! Who is asking: the session cookie or API token is resolved once per request, and every
//! state-changing request is checked against cross-site forgery before any handler runs.

use crate::AppState;
use crate::error::{ApiError, PageError};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use passage_domain::Channel;
use passage_service::{Authenticated, Ctx, PendingSignIn, ServiceError, SessionState};
use std::net::SocketAddr;

pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The session cookie's name: with HTTPS the `__Host-` prefix pins it to this host and path.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-passage_session"
    } else {
        "passage_session"
    }
}

pub fn session_cookie(secure: bool, token: &str) -> String {
    let secure_attr = if secure { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure_attr}",
        cookie_name(secure)
    )
}

pub fn clear_cookie(secure: bool) -> String {
    let secure_attr = if secure { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure_attr}",
        cookie_name(secure)
    )
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Whether the request came from another site. Browsers say so in `Sec-Fetch-Site`, which is
/// decisive when present (they send `Origin: null` on some same-origin posts). Without it, the
/// `Origin` must match the host; clients that send neither are not browsers and carry no ambient
/// cookies unless they chose to.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            origin == "null" || origin_host != host
        }
    }
}

/// Set on the request when a session cookie was presented but has ended.
#[derive(Debug, Clone, Copy)]
struct SessionEnded;

pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let secure = state.options.secure;
    let refuse = |status: StatusCode, code: &'static str, message: &str| -> Response {
        if is_api {
            ApiError::Refused(status, code, message.to_owned()).into_response()
        } else {
            PageError::Refused(status, message.to_owned()).into_response()
        }
    };

    let headers = request.headers();
    let mut ended = false;
    let mut pending = None;
    let identity = if let Some(token) = bearer(headers) {
        match state.svc.authenticate_token(token).await {
            Ok(who) => Some(who),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(token) = cookie_value(headers, cookie_name(secure)) {
        match state.svc.resolve_session(token).await {
            Ok(SessionState::SignedIn(who)) => Some(who),
            // Past the password, not yet the code: the session may only finish signing in.
            Ok(SessionState::Pending(p)) => {
                pending = Some(p);
                None
            }
            Err(ServiceError::SessionExpired) => {
                ended = true;
                None
            }
            Err(e) if is_api => return ApiError::from(e).into_response(),
            Err(e) => return PageError::from(e).into_response(),
        }
    } else {
        None
    };

    let mut request = request;
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        if cross_site(request.headers()) {
            return refuse(StatusCode::FORBIDDEN, "cross_site", "Cross-site request refused.");
        }
        // Requests carried by a browser session must prove they come from our own page.
        let expected = identity
            .as_ref()
            .and_then(|w| w.csrf_token.clone())
            .or_else(|| pending.as_ref().map(|p| p.csrf_token.clone()));
        if let Some(expected) = expected {
            let (presented, rebuilt) = match csrf_from_request(request).await {
                Ok(pair) => pair,
                Err(response) => return response,
            };
            request = rebuilt;
            let valid = presented
                .is_some_and(|p| passage_crypto::constant_time_eq(p.as_bytes(), expected.as_bytes()));
            if !valid {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "Missing or invalid CSRF token: reload the page and try again.",
                );
            }
        }
    }

    if let Some(who) = identity {
        request.extensions_mut().insert(who);
    }
    if let Some(p) = pending {
        request.extensions_mut().insert(p);
    }
    if ended {
        request.extensions_mut().insert(SessionEnded);
    }
    let mut response = next.run(request).await;
    if ended && let Ok(v) = HeaderValue::from_str(&clear_cookie(secure)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The CSRF token from the header (htmx, API clients) or the form body (plain forms); the
/// body is buffered and put back for the handler.
async fn csrf_from_request(request: Request) -> Result<(Option<String>, Request), Response> {
    if let Some(v) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return Ok((Some(v.to_owned()), request));
    }
    // A file upload form cannot be read here without buffering the file: its token comes in
    // the action URL's query instead (never logged: logs carry route templates only).
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if is_multipart {
        let token = request.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned())
        });
        return Ok((token, request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
        PageError::Refused(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.".to_owned()).into_response()
    })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// A signed-in person on a page; without a session the browser is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct WebUser(pub Authenticated);

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Authenticated>() {
            Some(who) if who.session_hash.is_some() => Ok(Self(who.clone())),
            _ if parts.extensions.get::<PendingSignIn>().is_some() => {
                Err(Redirect::to(SECOND_FACTOR_PATH).into_response())
            }
            _ if parts.extensions.get::<SessionEnded>().is_some() => {
                Err(Redirect::to("/login?expired=1").into_response())
            }
            _ => Err(Redirect::to("/login").into_response()),
        }
    }
}

pub const SECOND_FACTOR_PATH: &str = "/login/second-factor";

/// A browser past its password whose sign-in waits for the second factor.
#[derive(Debug, Clone)]
pub struct PendingUser(pub PendingSignIn);

impl FromRequestParts<AppState> for PendingUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<PendingSignIn>() {
            Some(p) => Ok(Self(p.clone())),
            None if parts.extensions.get::<Authenticated>().is_some() => {
                Err(Redirect::to("/").into_response())
            }
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// An API caller: a token, or a browser session (then with the CSRF check above).
#[derive(Debug, Clone)]
pub struct ApiUser(pub Authenticated);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Authenticated>()
            .cloned()
            .map(Self)
            .ok_or_else(|| {
                ApiError::Refused(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Sign in, or send an API token as `Authorization: Bearer psg_…`.".to_owned(),
                )
            })
    }
}

/// The audit context of this request: channel and request id.
#[derive(Debug, Clone)]
pub struct RequestCtx(pub Ctx);

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let channel = if parts.uri.path().starts_with("/api/") {
            Channel::Api
        } else {
            Channel::Web
        };
        let request_id = parts
            .headers
            .get(&crate::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self(Ctx { channel, request_id }))
    }
}

/// The client's address, for sign-in throttling. Behind a trusted proxy, the first
/// `X-Forwarded-For` entry.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .options
            .trust_proxy
            .then(|| parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned());
        let direct = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(forwarded.or(direct).unwrap_or_else(|| "unknown".to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; passage_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, "passage_session"), Some("tok"));
        assert_eq!(cookie_value(&h, "__Host-passage_session"), None);
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(cross_site(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(
            cross_site(&h),
            "an opaque origin without Sec-Fetch-Site is refused"
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(
            !cross_site(&h),
            "Chromium's same-origin form post with Origin: null"
        );
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        assert!(
            session_cookie(true, "t")
                .starts_with("__Host-passage_session=t; Path=/; HttpOnly; SameSite=Lax; Secure")
        );
        assert!(!session_cookie(false, "t").contains("Secure"));
    }
}
