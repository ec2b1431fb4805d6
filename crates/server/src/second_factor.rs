//! Second-factor pages: finishing a sign-in with an authenticator code, setting one up (at
//! sign-in when the role requires it, or from the account page), and an administrator's
//! reset after a lost phone.

use crate::AppState;
use crate::auth::{ClientAddr, PendingUser, RequestCtx, WebUser};
use crate::collection::qr_svg;
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use passage_service::{Enrolment, FactorState, ServiceError, User};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(crate::auth::SECOND_FACTOR_PATH, get(challenge).post(answer))
        .route("/account/second-factor", get(enrol_page).post(enrol))
        .route("/users/{username}/second-factor/reset", post(reset))
}

/// The QR code and typed secret of a secret being set up.
struct Setup {
    secret: String,
    qr: String,
}

fn setup(e: Enrolment) -> Result<Setup, ServiceError> {
    Ok(Setup {
        qr: qr_svg(&e.otpauth_uri)?,
        secret: e.secret,
    })
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct ChallengePage {
    /// Absent while signing in (the page has no menu then).
    c: Option<Chrome>,
    csrf: String,
    action: &'static str,
    username: String,
    setup: Option<Setup>,
    error: Option<String>,
    required: bool,
}

impl ChallengePage {
    pub fn chrome(&self) -> Option<&Chrome> {
        self.c.as_ref()
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn setup_for(state: &AppState, user: &User, enrolling: bool) -> Result<Option<Setup>, PageError> {
    if !enrolling {
        return Ok(None);
    }
    Ok(Some(setup(state.svc.start_enrolment(user).await?)?))
}

async fn challenge_page(
    state: &AppState,
    p: &passage_service::PendingSignIn,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let enrolling = p.state == FactorState::Enrol;
    render_with(
        status,
        &ChallengePage {
            c: None,
            csrf: p.csrf_token.clone(),
            action: crate::auth::SECOND_FACTOR_PATH,
            username: p.user.username.to_string(),
            setup: setup_for(state, &p.user, enrolling).await?,
            error,
            required: enrolling,
        },
    )
}

async fn challenge(
    State(state): State<AppState>,
    PendingUser(p): PendingUser,
) -> Result<Response, PageError> {
    challenge_page(&state, &p, StatusCode::OK, None).await
}

async fn answer(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ClientAddr(addr): ClientAddr,
    PendingUser(p): PendingUser,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    match state.svc.complete_sign_in(&ctx, &p, &form.code, &addr).await {
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Throttled { .. })) => {
            let (status, _, message) = crate::error::classify(&e);
            let mut response = challenge_page(&state, &p, status, Some(message)).await?;
            if let ServiceError::Throttled { retry_after_secs } = e
                && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

async fn enrol_page_with(
    state: &AppState,
    who: &passage_service::Authenticated,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let c = Chrome::of(who);
    render_with(
        status,
        &ChallengePage {
            csrf: c.csrf.clone(),
            c: Some(c),
            action: "/account/second-factor",
            username: who.user.username.to_string(),
            setup: setup_for(state, &who.user, true).await?,
            error,
            required: false,
        },
    )
}

async fn enrol_page(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    match enrol_page_with(&state, &who, StatusCode::OK, None).await {
        // Already set up: the account page says so.
        Err(PageError::Service(ServiceError::Conflict(_))) => Ok(Redirect::to("/account").into_response()),
        other => other,
    }
}

async fn enrol(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    match state.svc.confirm_enrolment(&ctx, &who, &form.code).await {
        Ok(()) => Ok(Redirect::to("/account").into_response()),
        Err(e @ ServiceError::Invalid(_)) => {
            let (status, _, message) = crate::error::classify(&e);
            enrol_page_with(&state, &who, status, Some(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn reset(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(username): Path<String>,
) -> Result<Response, PageError> {
    state.svc.reset_second_factor(&who.actor, &ctx, &username).await?;
    Ok(Redirect::to("/users").into_response())
}
