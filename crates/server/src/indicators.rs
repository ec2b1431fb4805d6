//! The indicator dashboard: headline figures with their trend, each indicator's breakdowns
//! as charts with their data tables, CSV downloads, and the (permitted) records behind a
//! figure; the same figures in the JSON API.

use crate::AppState;
use crate::api::ErrorBody;
use crate::auth::{ApiUser, RequestCtx, WebUser};
use crate::error::{ApiError, PageError};
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use passage_charts::Series;
use passage_domain::{InvalidValue, Permission};
use passage_service::indicator::Indicator;
use passage_service::shown;
use passage_service::{
    Dashboard, ExportFormat, IndicatorFigures, IndicatorFilter, ManualEntry, RecordRef, ServiceError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/indicators", get(dashboard))
        .route("/indicators/{code}", get(detail))
        .route("/indicators/{code}/data.csv", get(csv_download))
        .route("/indicators/{code}/export", get(export_download))
        .route("/indicators/{code}/records", get(records))
        .route(
            "/indicators/{code}/values",
            axum::routing::post(enter_value).layer(DefaultBodyLimit::max(
                passage_service::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        )
        .route("/indicators/{code}/evidence/{year}", get(evidence_download))
}

pub fn api_routes() -> Router<AppState> {
    Router::new().route("/indicators", get(api_indicators))
}

/// Dashboard filters, as query parameters (codes only: nothing personal in URLs).
#[derive(Debug, Deserialize, Default, IntoParams)]
pub struct FilterParams {
    /// The year shown (default: this year); trends cover the four years before it too.
    #[serde(default)]
    year: Option<String>,
    /// A county code (`LR-MO`); empty for all counties.
    #[serde(default)]
    county: Option<String>,
    /// A programme code (`avrr`, `ct`, `rr`, `border`, `capacity`); empty for all.
    #[serde(default)]
    programme: Option<String>,
    /// Set after a manual value was saved (shows a notice).
    #[serde(default)]
    #[param(ignore)]
    saved: Option<String>,
}

impl FilterParams {
    pub(crate) fn new(year: Option<String>, county: Option<String>, programme: Option<String>) -> Self {
        Self {
            year,
            county,
            programme,
            saved: None,
        }
    }

    pub(crate) fn filter(&self) -> Result<IndicatorFilter, ServiceError> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let year = match text(&self.year) {
            None => None,
            Some(y) => Some(
                y.parse::<i32>()
                    .ok()
                    .filter(|y| (2000..=2100).contains(y))
                    .ok_or_else(|| {
                        passage_domain::InvalidValue::new("year", "is not a year between 2000 and 2100")
                    })?,
            ),
        };
        Ok(IndicatorFilter {
            year,
            county: text(&self.county),
            programme: text(&self.programme),
        })
    }
}

/// The filter's year and county as a query string (codes only: nothing personal in URLs).
pub(crate) fn query_string(year: i32, county: Option<&str>) -> String {
    let mut q = format!("year={year}");
    if let Some(c) = county.map(str::trim).filter(|c| !c.is_empty()) {
        q.push_str("&county=");
        q.extend(form_urlencoded::byte_serialize(c.as_bytes()));
    }
    q
}

struct Card {
    code: String,
    title: String,
    unit: String,
    value: String,
    target: Option<String>,
    manual: bool,
    trend_svg: String,
    trend: Vec<(i32, String)>,
}

struct ProgrammeCards {
    name: String,
    cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "indicators.html")]
struct DashboardPage {
    c: Chrome,
    year: i32,
    years: Vec<i32>,
    county: String,
    counties: Vec<(String, String)>,
    programme: String,
    programmes: Vec<(String, String)>,
    sections: Vec<ProgrammeCards>,
    query: String,
    exact: bool,
    threshold: u64,
    as_of: String,
    /// Indicators the current forms cannot give, with the reason.
    unavailable: Vec<String>,
}

impl DashboardPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

/// Each year's total, oldest first, with whether it is hidden.
fn trend(f: &IndicatorFigures, year: i32) -> Vec<(i32, Option<f64>, bool)> {
    (year - 4..=year)
        .map(|y| match f.total(y) {
            Some((cell, hidden)) => (y, cell.value, hidden),
            None => (y, None, false),
        })
        .collect()
}

fn trend_chart(f: &IndicatorFigures, year: i32, size: (u32, u32)) -> Result<String, ServiceError> {
    let points = trend(f, year);
    let x: Vec<String> = points.iter().map(|(y, ..)| y.to_string()).collect();
    let mut series = vec![Series {
        name: "Actual".into(),
        values: points
            .iter()
            .map(|(_, v, hidden)| if *hidden { None } else { *v })
            .collect(),
    }];
    let targets: Vec<Option<f64>> = points
        .iter()
        .map(|(y, ..)| f.indicator.targets.get(y).copied())
        .collect();
    if targets.iter().any(Option::is_some) {
        series.push(Series {
            name: "Target".into(),
            values: targets,
        });
    }
    let title = format!(
        "{}: {} per year, {}–{}",
        f.indicator.code,
        f.indicator.title,
        year - 4,
        year
    );
    passage_charts::line(&title, &f.indicator.unit, &x, &series, size)
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

fn target_text(i: &Indicator, year: i32, threshold: u64) -> Option<String> {
    let t = i.targets.get(&year)?;
    Some(format!(
        "Target {year}: {}",
        shown(Some(*t), false, &i.unit, threshold)
    ))
}

async fn dashboard(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Query(p): Query<FilterParams>,
) -> Result<Response, PageError> {
    let filter = p.filter()?;
    let d = state.svc.dashboard(&who.actor, &filter).await?;
    let mut sections: Vec<ProgrammeCards> = Vec::new();
    let programme_name = |code: Option<&str>| {
        d.catalogue
            .programmes
            .iter()
            .find(|(c, _)| Some(c.as_str()) == code)
            .map_or_else(|| "Across programmes".to_owned(), |(_, n)| n.clone())
    };
    for f in &d.figures {
        let name = programme_name(f.indicator.programme.as_deref());
        let manual = f.indicator.computation.is_none();
        let (value, hidden) = f.total(d.year).map_or((None, false), |(c, h)| (c.value, h));
        let card = Card {
            code: f.indicator.code.clone(),
            title: f.indicator.title.clone(),
            unit: f.indicator.unit.clone(),
            value: if manual && value.is_none() {
                "not entered yet".into()
            } else {
                shown(value, hidden, &f.indicator.unit, d.threshold)
            },
            target: target_text(&f.indicator, d.year, d.threshold),
            manual,
            trend_svg: trend_chart(f, d.year, (300, 120))?,
            trend: trend(f, d.year)
                .into_iter()
                .map(|(y, v, h)| (y, shown(v, h, &f.indicator.unit, d.threshold)))
                .collect(),
        };
        match sections.iter_mut().find(|s| s.name == name) {
            Some(s) => s.cards.push(card),
            None => sections.push(ProgrammeCards {
                name,
                cards: vec![card],
            }),
        }
    }
    let this_year = state.svc.today().year();
    render_with(
        StatusCode::OK,
        &DashboardPage {
            c: Chrome::of(&who),
            year: d.year,
            years: (this_year - 5..=this_year).rev().collect(),
            county: filter.county.clone().unwrap_or_default(),
            counties: state
                .svc
                .counties()
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect(),
            programme: filter.programme.clone().unwrap_or_default(),
            programmes: d.catalogue.programmes.clone(),
            sections,
            query: query_string(d.year, filter.county.as_deref()),
            exact: d.exact,
            threshold: d.threshold,
            as_of: d.as_of.display_minutes(),
            unavailable: d.catalogue.unavailable.iter().map(ToString::to_string).collect(),
        },
    )
}

struct Row {
    label: String,
    value: String,
    records: String,
    /// Link to the records behind the figure (query string), when there are any to list.
    drill: Option<String>,
}

/// Categories drawn in a breakdown's chart.
const MAX_BARS: usize = 12;

struct Breakdown {
    index: usize,
    label: String,
    svg: String,
    rows: Vec<Row>,
    /// Categories left out of the chart (all are in the table).
    undrawn: usize,
}

/// The first breakdown over the years: the stacked chart's data table.
struct Stacked {
    label: String,
    svg: String,
    years: Vec<i32>,
    /// Category, then its figure per year.
    rows: Vec<(String, Vec<String>)>,
}

struct Link {
    id: String,
    title: String,
}

#[derive(Template)]
#[template(path = "indicator.html")]
struct DetailPage {
    c: Chrome,
    code: String,
    title: String,
    description: Option<String>,
    unit: String,
    measure: String,
    source: String,
    filter: Option<String>,
    verification: Option<String>,
    baseline: Option<String>,
    targets: Vec<(i32, String)>,
    gcm: Vec<Link>,
    sdg: Vec<Link>,
    year: i32,
    county: String,
    total: String,
    trend_svg: String,
    trend: Vec<(i32, String)>,
    stacked: Option<Stacked>,
    breakdowns: Vec<Breakdown>,
    notes: Vec<String>,
    query: String,
    exact: bool,
    threshold: u64,
    manual: bool,
    values: Vec<ValueRow>,
    can_enter: bool,
    notice: Option<String>,
}

/// A manual indicator's value as the page lists it.
struct ValueRow {
    year: i32,
    value: String,
    source: String,
    evidence: String,
    /// The attached evidence file's name.
    file: Option<String>,
    entered: String,
}

impl DetailPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

fn chart_error(e: passage_charts::ChartError) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

async fn detail(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    Query(p): Query<FilterParams>,
) -> Result<Response, PageError> {
    let filter = IndicatorFilter {
        programme: None,
        ..p.filter()?
    };
    let d: Dashboard = state.svc.dashboard(&who.actor, &filter).await?;
    let f = d
        .figures
        .iter()
        .find(|f| f.indicator.code == code)
        .ok_or(ServiceError::NotFound)?;
    let i = &f.indicator;
    let query = query_string(d.year, filter.county.as_deref());
    let show = |v: Option<f64>, h: bool| shown(v, h, &i.unit, d.threshold);
    let mut breakdowns = Vec::new();
    let mut stacked = None;
    if let Some(c) = &i.computation {
        for (index, _) in c.disaggregate.iter().enumerate() {
            let label = d.catalogue.dimension_label(i, index);
            let mut cells = f.breakdown(d.year, index);
            cells.sort_by_key(|c| std::cmp::Reverse(c.0.n));
            let rows: Vec<Row> = cells
                .iter()
                .map(|(cell, hidden)| Row {
                    label: d.catalogue.category_label(i, index, &cell.category),
                    value: show(cell.value, *hidden),
                    records: if *hidden {
                        format!("<{}", d.threshold)
                    } else {
                        cell.n.to_string()
                    },
                    drill: (!*hidden && cell.n > 0).then(|| {
                        let category: String =
                            form_urlencoded::byte_serialize(cell.category.as_bytes()).collect();
                        format!("{query}&dimension={index}&category={category}")
                    }),
                })
                .collect();
            // The largest categories are drawn; the table lists every one.
            let bars: Vec<(String, Option<f64>)> = cells
                .iter()
                .take(MAX_BARS)
                .map(|(cell, hidden)| {
                    (
                        d.catalogue.category_label(i, index, &cell.category),
                        if *hidden { None } else { cell.value },
                    )
                })
                .collect();
            let shown_bars = if cells.len() > MAX_BARS {
                format!(" ({MAX_BARS} largest)")
            } else {
                String::new()
            };
            let title = format!("{} {} by {}{shown_bars}", i.title, d.year, label.to_lowercase());
            let svg = passage_charts::bars(&title, &i.unit, &bars).map_err(chart_error)?;
            let undrawn = cells.len().saturating_sub(MAX_BARS);
            breakdowns.push(Breakdown {
                index,
                label,
                svg,
                rows,
                undrawn,
            });
        }
        // The first breakdown over the years, stacked, for counts (shares and medians do
        // not add up).
        if !c.disaggregate.is_empty()
            && matches!(
                c.measure,
                passage_service::indicator::Measure::Count
                    | passage_service::indicator::Measure::DistinctPersons
            )
        {
            let years: Vec<i32> = (d.year - 4..=d.year).collect();
            let mut categories: Vec<String> = Vec::new();
            for y in &years {
                for (cell, _) in f.breakdown(*y, 0) {
                    if !categories.contains(&cell.category) {
                        categories.push(cell.category.clone());
                    }
                }
            }
            let figure = |cat: &str, y: i32| {
                f.breakdown(y, 0)
                    .into_iter()
                    .find(|(c, _)| c.category == cat)
                    .map(|(c, hidden)| (c.value, hidden))
            };
            let series: Vec<Series> = categories
                .iter()
                .map(|cat| Series {
                    name: d.catalogue.category_label(i, 0, cat),
                    values: years
                        .iter()
                        .map(|y| figure(cat, *y).and_then(|(v, hidden)| if hidden { None } else { v }))
                        .collect(),
                })
                .collect();
            let rows = categories
                .iter()
                .map(|cat| {
                    let per_year = years
                        .iter()
                        .map(|y| figure(cat, *y).map_or_else(|| "0".to_owned(), |(v, h)| show(v, h)))
                        .collect();
                    (d.catalogue.category_label(i, 0, cat), per_year)
                })
                .collect();
            let labels: Vec<String> = years.iter().map(i32::to_string).collect();
            let label = d.catalogue.dimension_label(i, 0);
            let title = format!("{} by {} and year", i.title, label.to_lowercase());
            let svg = passage_charts::stacked(&title, &i.unit, &labels, &series).map_err(chart_error)?;
            stacked = Some(Stacked {
                label,
                svg,
                years,
                rows,
            });
        }
    }
    let values = if i.computation.is_none() {
        state
            .svc
            .manual_values(&who.actor, &code)
            .await?
            .into_iter()
            .map(|v| ValueRow {
                year: v.year,
                value: show(Some(v.value), false),
                entered: passage_domain::Timestamp::from_micros(v.entered_at).display_minutes(),
                source: v.source,
                evidence: v.evidence,
                file: v.evidence_name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let gcm = passage_service::indicator::reference::gcm();
    let sdg = passage_service::indicator::reference::sdg();
    let (total_value, total_hidden) = f.total(d.year).map_or((None, false), |(c, h)| (c.value, h));
    let page = DetailPage {
        c: Chrome::of(&who),
        code: i.code.clone(),
        title: i.title.clone(),
        description: i.description.clone(),
        unit: i.unit.clone(),
        measure: i.computation.as_ref().map_or_else(
            || "entered by hand, with evidence".into(),
            |c| c.measure.describe(),
        ),
        source: i
            .computation
            .as_ref()
            .map_or_else(String::new, |c| c.source.to_string()),
        filter: i.computation.as_ref().and_then(|c| c.filter_text.clone()),
        verification: i.verification.clone(),
        baseline: i.baseline.as_ref().map(|b| {
            let source = b.source.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            format!("{} in {}{source}", show(Some(b.value), false), b.year)
        }),
        targets: i
            .targets
            .iter()
            .map(|(y, v)| (*y, show(Some(*v), false)))
            .collect(),
        gcm: i
            .links
            .gcm
            .iter()
            .map(|id| Link {
                id: id.clone(),
                title: gcm.title(id).unwrap_or_default().to_owned(),
            })
            .collect(),
        sdg: i
            .links
            .sdg
            .iter()
            .map(|code| Link {
                id: code.clone(),
                title: sdg
                    .indicator(code)
                    .map(|x| x.title.clone())
                    .or_else(|| sdg.target(code).map(|t| t.title.clone()))
                    .unwrap_or_default(),
            })
            .collect(),
        year: d.year,
        county: filter.county.clone().unwrap_or_default(),
        total: show(total_value, total_hidden),
        trend_svg: trend_chart(f, d.year, (560, 260))?,
        trend: trend(f, d.year)
            .into_iter()
            .map(|(y, v, h)| (y, show(v, h)))
            .collect(),
        stacked,
        breakdowns,
        notes: f.outcome.notes.clone(),
        query,
        exact: d.exact,
        threshold: d.threshold,
        manual: i.computation.is_none(),
        values,
        can_enter: i.computation.is_none()
            && who
                .actor
                .authorize(Permission::IndicatorsManage, passage_domain::Scope::Installation)
                .is_ok(),
        notice: p.saved.as_ref().map(|_| "The value was saved.".to_owned()),
    };
    render_with(StatusCode::OK, &page)
}

async fn csv_download(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    Query(p): Query<FilterParams>,
) -> Result<Response, PageError> {
    let filter = p.filter()?;
    let file = state
        .svc
        .indicator_export(&who.actor, &ctx, &code, &filter, ExportFormat::Csv)
        .await?;
    Ok(crate::transfer::attachment(file))
}

#[derive(Debug, Deserialize)]
struct ExportParams {
    #[serde(default)]
    year: Option<String>,
    #[serde(default)]
    county: Option<String>,
    #[serde(default)]
    format: String,
}

/// Open SDG, SDMX-CSV or HXL download of one indicator.
async fn export_download(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    Query(p): Query<ExportParams>,
) -> Result<Response, PageError> {
    let format = ExportFormat::parse(&p.format).ok_or_else(|| {
        ServiceError::from(passage_domain::InvalidValue::new(
            "format",
            "is not one of csv, open-sdg, open-sdg-meta, sdmx, sdmx-ml, hxl",
        ))
    })?;
    let filter = FilterParams::new(p.year, p.county, None).filter()?;
    Ok(crate::transfer::attachment(
        state
            .svc
            .indicator_export(&who.actor, &ctx, &code, &filter, format)
            .await?,
    ))
}

/// The filters plus which category of which disaggregation (none: the year's total). Not
/// a flattened `FilterParams`: flattening loses non-text query values.
#[derive(Debug, Deserialize)]
struct RecordParams {
    #[serde(default)]
    year: Option<String>,
    #[serde(default)]
    county: Option<String>,
    #[serde(default)]
    dimension: Option<String>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Template)]
#[template(path = "indicator_records.html")]
struct RecordsPage {
    c: Chrome,
    code: String,
    title: String,
    year: i32,
    what: String,
    records: Vec<RecordRef>,
    query: String,
}

impl RecordsPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn records(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    Query(p): Query<RecordParams>,
) -> Result<Response, PageError> {
    let filter = FilterParams::new(p.year, p.county, None).filter()?;
    let year = filter.year.unwrap_or_else(|| state.svc.today().year());
    let dimension = match p.dimension.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(d.parse::<usize>().map_err(|_| {
            ServiceError::from(passage_domain::InvalidValue::new(
                "dimension",
                "is not a disaggregation number",
            ))
        })?),
    };
    let catalogue = state.svc.indicator_catalogue().await?;
    let indicator = catalogue.get(&code).ok_or(ServiceError::NotFound)?.clone();
    let category = dimension.map(|d| (d, p.category.as_deref().unwrap_or("")));
    let what = match category {
        Some((d, cat)) => format!(
            "{}: {}",
            catalogue.dimension_label(&indicator, d),
            catalogue.category_label(&indicator, d, cat)
        ),
        None => "All".into(),
    };
    let records = state
        .svc
        .records_behind(&who.actor, &ctx, &code, &filter, year, category)
        .await?;
    render_with(
        StatusCode::OK,
        &RecordsPage {
            c: Chrome::of(&who),
            code,
            title: indicator.title.clone(),
            year,
            what,
            records,
            query: query_string(year, filter.county.as_deref()),
        },
    )
}

/// The manual value form: multipart, for its optional evidence file.
async fn enter_value(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(code): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let unreadable = || {
        ServiceError::from(InvalidValue::new(
            "evidence_file",
            "is larger than 10 MiB or was cut off",
        ))
    };
    let mut entry = ManualEntry::default();
    let mut year = String::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| unreadable())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|_| unreadable())?;
            if !bytes.is_empty() {
                entry.file = Some((file_name, bytes.to_vec()));
            }
            continue;
        }
        let text = field.text().await.map_err(|_| unreadable())?;
        match name.as_str() {
            "year" => year = text,
            "value" => entry.value = text,
            "source" => entry.source = text,
            "evidence" => entry.evidence = text,
            _ => {}
        }
    }
    entry.year = year
        .trim()
        .parse()
        .map_err(|_| ServiceError::from(InvalidValue::new("year", "is not a year")))?;
    state
        .svc
        .set_manual_value(&who.actor, &ctx, &code, &entry)
        .await?;
    Ok(
        axum::response::Redirect::to(&format!("/indicators/{code}?year={}&saved=1", entry.year))
            .into_response(),
    )
}

/// A manual value's evidence file, named by indicator and year (the stored name is shown on
/// the page only).
async fn evidence_download(
    State(state): State<AppState>,
    WebUser(who): WebUser,
    Path((code, year)): Path<(String, i32)>,
) -> Result<Response, PageError> {
    let file = state.svc.manual_evidence(&who.actor, &code, year).await?;
    let extension = passage_service::document_extension(&file.content_type);
    let slug: String = code
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, file.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"evidence-{slug}-{year}.{extension}\""),
            ),
        ],
        file.bytes,
    )
        .into_response())
}

// ----- API ---------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct FigureOut {
    year: i32,
    /// The disaggregation (field name); absent for the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    disaggregation: Option<String>,
    /// The category code; empty for records without an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    /// `null` when not applicable or suppressed.
    value: Option<f64>,
    /// Records (or persons) behind the figure; `null` when suppressed.
    records: Option<u64>,
    suppressed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct IndicatorOut {
    code: String,
    title: String,
    programme: Option<String>,
    unit: String,
    /// `computed` or `manual`.
    kind: &'static str,
    gcm: Vec<String>,
    sdg: Vec<String>,
    figures: Vec<FigureOut>,
    notes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IndicatorsOut {
    year: i32,
    /// Whether small counts are exact (the caller's role allows it) or suppressed.
    exact: bool,
    suppression_threshold: u64,
    indicators: Vec<IndicatorOut>,
}

#[utoipa::path(get, path = "/indicators", tag = "indicators",
    summary = "Every indicator's figures (total and disaggregations) for the year and the four before it; cells under the suppression threshold are null unless the caller may see exact values",
    params(FilterParams),
    responses((status = 200, body = IndicatorsOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn api_indicators(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(p): Query<FilterParams>,
) -> Result<Json<IndicatorsOut>, ApiError> {
    let d = state.svc.dashboard(&who.actor, &p.filter()?).await?;
    let indicators = d
        .figures
        .iter()
        .map(|f| {
            let dims = f
                .indicator
                .computation
                .as_ref()
                .map(|c| c.disaggregate.clone())
                .unwrap_or_default();
            IndicatorOut {
                code: f.indicator.code.clone(),
                title: f.indicator.title.clone(),
                programme: f.indicator.programme.clone(),
                unit: f.indicator.unit.clone(),
                kind: if f.indicator.computation.is_some() {
                    "computed"
                } else {
                    "manual"
                },
                gcm: f.indicator.links.gcm.clone(),
                sdg: f.indicator.links.sdg.clone(),
                figures: f
                    .outcome
                    .cells
                    .iter()
                    .zip(&f.hidden)
                    .map(|(c, hidden)| FigureOut {
                        year: c.year,
                        disaggregation: c.dimension.and_then(|d| dims.get(d).cloned()),
                        category: c.dimension.map(|_| c.category.clone()),
                        value: if *hidden { None } else { c.value },
                        records: (!*hidden).then_some(c.n),
                        suppressed: *hidden,
                    })
                    .collect(),
                notes: f.outcome.notes.clone(),
            }
        })
        .collect();
    Ok(Json(IndicatorsOut {
        year: d.year,
        exact: d.exact,
        suppression_threshold: d.threshold,
        indicators,
    }))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_indicators),
    components(schemas(IndicatorsOut, IndicatorOut, FigureOut))
)]
pub struct IndicatorsDoc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_expect() {
        assert_eq!(shown(Some(1234567.0), false, "persons", 5), "1,234,567");
        assert_eq!(shown(Some(62.456), false, "percent", 5), "62.5 %");
        assert_eq!(shown(Some(3.0), true, "persons", 5), "<5");
        assert_eq!(shown(None, false, "days", 5), "n/a");
        assert_eq!(shown(Some(2.25), false, "points", 5), "2.2");
    }
}
