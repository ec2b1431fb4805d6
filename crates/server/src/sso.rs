//! Single sign-on pages: the button's target sends the browser to the identity provider; the
//! provider sends it back to the callback, where the code becomes a session (and, unless the
//! provider already used a second factor, the second-factor step follows as after a password).

use crate::AppState;
use crate::auth::{ClientAddr, RequestCtx, session_cookie};
use crate::error::PageError;
use crate::pages::{LoginPage, render_with};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use passage_service::{FactorState, ServiceError, SsoSignIn};
use passage_sso::SsoError;
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login/sso", get(start))
        .route("/login/sso/callback", get(callback))
}

/// The sign-in page again, saying what went wrong.
fn refused(state: &AppState, status: StatusCode, message: String) -> Result<Response, PageError> {
    render_with(status, &LoginPage::with_message(state, message))
}

fn sso_refusal(state: &AppState, e: &SsoError) -> Result<Response, PageError> {
    // The provider's or network's details go to the log for the administrator (they hold no
    // personal values: codes and tokens are never in these messages).
    tracing::warn!(error = %e, "single sign-on failed");
    let status = match e {
        SsoError::UnknownState | SsoError::Provider(_) => StatusCode::BAD_REQUEST,
        SsoError::Rejected(_) => StatusCode::UNAUTHORIZED,
        SsoError::Unreachable(_) | SsoError::Protocol(_) => StatusCode::BAD_GATEWAY,
        SsoError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        SsoError::UnknownState => "This sign-in has expired or was already used. Start again.".to_owned(),
        SsoError::Provider(_) => "The sign-in provider did not complete the sign-in. Start again.".to_owned(),
        _ => "Single sign-on is not working at the moment; sign in with your Passage password, or tell an administrator.".to_owned(),
    };
    refused(state, status, message)
}

async fn start(State(state): State<AppState>) -> Result<Response, PageError> {
    let Some(sso) = state.options.sso.clone() else {
        return Err(PageError::Service(ServiceError::NotFound));
    };
    match sso.authorization_url().await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => sso_refusal(&state, &e),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<Callback>,
) -> Result<Response, PageError> {
    let Some(sso) = state.options.sso.clone() else {
        return Err(PageError::Service(ServiceError::NotFound));
    };
    let identity = match (q.error, q.state, q.code) {
        (Some(error), _, _) => return sso_refusal(&state, &SsoError::Provider(error)),
        (None, Some(st), Some(code)) => match sso.finish(&st, &code).await {
            Ok(identity) => identity,
            Err(e) => return sso_refusal(&state, &e),
        },
        _ => return sso_refusal(&state, &SsoError::UnknownState),
    };
    let who = SsoSignIn {
        issuer: identity.issuer,
        subject: identity.subject,
        email: identity.email,
        multi_factor: identity.multi_factor,
    };
    match state.svc.sso_sign_in(&ctx, &who, &addr).await {
        Ok(session) => {
            let next = match session.second_factor {
                FactorState::Done => "/",
                _ => crate::auth::SECOND_FACTOR_PATH,
            };
            let mut response = Redirect::to(next).into_response();
            if let Ok(v) = HeaderValue::from_str(&session_cookie(state.options.secure, &session.token)) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(response)
        }
        Err(e @ (ServiceError::NoAccountForSso | ServiceError::Throttled { .. })) => {
            let (status, _, message) = crate::error::classify(&e);
            refused(&state, status, message)
        }
        Err(e) => Err(e.into()),
    }
}
