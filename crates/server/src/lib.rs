//! The Passage web server: server-rendered pages (askama + vendored htmx), the JSON API under
//! `/api/v1` with its OpenAPI document, health and readiness probes, and Prometheus metrics.
//! Handlers parse and render; every decision is made by `passage-service`.

mod activity;
mod api;
mod api_casework;
mod assets;
mod auth;
mod cases;
mod collection;
mod data_protection;
mod duplicates;
mod error;
mod forms;
mod frameworks;
mod indicators;
mod metrics;
mod openrosa;
mod pages;
mod register;
mod reports;
mod screening;
mod second_factor;
mod security;
mod sso;
mod transfer;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use passage_service::Passage;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use api::openapi_document;

/// How the server presents itself.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Served over HTTPS (directly or by a proxy): cookies get `Secure` and the `__Host-`
    /// prefix, and HSTS is sent.
    pub secure: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// Single sign-on through the organisation's OpenID provider, when configured.
    pub sso: Option<Arc<passage_sso::SsoClient>>,
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) svc: Passage,
    pub(crate) options: ServerOptions,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) handoff: Arc<collection::Handoff>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as one router.
pub fn router(svc: Passage, options: ServerOptions) -> Router {
    let state = AppState {
        svc,
        options,
        metrics: Arc::new(metrics::Metrics::new()),
        handoff: Arc::default(),
    };
    Router::new()
        .merge(pages::routes())
        .merge(forms::routes())
        .merge(register::routes())
        .merge(cases::routes())
        .merge(transfer::routes())
        .merge(activity::routes())
        .merge(screening::routes())
        .merge(duplicates::routes())
        .merge(indicators::routes())
        .merge(reports::routes())
        .merge(frameworks::routes())
        .merge(openrosa::routes())
        .merge(collection::routes())
        .merge(data_protection::routes())
        .merge(second_factor::routes())
        .merge(sso::routes())
        .nest("/api/v1", api::routes())
        .merge(assets::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(pages::readyz))
        .route("/metrics", axum::routing::get(metrics::export))
        .layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            // Log the route template, never the URL: queries and paths may carry search terms.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([
            axum::http::header::AUTHORIZATION,
            axum::http::header::COOKIE,
        ]))
        .with_state(state)
}

/// Serve until `shutdown` completes, then finish in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
