//! Reports: the GCM voluntary review (with the narrative of each objective, editable by the
//! mission's M&E officers) and programme reports, each as an HTML page, a PDF and an XLSX
//! workbook built from one document.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::indicators::{FilterParams, query_string};
use crate::pages::{Chrome, render_with};
use crate::transfer::attachment;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use passage_domain::{Permission, Scope};
use passage_service::report::{Block, Report};
use passage_service::{Authenticated, GCM_REVIEW, IndicatorFilter, ServiceError};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reports", get(index))
        .route("/reports/gcm-review", get(gcm_review))
        .route("/reports/gcm-review/narratives", post(save_narrative))
        .route("/reports/programmes/{code}", get(programme))
        .route("/reports/unsdcf", get(unsdcf))
}

#[derive(Debug, Deserialize, Default)]
struct ReportParams {
    #[serde(default)]
    year: Option<String>,
    #[serde(default)]
    county: Option<String>,
    /// `html` (default), `pdf` or `xlsx`.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

impl ReportParams {
    fn filter(&self) -> Result<IndicatorFilter, ServiceError> {
        FilterParams::new(self.year.clone(), self.county.clone(), None).filter()
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct IndexPage {
    c: Chrome,
    year: i32,
    years: Vec<i32>,
    county: String,
    counties: Vec<(String, String)>,
    programmes: Vec<(String, String)>,
    query: String,
    pdf: bool,
}

impl IndexPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn index(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    if !who.actor.has_anywhere(Permission::ReportsView) {
        return Err(ServiceError::Denied(passage_domain::Denied::Forbidden).into());
    }
    let filter = p.filter()?;
    let this_year = state.svc.today().year();
    let year = filter.year.unwrap_or(this_year);
    let catalogue = state.svc.indicator_catalogue().await?;
    let county = filter.county.clone().unwrap_or_default();
    render_with(
        StatusCode::OK,
        &IndexPage {
            c: Chrome::of(&who),
            year,
            years: (this_year - 5..=this_year).rev().collect(),
            counties: state
                .svc
                .counties()
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect(),
            programmes: catalogue.programmes.clone(),
            query: query_string(year, Some(&county)),
            county,
            pdf: cfg!(feature = "pdf"),
        },
    )
}

/// A block as the HTML page shows it.
struct HtmlBlock {
    kind: &'static str,
    level: u8,
    text: String,
    anchor: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The narrative form of a GCM objective (for those who may write it).
    narrative: Option<String>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    title: String,
    subtitle: String,
    blocks: Vec<HtmlBlock>,
    query: String,
    action: String,
    year: i32,
    notice: Option<String>,
    pdf: bool,
}

impl ReportPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

fn may_write(who: &Authenticated) -> bool {
    who.actor
        .authorize(Permission::IndicatorsManage, Scope::Installation)
        .is_ok()
}

/// The report in the format asked for: an HTML page, or a download (audited).
async fn deliver(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    report: Report,
    p: &ReportParams,
    action: &str,
    narratives: Option<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let year = p.filter()?.year.unwrap_or_else(|| state.svc.today().year());
    match p.format.as_deref().unwrap_or("html") {
        "html" => {
            let blocks = report
                .blocks
                .iter()
                .map(|b| {
                    let mut h = HtmlBlock {
                        kind: "",
                        level: 0,
                        text: String::new(),
                        anchor: String::new(),
                        header: Vec::new(),
                        rows: Vec::new(),
                        narrative: None,
                    };
                    match b {
                        Block::Heading { level, text, anchor } => {
                            h.kind = "heading";
                            h.level = *level;
                            h.text = text.clone();
                            h.anchor = anchor.clone();
                            h.narrative = narratives.as_ref().filter(|_| *level == 2).map(|n| {
                                n.iter()
                                    .find(|(s, _)| s == anchor)
                                    .map(|(_, body)| body.clone())
                                    .unwrap_or_default()
                            });
                        }
                        Block::Paragraph(t) => (h.kind, h.text) = ("paragraph", t.clone()),
                        Block::Note(t) => (h.kind, h.text) = ("note", t.clone()),
                        Block::Table(t) => {
                            h.kind = "table";
                            h.header = t.header.clone();
                            h.rows = t.rows.clone();
                        }
                    }
                    h
                })
                .collect();
            let county = p.county.clone().unwrap_or_default();
            render_with(
                StatusCode::OK,
                &ReportPage {
                    c: Chrome::of(who),
                    title: report.title,
                    subtitle: report.subtitle,
                    blocks,
                    query: query_string(year, Some(&county)),
                    action: action.to_owned(),
                    year,
                    notice: p.saved.as_ref().map(|_| "The narrative was saved.".to_owned()),
                    pdf: cfg!(feature = "pdf"),
                },
            )
        }
        "xlsx" => {
            let bytes =
                passage_service::report::xlsx(&report).map_err(|e| ServiceError::Internal(e.to_string()))?;
            state
                .svc
                .report_downloaded(&who.actor, ctx, &report, "xlsx")
                .await?;
            Ok(attachment((
                format!("{}.xlsx", report.file_stem),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                bytes,
            )))
        }
        "pdf" => pdf(state, ctx, who, &report).await,
        other => Err(ServiceError::from(passage_domain::InvalidValue::new(
            "format",
            format!("'{other}' is not one of html, pdf, xlsx"),
        ))
        .into()),
    }
}

async fn pdf(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    report: &Report,
) -> Result<Response, PageError> {
    let response = pdf_file(state, report).await?;
    if response.status().is_success() {
        state
            .svc
            .report_downloaded(&who.actor, ctx, report, "pdf")
            .await?;
    }
    Ok(response)
}

/// A report as a PDF download (typeset off the request threads).
#[cfg(feature = "pdf")]
pub(crate) async fn pdf_file(state: &AppState, report: &Report) -> Result<Response, ServiceError> {
    let markup = passage_service::report::typst(report);
    let today = state.svc.today();
    let bytes = tokio::task::spawn_blocking(move || passage_pdf::render(&markup, today))
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(attachment((
        format!("{}.pdf", report.file_stem),
        "application/pdf",
        bytes,
    )))
}

#[cfg(not(feature = "pdf"))]
pub(crate) async fn pdf_file(_state: &AppState, _report: &Report) -> Result<Response, ServiceError> {
    Ok((
        StatusCode::NOT_IMPLEMENTED,
        "This Passage was built without its PDF engine. Download the report as XLSX or HTML, or build \
         Passage with `--features pdf`.",
    )
        .into_response())
}

async fn gcm_review(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    reports_allowed(&who)?;
    let filter = p.filter()?;
    let report = state.svc.gcm_review(&who.actor, &filter).await?;
    let narratives = if may_write(&who) {
        let year = filter.year.unwrap_or_else(|| state.svc.today().year());
        Some(state.svc.narratives(GCM_REVIEW, year).await?)
    } else {
        None
    };
    deliver(&state, &ctx, &who, report, &p, "/reports/gcm-review", narratives).await
}

async fn programme(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    reports_allowed(&who)?;
    let report = state
        .svc
        .programme_report(&who.actor, &p.filter()?, &code)
        .await?;
    let action = format!("/reports/programmes/{code}");
    deliver(&state, &ctx, &who, report, &p, &action, None).await
}

async fn unsdcf(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    reports_allowed(&who)?;
    let report = state.svc.unsdcf_report(&who.actor, &p.filter()?).await?;
    deliver(&state, &ctx, &who, report, &p, "/reports/unsdcf", None).await
}

fn reports_allowed(who: &Authenticated) -> Result<(), PageError> {
    if who.actor.has_anywhere(Permission::ReportsView) {
        Ok(())
    } else {
        Err(ServiceError::Denied(passage_domain::Denied::Forbidden).into())
    }
}

#[derive(Deserialize)]
struct NarrativeForm {
    section: String,
    year: i32,
    #[serde(default)]
    body: String,
    #[serde(default)]
    county: String,
}

async fn save_narrative(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Form(f): Form<NarrativeForm>,
) -> Result<Response, PageError> {
    state
        .svc
        .set_narrative(&who.actor, &ctx, GCM_REVIEW, &f.section, f.year, &f.body)
        .await?;
    let anchor: String = form_urlencoded::byte_serialize(f.section.as_bytes()).collect();
    Ok(Redirect::to(&format!(
        "/reports/gcm-review?{}&saved=1#{anchor}",
        query_string(f.year, Some(&f.county))
    ))
    .into_response())
}
