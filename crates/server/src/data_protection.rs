//! The data protection focal point's page: break-glass accesses to need-to-know cases, with
//! who, when, until when and why, each marked reviewed once looked at.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_service::BreakGlass;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/data-protection", get(page))
        .route("/data-protection/break-glass/{id}/reviewed", post(reviewed))
}

#[derive(Template)]
#[template(path = "data_protection.html")]
struct DataProtectionPage {
    c: Chrome,
    grants: Vec<BreakGlass>,
}

impl DataProtectionPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn page(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    let grants = state.svc.break_glass_grants(&who.actor, &ctx).await?;
    render_with(
        StatusCode::OK,
        &DataProtectionPage {
            c: Chrome::of(&who),
            grants,
        },
    )
}

async fn reviewed(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(passage_service::ServiceError::NotFound))?;
    match state.svc.review_break_glass(&who.actor, &ctx, id).await {
        // Reviewed by someone else meanwhile: the page shows it so.
        Ok(()) | Err(passage_service::ServiceError::Conflict(_)) => {
            Ok(Redirect::to("/data-protection").into_response())
        }
        Err(e) => Err(e.into()),
    }
}
