//! Server-rendered pages. Each handler asks the service, then renders a template; forms post
//! back and redirect (Post/Redirect/Get), so every action works without JavaScript.

use crate::AppState;
use crate::auth::{ClientAddr, RequestCtx, WebUser, clear_cookie, session_cookie};
use crate::error::PageError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use passage_domain::audit::ChainedEvent;
use passage_domain::{AuditAction, OrgId, Permission, Scope, Timestamp, TokenId, TokenScope};
use passage_service::{
    ApiToken, AuditQuery, Authenticated, County, CrossingPoint, HomeSummary, Member, NewUser, Organisation,
    RoleInfo, ServiceError,
};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/logout-everywhere", post(logout_everywhere))
        .route("/account/password", post(change_password))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/organisations", get(organisations).post(create_organisation))
        .route("/organisations/{id}", get(organisation))
        .route("/organisations/{id}/users", post(create_user))
        .route("/organisations/{id}/members", post(add_member))
        .route("/organisations/{id}/members/{user}/remove", post(remove_member))
        .route("/users", get(users))
        .route("/places", get(places))
        .route("/audit", get(audit))
        .route("/audit/verify", post(verify_audit))
}

fn render(t: &impl Template) -> Result<Response, PageError> {
    render_with(StatusCode::OK, t)
}

pub(crate) fn render_with(status: StatusCode, t: &impl Template) -> Result<Response, PageError> {
    t.render()
        .map(|html| (status, Html(html)).into_response())
        .map_err(|e| PageError::Service(ServiceError::Internal(format!("template: {e}"))))
}

/// What the page frame needs: who is signed in, the CSRF token, which menu entries to show.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub display_name: String,
    pub csrf: String,
    pub show_orgs: bool,
    pub show_users: bool,
    pub show_audit: bool,
    pub show_screening: bool,
    pub show_duplicates: bool,
    pub show_indicators: bool,
    pub show_reports: bool,
    pub show_collection: bool,
    pub show_collection_keys: bool,
    pub show_data_protection: bool,
}

/// The first organisation where the user holds `permission`: the one a single-organisation
/// page works on.
pub(crate) fn first_org_with(
    who: &Authenticated,
    permission: Permission,
) -> Result<passage_domain::OrgId, crate::error::PageError> {
    who.actor
        .grants()
        .iter()
        .find(|g| g.permissions.contains(&permission))
        .map(|g| g.org)
        .ok_or(crate::error::PageError::Service(
            passage_service::ServiceError::Denied(passage_domain::Denied::Forbidden),
        ))
}

impl Chrome {
    pub(crate) fn of(who: &Authenticated) -> Self {
        Self {
            display_name: who.user.display_name.to_string(),
            csrf: who.csrf_token.clone().unwrap_or_default(),
            show_orgs: who.actor.has_anywhere(Permission::OrgView),
            show_users: who.actor.has_anywhere(Permission::MembersManage)
                || who.actor.has_anywhere(Permission::InstallationManage),
            show_audit: who.actor.has_anywhere(Permission::AuditView),
            show_screening: who.actor.has_anywhere(Permission::CrossingsView)
                || who.actor.has_anywhere(Permission::WatchlistsManage),
            show_duplicates: who.actor.has_anywhere(Permission::CasesEdit),
            show_indicators: who.actor.has_anywhere(Permission::IndicatorsView),
            show_reports: who.actor.has_anywhere(Permission::ReportsView),
            show_collection: who.actor.has_anywhere(Permission::DevicesManage),
            show_collection_keys: who.actor.has_anywhere(Permission::DataProtectionOversee),
            show_data_protection: who.actor.has_anywhere(Permission::DataProtectionOversee),
        }
    }
}

macro_rules! with_chrome {
    ($($t:ty),+) => {$(
        impl $t {
            pub fn chrome(&self) -> Option<&Chrome> {
                Some(&self.c)
            }
        }
    )+};
}

macro_rules! without_chrome {
    ($($t:ty),+) => {$(
        impl $t {
            pub fn chrome(&self) -> Option<&Chrome> {
                None
            }
        }
    )+};
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    message: Option<String>,
    username: String,
    expired: bool,
    changed: bool,
    /// "Sign in with …", when single sign-on is configured.
    sso_label: Option<String>,
}

impl LoginPage {
    pub(crate) fn with_message(state: &AppState, message: String) -> Self {
        Self {
            message: Some(message),
            username: String::new(),
            expired: false,
            changed: false,
            sso_label: sso_label(state),
        }
    }
}

fn sso_label(state: &AppState) -> Option<String> {
    state.options.sso.as_ref().map(|s| s.label().to_owned())
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    summary: HomeSummary,
    /// Break-glass accesses waiting for the focal point's review.
    glass_to_review: i64,
}

#[derive(Template)]
#[template(path = "organisations.html")]
struct OrganisationsPage {
    c: Chrome,
    orgs: Vec<Organisation>,
    can_create: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "organisation.html")]
struct OrganisationPage {
    c: Chrome,
    me: passage_domain::UserId,
    org: Organisation,
    members: Vec<Member>,
    roles: Vec<RoleInfo>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    c: Chrome,
    me: String,
    rows: Vec<(Member, String)>,
}

#[derive(Template)]
#[template(path = "places.html")]
struct PlacesPage {
    c: Chrome,
    counties: Vec<County>,
    points: Vec<CrossingPoint>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    username: String,
    sessions: i64,
    factor: passage_service::FactorStatus,
    tokens: Vec<ApiToken>,
    new_token: Option<String>,
    error: Option<String>,
}

/// One audit row as shown: identifiers resolved to names of organisations and staff only.
struct EventView {
    seq: i64,
    at: String,
    action: String,
    outcome: String,
    actor: String,
    org: String,
    target: String,
    channel: String,
    personal_read: bool,
    /// Break-glass access to a need-to-know case: shown so that it stands out.
    break_glass: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    events: Vec<EventView>,
    org_choices: Vec<(String, String)>,
    all_orgs: bool,
    selected_org: String,
    actions: Vec<String>,
    action: String,
    from: String,
    to: String,
    next_link: Option<String>,
    can_verify: bool,
    verify: Option<(String, bool)>,
}

#[derive(Template)]
#[template(path = "api_docs.html")]
pub struct ApiDocsPage {
    pub operations: Vec<(String, String, String)>,
}

impl OrganisationPage {
    fn role_label<'a>(&'a self, role: &'a passage_domain::Role) -> &'a str {
        self.roles
            .iter()
            .find(|r| &r.role == role)
            .map(|r| r.label.as_str())
            .unwrap_or(role.as_str())
    }
}

with_chrome!(
    HomePage,
    OrganisationsPage,
    OrganisationPage,
    UsersPage,
    PlacesPage,
    AccountPage,
    AuditPage
);
without_chrome!(ErrorPage, LoginPage, ApiDocsPage);

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.svc.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    expired: Option<String>,
    changed: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    who: Option<axum::Extension<Authenticated>>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    if who.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    render(&LoginPage {
        message: None,
        username: String::new(),
        expired: q.expired.is_some(),
        changed: q.changed.is_some(),
        sso_label: sso_label(&state),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    ClientAddr(addr): ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    match state.svc.login(&ctx, &form.username, &form.password, &addr).await {
        Ok(session) => {
            let cookie = session_cookie(state.options.secure, &session.token);
            let next = match session.second_factor {
                passage_service::FactorState::Done => "/",
                _ => crate::auth::SECOND_FACTOR_PATH,
            };
            let mut response = Redirect::to(next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(response)
        }
        Err(
            e @ (ServiceError::BadCredentials | ServiceError::Throttled { .. } | ServiceError::Invalid(_)),
        ) => {
            let (status, _, message) = crate::error::classify(&e);
            let mut response = render_with(
                status,
                &LoginPage {
                    message: Some(message),
                    username: form.username.trim().to_owned(),
                    expired: false,
                    changed: false,
                    sso_label: sso_label(&state),
                },
            )?;
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

async fn logout(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    state.svc.logout(&ctx, &who).await?;
    Ok(signed_out(state.options.secure))
}

fn signed_out(secure: bool) -> Response {
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(secure)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn logout_everywhere(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    state.svc.logout_everywhere(&ctx, who.user.id).await?;
    Ok(signed_out(state.options.secure))
}

async fn home(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    let summary = state.svc.home(&who.actor).await?;
    let glass_to_review = state.svc.break_glass_to_review(&who.actor).await?;
    render(&HomePage {
        c: Chrome::of(&who),
        summary,
        glass_to_review,
    })
}

async fn organisations_page(
    state: &AppState,
    who: &Authenticated,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, PageError> {
    let orgs = state.svc.organisations(&who.actor).await?;
    let can_create = who
        .actor
        .authorize(Permission::InstallationManage, Scope::Installation)
        .is_ok();
    render_with(
        status,
        &OrganisationsPage {
            c: Chrome::of(who),
            orgs,
            can_create,
            error,
        },
    )
}

async fn organisations(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    organisations_page(&state, &who, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct NewOrgForm {
    name: String,
    kind: String,
}

async fn create_organisation(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(form): Form<NewOrgForm>,
) -> Result<Response, PageError> {
    match state
        .svc
        .create_org(&who.actor, &ctx, &form.name, &form.kind, false)
        .await
    {
        Ok(org) => Ok(Redirect::to(&format!("/organisations/{}?notice=org_created", org.id)).into_response()),
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            organisations_page(&state, &who, status, Some(message)).await
        }
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "org_created" => Some("Organisation created."),
        "user_created" => Some("Account created. Give the person their initial password in person."),
        "member_added" => Some("Member added."),
        "member_removed" => Some("Member removed."),
        _ => None,
    }
}

async fn organisation_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    id: OrgId,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let org = state.svc.organisation(&who.actor, id).await?;
    let members = state.svc.members(&who.actor, ctx, id).await?;
    let roles = state.svc.roles().to_vec();
    let can_manage = who
        .actor
        .authorize(Permission::MembersManage, Scope::Org(id))
        .is_ok();
    render_with(
        status,
        &OrganisationPage {
            c: Chrome::of(who),
            me: who.user.id,
            org,
            members,
            roles,
            can_manage,
            notice,
            error,
        },
    )
}

/// Path ids that do not parse are simply "not found".
fn org_id(raw: &str) -> Result<OrgId, PageError> {
    raw.parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))
}

async fn organisation(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let notice = q.notice.as_deref().and_then(notice_text);
    organisation_page(&state, &ctx, &who, org_id(&id)?, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
struct NewUserForm {
    username: String,
    display_name: String,
    email: Option<String>,
    password: String,
    role: String,
}

async fn create_user(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let org = org_id(&id)?;
    let new = NewUser {
        username: form.username,
        display_name: form.display_name,
        email: form.email,
        password: form.password,
        org,
        role: form.role,
    };
    let result = state.svc.create_user(&who.actor, &ctx, &new).await.map(|_| ());
    after_member_change(&state, &ctx, &who, org, result, "user_created").await
}

/// Redirect with a notice on success; show the page again with the reason on a form error.
async fn after_member_change(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    org: OrgId,
    result: Result<(), ServiceError>,
    notice: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/organisations/{org}?notice={notice}")).into_response()),
        Err(ServiceError::NotFound)
            if who
                .actor
                .authorize(Permission::MembersManage, Scope::Org(org))
                .is_ok() =>
        {
            organisation_page(
                state,
                ctx,
                who,
                org,
                StatusCode::NOT_FOUND,
                None,
                Some("No user has that username.".into()),
            )
            .await
        }
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            organisation_page(state, ctx, who, org, status, None, Some(message)).await
        }
    }
}

#[derive(Deserialize)]
struct AddMemberForm {
    username: String,
    role: String,
}

async fn add_member(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    Form(form): Form<AddMemberForm>,
) -> Result<Response, PageError> {
    let org = org_id(&id)?;
    let result = state
        .svc
        .add_member(&who.actor, &ctx, &form.username, org, &form.role)
        .await
        .map(|_| ());
    after_member_change(&state, &ctx, &who, org, result, "member_added").await
}

async fn remove_member(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path((id, user)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let org = org_id(&id)?;
    let user = user
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    let result = state.svc.remove_member(&who.actor, &ctx, user, org).await;
    after_member_change(&state, &ctx, &who, org, result, "member_removed").await
}

async fn users(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    let members = state.svc.users(&who.actor, &ctx).await?;
    let orgs = state.svc.organisations(&who.actor).await?;
    let rows = members
        .into_iter()
        .map(|m| {
            let name = orgs
                .iter()
                .find(|o| o.id == m.org)
                .map(|o| o.name.to_string())
                .unwrap_or_default();
            (m, name)
        })
        .collect();
    render(&UsersPage {
        c: Chrome::of(&who),
        me: who.user.username.to_string(),
        rows,
    })
}

async fn places(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    let counties = state.svc.counties().to_vec();
    let points = state.svc.crossing_points().to_vec();
    render(&PlacesPage {
        c: Chrome::of(&who),
        counties,
        points,
    })
}

async fn account_page(
    state: &AppState,
    who: &Authenticated,
    status: StatusCode,
    new_token: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let sessions = state.svc.active_sessions(who.user.id).await?;
    let tokens = state.svc.tokens(who).await?;
    let factor = state.svc.factor_status(who.user.id).await?;
    render_with(
        status,
        &AccountPage {
            c: Chrome::of(who),
            username: who.user.username.to_string(),
            sessions,
            factor,
            tokens,
            new_token,
            error,
        },
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

async fn change_password(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    match state
        .svc
        .change_own_password(&ctx, &who, &form.current, &form.new)
        .await
    {
        Ok(()) => {
            let mut response = signed_out(state.options.secure);
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/login?changed=1"));
            Ok(response)
        }
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            account_page(&state, &who, status, None, Some(message)).await
        }
    }
}

async fn account(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    account_page(&state, &who, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct NewTokenForm {
    name: String,
    scope: String,
    valid_days: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(form): Form<NewTokenForm>,
) -> Result<Response, PageError> {
    let scope = TokenScope::parse(&form.scope);
    let days = form
        .valid_days
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse::<i64>());
    let (Some(scope), None | Some(Ok(_))) = (scope, &days) else {
        let message = "Choose a scope and a number of days between 1 and 366.".to_owned();
        return account_page(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(message),
        )
        .await;
    };
    let days = days.and_then(Result::ok);
    match state.svc.create_token(&ctx, &who, &form.name, scope, days).await {
        // Shown once, on this response only (no-store), never in a URL.
        Ok((_, secret)) => account_page(&state, &who, StatusCode::CREATED, Some(secret), None).await,
        Err(e) => {
            let (status, message) = crate::error::correctable(e)?;
            account_page(&state, &who, status, None, Some(message)).await
        }
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: TokenId = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    state.svc.revoke_token(&ctx, &who, id).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Deserialize, Default)]
struct AuditParams {
    org: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
}

fn parse_day(raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(raw, format).ok()?;
    Some(Timestamp::from_datetime(date.midnight().assume_utc()))
}

async fn audit(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<AuditParams>,
) -> Result<Response, PageError> {
    audit_page(&state, &ctx, &who, p, None).await
}

async fn audit_page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    p: AuditParams,
    verify: Option<(String, bool)>,
) -> Result<Response, PageError> {
    let org = match p.org.as_deref().filter(|o| !o.is_empty()) {
        Some(raw) => Some(org_id(raw)?),
        None => None,
    };
    let query = AuditQuery {
        org,
        action_prefix: p.action.clone().filter(|a| !a.is_empty()),
        actor: None,
        since: parse_day(p.from.as_deref()),
        until: parse_day(p.to.as_deref()).map(|t| t.plus_seconds(86_400)),
        before_seq: p.before,
        limit: 50,
    };
    let page = state.svc.audit_events(&who.actor, ctx, &query).await?;
    let orgs = state.svc.auditable_organisations(&who.actor).await?;
    let reach = who.actor.orgs_with(Permission::AuditView);
    let org_choices: Vec<(String, String)> = orgs
        .iter()
        .map(|o| (o.id.to_string(), o.name.to_string()))
        .collect();
    // Names of staff the reader may already see; other actors are shown by id.
    let names: BTreeMap<String, String> = state
        .svc
        .users(&who.actor, ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.user.id.to_string(), m.user.username.to_string()))
        .collect();
    let org_names: BTreeMap<String, String> = orgs
        .iter()
        .map(|o| (o.id.to_string(), o.name.to_string()))
        .collect();
    let events = page
        .events
        .iter()
        .map(|e| view_event(e, &names, &org_names))
        .collect();
    let next_link = page.next_before.map(|before| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("org", &p.org),
            ("action", &p.action),
            ("from", &p.from),
            ("to", &p.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("before", &before.to_string());
        format!("/audit?{}", q.finish())
    });
    let mut actions: Vec<String> = AuditAction::ALL.iter().map(|a| a.as_str().to_owned()).collect();
    actions.sort_unstable();
    render(&AuditPage {
        c: Chrome::of(who),
        events,
        org_choices,
        all_orgs: reach.is_none(),
        selected_org: org.map(|o| o.to_string()).unwrap_or_default(),
        actions,
        action: p.action.unwrap_or_default(),
        from: p.from.unwrap_or_default(),
        to: p.to.unwrap_or_default(),
        next_link,
        can_verify: who
            .actor
            .authorize(Permission::AuditView, Scope::Installation)
            .is_ok(),
        verify,
    })
}

fn view_event(
    e: &ChainedEvent,
    names: &BTreeMap<String, String>,
    orgs: &BTreeMap<String, String>,
) -> EventView {
    let id_or = |map: &BTreeMap<String, String>, id: Option<String>, none: &str| match id {
        Some(id) => map.get(&id).cloned().unwrap_or(id),
        None => none.to_owned(),
    };
    EventView {
        seq: e.seq,
        at: e.at.display_minutes(),
        action: e.action.clone(),
        outcome: e.outcome.clone(),
        actor: id_or(
            names,
            e.actor.map(|a| a.to_string()),
            if e.channel == "cli" { "operator" } else { "—" },
        ),
        org: id_or(orgs, e.org.map(|o| o.to_string()), "—"),
        target: match (&e.target_type, &e.target_id) {
            (Some(kind), Some(id)) => format!("{kind} {}", names.get(id).or(orgs.get(id)).unwrap_or(id)),
            _ => String::new(),
        },
        channel: e.channel.clone(),
        personal_read: AuditAction::parse(&e.action).is_some_and(AuditAction::reads_personal_data),
        break_glass: e.action == AuditAction::BreakGlass.as_str(),
    }
}

async fn verify_audit(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
) -> Result<Response, PageError> {
    let report = state.svc.verify_audit_chain(&who.actor).await?;
    let verdict = match &report.first_break {
        None => (
            format!("The audit chain is intact: {} events verified.", report.checked),
            true,
        ),
        Some(b) => (
            format!("The audit chain is broken at event {}: {}.", b.seq, b.reason),
            false,
        ),
    };
    audit_page(&state, &ctx, &who, AuditParams::default(), Some(verdict)).await
}
