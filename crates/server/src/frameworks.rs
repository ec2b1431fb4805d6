//! The Frameworks pages: the UN Cooperation Framework's results matrix and the national
//! plan's pillars, read by everyone who reads indicators and edited by the mission's M&E
//! officers.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_domain::{Permission, Scope};
use passage_service::{FrameworkNode, NodeInput, ServiceError};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/frameworks/{framework}", get(page))
        .route("/frameworks/{framework}/nodes", post(save))
        .route("/frameworks/{framework}/nodes/{id}/delete", post(delete))
}

fn levels(framework: &str) -> Result<&'static [(&'static str, &'static str)], ServiceError> {
    passage_service::framework_levels(framework).ok_or(ServiceError::NotFound)
}

struct Row {
    node: FrameworkNode,
    level: &'static str,
    depth: usize,
    indicators: Vec<String>,
}

#[derive(Template)]
#[template(path = "frameworks.html")]
struct FrameworkPage {
    c: Chrome,
    framework: String,
    name: &'static str,
    rows: Vec<Row>,
    /// (id, "code title") of nodes something can go under.
    parents: Vec<(String, String)>,
    can_edit: bool,
    editing: Option<FrameworkNode>,
    notice: Option<String>,
}

impl FrameworkPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

#[derive(Deserialize, Default)]
struct PageParams {
    #[serde(default)]
    edit: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Path(framework): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Response, PageError> {
    let levels = levels(&framework)?;
    let nodes = state.svc.framework_nodes(&who.actor, &framework).await?;
    let depth_of = |n: &FrameworkNode| levels.iter().position(|(l, _)| *l == n.level).unwrap_or(0);
    let rows = nodes
        .iter()
        .map(|n| Row {
            level: levels.get(depth_of(n)).map_or("", |(_, label)| label),
            depth: depth_of(n),
            indicators: n
                .indicators
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            node: n.clone(),
        })
        .collect();
    let parents = nodes
        .iter()
        .filter(|n| depth_of(n) + 1 < levels.len())
        .map(|n| (n.id.to_string(), format!("{} {}", n.code, n.title)))
        .collect();
    let editing = p
        .edit
        .as_deref()
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .and_then(|id| nodes.iter().find(|n| n.id == id).cloned());
    render_with(
        StatusCode::OK,
        &FrameworkPage {
            c: Chrome::of(&who),
            name: if framework == "unsdcf" {
                "UN Sustainable Development Cooperation Framework: results matrix"
            } else {
                "National development plan: pillars"
            },
            framework,
            rows,
            parents,
            can_edit: who
                .actor
                .authorize(Permission::IndicatorsManage, Scope::Installation)
                .is_ok(),
            editing,
            notice: p.saved.map(|_| "Saved.".to_owned()),
        },
    )
}

#[derive(Deserialize)]
struct NodeForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    parent: String,
    code: String,
    title: String,
    #[serde(default)]
    lead_agencies: String,
    #[serde(default)]
    sdg_targets: String,
    #[serde(default)]
    gender_marker: String,
    #[serde(default)]
    human_rights_marker: String,
    #[serde(default)]
    indicators: String,
}

fn optional_id(field: &'static str, raw: &str) -> Result<Option<uuid::Uuid>, ServiceError> {
    match raw.trim() {
        "" => Ok(None),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| passage_domain::InvalidValue::new(field, "is not a node").into()),
    }
}

async fn save(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(framework): Path<String>,
    Form(f): Form<NodeForm>,
) -> Result<Response, PageError> {
    let input = NodeInput {
        id: optional_id("id", &f.id)?,
        parent: optional_id("parent", &f.parent)?,
        code: f.code,
        title: f.title,
        lead_agencies: f.lead_agencies,
        sdg_targets: f.sdg_targets,
        gender_marker: f.gender_marker,
        human_rights_marker: f.human_rights_marker,
        indicators: f.indicators,
    };
    state
        .svc
        .save_framework_node(&who.actor, &ctx, &framework, &input)
        .await?;
    Ok(Redirect::to(&format!("/frameworks/{framework}?saved=1")).into_response())
}

async fn delete(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path((framework, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = id.parse().map_err(|_| ServiceError::NotFound)?;
    state
        .svc
        .delete_framework_node(&who.actor, &ctx, &framework, id)
        .await?;
    Ok(Redirect::to(&format!("/frameworks/{framework}?saved=1")).into_response())
}
