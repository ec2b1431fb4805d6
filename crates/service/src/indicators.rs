//! Indicators for the dashboard, reports and exports: the catalogue checked against the
//! programmes' forms, fact tables loaded from the database, and figures computed per viewer
//! scope. Facts and figures are cached; the facts are brought up to date after any write of
//! this process (and at most [`FACTS_CHECK_INTERVAL`] after another process's writes), reading
//! only the cases that changed (see `indicator_facts`).

use crate::authorize;
use crate::error::ServiceError;
use crate::indicator_facts::{FactChanges, Facts};
use crate::{Ctx, Passage};
use passage_domain::{Actor, AuditAction, InvalidValue, OrgId, Permission};
use passage_indicators::{
    Cell, FieldSpec, Indicator, Kind, Outcome, Schema, Scope, SourceKind, SourceRef, Sources, Table, builtin,
};
use passage_xlsform::{FieldKind, Form, Sensitivity};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Facts are checked for other processes' changes at most this often (for several
/// `passage serve` processes on one PostgreSQL database); this process's writes are seen at once.
pub const FACTS_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// Facts are loaded in full again after this long, which also drops retired rows.
const FULL_RELOAD_AGE: Duration = Duration::from_secs(12 * 3600);
/// ...or once this share of their rows is retired.
const MAX_RETIRED_SHARE: f64 = 0.25;
/// More changed cases than this are read by a full load rather than case by case.
const MAX_CHANGED_CASES: usize = 200_000;
/// A load that took longer than this is redone in the background next time, while the
/// previous figures answer.
const SYNC_RELOAD_LIMIT: Duration = Duration::from_secs(2);

/// The checked indicator definitions and the sources they were checked against.
#[derive(Debug)]
pub struct Catalogue {
    pub indicators: Vec<Arc<Indicator>>,
    pub sources: Sources,
    /// Programme code → name, in the programmes' order.
    pub programmes: Vec<(String, String)>,
    /// Shipped indicators the current forms cannot give (a form version dropped or changed a
    /// field they use), each with the precise reason; the others are computed as usual.
    pub unavailable: Vec<passage_indicators::DefinitionError>,
}

impl Catalogue {
    pub fn get(&self, code: &str) -> Option<&Arc<Indicator>> {
        self.indicators.iter().find(|i| i.code == code)
    }

    /// How a disaggregation is called, and how one of its categories reads.
    pub fn dimension_label(&self, indicator: &Indicator, dimension: usize) -> String {
        self.field_spec(indicator, dimension)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| {
                indicator
                    .computation
                    .as_ref()
                    .and_then(|c| c.disaggregate.get(dimension).cloned())
                    .unwrap_or_default()
            })
    }

    pub fn category_label(&self, indicator: &Indicator, dimension: usize, code: &str) -> String {
        if code.is_empty() || code == "_U" {
            return "Unknown".into();
        }
        self.field_spec(indicator, dimension)
            .and_then(|s| s.choice_label(code))
            .map_or_else(|| code.to_owned(), str::to_owned)
    }

    fn field_spec(&self, indicator: &Indicator, dimension: usize) -> Option<&FieldSpec> {
        let c = indicator.computation.as_ref()?;
        self.sources.get(&c.source)?.field(c.disaggregate.get(dimension)?)
    }
}

#[derive(Debug, Default)]
pub(crate) struct IndicatorCache {
    catalogue: Option<Arc<Catalogue>>,
    facts: Option<LoadedFacts>,
    /// A background reload is under way.
    refreshing: bool,
    /// Counts loads, so that figures computed from replaced facts are not kept.
    loads: u64,
    /// Figures per viewer scope, with the load they were computed from.
    figures: HashMap<ScopeKey, (u64, Arc<Vec<Outcome>>)>,
}

#[derive(Debug)]
struct LoadedFacts {
    /// The write generation of this process when the facts were last brought up to date.
    generation: u64,
    /// When they were last brought up to date (or loaded).
    checked: Instant,
    /// When the full load began.
    loaded: Instant,
    /// How long the full load took.
    took: Duration,
    load: u64,
    facts: Arc<Facts>,
}

type ScopeKey = (Option<(i32, i32)>, Option<String>, Option<Vec<String>>);

/// A manual indicator's value for a year, as entered.
#[derive(Debug, Clone, Default)]
pub struct ManualEntry {
    pub year: i32,
    pub value: String,
    pub source: String,
    /// A document reference or link.
    pub evidence: String,
    /// An attached evidence file: its name and content.
    pub file: Option<(String, Vec<u8>)>,
}

/// What a viewer asked the dashboard for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorFilter {
    pub year: Option<i32>,
    pub county: Option<String>,
    pub programme: Option<String>,
}

/// One indicator's figures as this viewer may see them.
#[derive(Debug, Clone)]
pub struct IndicatorFigures {
    pub indicator: Arc<Indicator>,
    pub outcome: Outcome,
    /// Parallel to `outcome.cells`: hidden because too few records stand behind it.
    pub hidden: Vec<bool>,
}

impl IndicatorFigures {
    /// The total of `year`, unless hidden.
    pub fn total(&self, year: i32) -> Option<(&Cell, bool)> {
        let i = self
            .outcome
            .cells
            .iter()
            .position(|c| c.year == year && c.dimension.is_none())?;
        Some((&self.outcome.cells[i], self.hidden[i]))
    }
    /// The categories of one disaggregation in `year`, with whether each is hidden.
    pub fn breakdown(&self, year: i32, dimension: usize) -> Vec<(&Cell, bool)> {
        self.outcome
            .cells
            .iter()
            .zip(&self.hidden)
            .filter(|(c, _)| c.year == year && c.dimension == Some(dimension))
            .map(|(c, h)| (c, *h))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub catalogue: Arc<Catalogue>,
    pub figures: Vec<IndicatorFigures>,
    pub year: i32,
    /// Whether small counts are shown exactly (the viewer's role allows it).
    pub exact: bool,
    pub threshold: u64,
    /// The figures include every record saved before this moment.
    pub as_of: passage_domain::Timestamp,
}

/// A record behind a figure that the viewer may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub case_id: uuid::Uuid,
    pub number: String,
    pub programme: String,
}

impl Passage {
    /// The indicator catalogue, checked against the current forms.
    pub async fn indicator_catalogue(&self) -> Result<Arc<Catalogue>, ServiceError> {
        if let Some(c) = self.indicators.lock().await.catalogue.clone() {
            return Ok(c);
        }
        let mut sources = Sources::new();
        let mut programmes = Vec::new();
        for p in self.programmes().await? {
            programmes.push((p.programme.code.clone(), p.programme.name.clone()));
            let Ok((_, form)) = self.current_form(&p.programme.code).await else {
                continue;
            };
            sources.extend(form_sources(&p.programme.code, &form, self));
        }
        let (indicators, unavailable) =
            passage_indicators::load_each("indicators/passage.toml", passage_indicators::SHIPPED, &sources)?;
        for e in &unavailable {
            tracing::warn!(error = %e, "an indicator cannot be computed from the current forms");
        }
        let catalogue = Arc::new(Catalogue {
            indicators: indicators.into_iter().map(Arc::new).collect(),
            sources,
            programmes,
            unavailable,
        });
        let mut cache = self.indicators.lock().await;
        cache.catalogue = Some(catalogue.clone());
        cache.facts = None;
        cache.figures.clear();
        Ok(catalogue)
    }

    /// Check a changed copy of the definitions against this installation's forms before it
    /// replaces the shipped file; returns how many indicators it defines (computed, manual).
    pub async fn check_indicator_definitions(
        &self,
        file: &str,
        text: &str,
    ) -> Result<(usize, usize), ServiceError> {
        let catalogue = self.indicator_catalogue().await?;
        let indicators = passage_indicators::load(file, text, &catalogue.sources)?;
        let computed = indicators.iter().filter(|i| i.computation.is_some()).count();
        Ok((computed, indicators.len() - computed))
    }

    /// Forget the catalogue (a form changed): it is checked again on next use.
    pub(crate) async fn forget_indicator_catalogue(&self) {
        *self.indicators.lock().await = IndicatorCache::default();
    }

    /// The dashboard's figures for `filter`: every indicator (of the programme, if one is
    /// chosen), over the organisations whose indicators the viewer may see.
    pub async fn dashboard(
        &self,
        actor: &Actor,
        filter: &IndicatorFilter,
    ) -> Result<Dashboard, ServiceError> {
        if !actor.has_anywhere(Permission::IndicatorsView) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let catalogue = self.indicator_catalogue().await?;
        let year = filter.year.unwrap_or_else(|| self.today().year());
        let scope = Scope {
            years: Some((year - 4, year)),
            county: filter.county.clone(),
            orgs: org_scope(actor, Permission::IndicatorsView),
        };
        let (as_of, outcomes) = self.figures(&catalogue, &scope).await?;
        let exact = actor.has_anywhere(Permission::IndicatorsExact);
        let threshold = passage_indicators::DEFAULT_SUPPRESSION_THRESHOLD;
        let figures = catalogue
            .indicators
            .iter()
            .zip(outcomes.iter())
            .filter(|(i, _)| filter.programme.is_none() || i.programme == filter.programme)
            .map(|(i, o)| IndicatorFigures {
                indicator: i.clone(),
                hidden: if exact {
                    vec![false; o.cells.len()]
                } else {
                    passage_indicators::suppressed(&o.cells, threshold)
                },
                outcome: o.clone(),
            })
            .collect();
        Ok(Dashboard {
            catalogue,
            figures,
            year,
            exact,
            threshold,
            as_of,
        })
    }

    /// One indicator's figures for the five years up to the filter's year, in a format that
    /// leaves the system (audited): hidden cells are blank or left out for roles without
    /// exact access.
    pub async fn indicator_export(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        code: &str,
        filter: &IndicatorFilter,
        format: ExportFormat,
    ) -> Result<crate::ExportFile, ServiceError> {
        let dashboard = self
            .dashboard(
                actor,
                &IndicatorFilter {
                    programme: None,
                    ..filter.clone()
                },
            )
            .await?;
        let f = dashboard
            .figures
            .iter()
            .find(|f| f.indicator.code == code)
            .ok_or(ServiceError::NotFound)?;
        // Awaited before the label closures exist: they are not `Sync`, and the future must be `Send`.
        let compiling_org = self.host_name().await?;
        let last_update = self.today().to_string();
        // The label closures are not `Sync`: they live in this block only, so that the future
        // stays `Send` across the audit write below.
        let (name, content_type, bytes) = {
            let catalogue = &dashboard.catalogue;
            let category_label = |d: usize, c: &str| catalogue.category_label(&f.indicator, d, c);
            let dimension_label = |d: usize| catalogue.dimension_label(&f.indicator, d);
            let input = passage_indicators::export::ExportInput {
                indicator: &f.indicator,
                outcome: &f.outcome,
                hidden: &f.hidden,
                category_label: &category_label,
                dimension_label: &dimension_label,
                ref_area: LIBERIA_M49,
                last_update: &last_update,
                compiling_org: &compiling_org,
            };
            use passage_indicators::export as x;
            let year = dashboard.year;
            match format {
                ExportFormat::Csv => (
                    format!("{code}-{year}.csv"),
                    "text/csv; charset=utf-8",
                    figures_csv(&dashboard, f)?,
                ),
                ExportFormat::OpenSdg => (
                    format!("indicator_{}.csv", slug(code)),
                    "text/csv; charset=utf-8",
                    x::open_sdg_csv(&input).map_err(internal)?,
                ),
                ExportFormat::OpenSdgMeta => (
                    format!("{}.yml", slug(code)),
                    "application/yaml; charset=utf-8",
                    x::open_sdg_meta_yaml(&input).into_bytes(),
                ),
                ExportFormat::Sdmx => (
                    format!("{code}-{year}-sdmx.csv"),
                    "text/csv; charset=utf-8",
                    x::sdmx_csv(&input).map_err(internal)?,
                ),
                ExportFormat::SdmxMl => (
                    format!("{code}-{year}-sdmx.xml"),
                    "application/vnd.sdmx.genericdata+xml; version=2.1",
                    x::sdmx_ml(&input, &format!("{last_update}T00:00:00")).map_err(internal)?,
                ),
                ExportFormat::Hxl => (
                    format!("{code}-{year}-hxl.csv"),
                    "text/csv; charset=utf-8",
                    x::hxl_csv(&input).map_err(internal)?,
                ),
            }
        };
        let event = self
            .event(ctx, AuditAction::IndicatorsExported, actor.user_id())
            .detail("indicator", code)
            .detail("format", format.as_str())
            .detail("exact", dashboard.exact);
        self.audit_read(&event).await?;
        Ok((name, content_type, bytes))
    }

    /// The host organisation's name (the compiling organisation of exports).
    async fn host_name(&self) -> Result<String, ServiceError> {
        let orgs = self.organisations(&Actor::Operator).await?;
        Ok(orgs
            .iter()
            .find(|o| o.is_host)
            .map(|o| o.name.to_string())
            .unwrap_or_default())
    }

    /// Enter (or correct) a manual indicator's value for a year, with its source and evidence:
    /// a document reference or link, an attached file (PDF, PNG, JPEG or text), or both.
    pub async fn set_manual_value(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        code: &str,
        entry: &ManualEntry,
    ) -> Result<(), ServiceError> {
        authorize(
            actor,
            Permission::IndicatorsManage,
            passage_domain::Scope::Installation,
        )?;
        let catalogue = self.indicator_catalogue().await?;
        let indicator = catalogue.get(code).ok_or(ServiceError::NotFound)?;
        let invalid =
            |field: &'static str, why: &str| ServiceError::from(InvalidValue::new(field, why.to_owned()));
        if indicator.computation.is_some() {
            return Err(invalid(
                "indicator",
                "is computed from case records; only manual indicators take values",
            ));
        }
        let year = entry.year;
        if !(2000..=2100).contains(&year) {
            return Err(invalid("year", "is not a year between 2000 and 2100"));
        }
        let value: f64 = entry
            .value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| invalid("value", "is not a number"))?;
        let (source, evidence) = (entry.source.trim(), entry.evidence.trim());
        if source.is_empty() || source.chars().count() > 500 {
            return Err(invalid("source", "is required (at most 500 characters)"));
        }
        let file = match &entry.file {
            None => None,
            Some((name, bytes)) => {
                if bytes.len() > crate::MAX_DOCUMENT_BYTES {
                    return Err(invalid("evidence_file", "is larger than 10 MiB"));
                }
                let content_type = crate::activity::document_type(name, bytes).map_err(|e| match e {
                    ServiceError::Invalid(v) => invalid("evidence_file", &v.reason),
                    other => other,
                })?;
                let name: String = name.trim().chars().take(200).collect();
                Some(passage_store::reports::EvidenceFile {
                    name: if name.is_empty() { "evidence".into() } else { name },
                    content_type: content_type.to_owned(),
                    bytes: bytes.clone(),
                })
            }
        };
        let attached_before = || async {
            let mut pooled = self.db.acquire().await?;
            Ok::<bool, ServiceError>(
                passage_store::reports::evidence_file(&mut pooled.conn(), code, year)
                    .await?
                    .is_some(),
            )
        };
        if evidence.chars().count() > 2000
            || (evidence.is_empty() && file.is_none() && !attached_before().await?)
        {
            return Err(invalid(
                "evidence",
                "is required (at most 2,000 characters): the document or link that supports the value, unless a file is attached",
            ));
        }
        let stored = passage_store::reports::ManualValue {
            indicator: code.to_owned(),
            year,
            value,
            source: source.to_owned(),
            evidence: evidence.to_owned(),
            entered_at: self.now().micros(),
            evidence_name: None,
        };
        let mut tx = self.begin().await?;
        passage_store::reports::put_manual_value(&mut tx.conn(), &stored, file.as_ref(), actor.user_id())
            .await?;
        let mut event = self
            .event(ctx, AuditAction::IndicatorValueEntered, actor.user_id())
            .detail("indicator", code)
            .detail("year", year);
        if let Some(f) = &file {
            event = event
                .detail("evidence_file", &f.content_type)
                .detail("evidence_bytes", f.bytes.len());
        }
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The evidence file attached to a manual indicator's value (for those who see indicators).
    pub async fn manual_evidence(
        &self,
        actor: &Actor,
        code: &str,
        year: i32,
    ) -> Result<passage_store::reports::EvidenceFile, ServiceError> {
        if !actor.has_anywhere(Permission::IndicatorsView) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let mut pooled = self.db.acquire().await?;
        passage_store::reports::evidence_file(&mut pooled.conn(), code, year)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn manual_values(
        &self,
        actor: &Actor,
        code: &str,
    ) -> Result<Vec<passage_store::reports::ManualValue>, ServiceError> {
        if !actor.has_anywhere(Permission::IndicatorsView) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let mut pooled = self.db.acquire().await?;
        let all = passage_store::reports::manual_values(&mut pooled.conn()).await?;
        Ok(all.into_iter().filter(|v| v.indicator == code).collect())
    }

    /// The records behind one figure that the viewer may open (audited: it lists cases).
    #[allow(clippy::too_many_arguments)]
    pub async fn records_behind(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        code: &str,
        filter: &IndicatorFilter,
        year: i32,
        category: Option<(usize, &str)>,
    ) -> Result<Vec<RecordRef>, ServiceError> {
        if !actor.has_anywhere(Permission::IndicatorsView) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let catalogue = self.indicator_catalogue().await?;
        let indicator = catalogue.get(code).ok_or(ServiceError::NotFound)?.clone();
        let Some(computation) = &indicator.computation else {
            return Ok(Vec::new());
        };
        let read = if computation.source.programme == crate::screening::CROSSINGS {
            Permission::CrossingsView
        } else {
            Permission::CasesView
        };
        let scope = Scope {
            years: Some((year, year)),
            county: filter.county.clone(),
            orgs: org_scope(actor, read),
        };
        let (_, facts) = self.facts(&catalogue).await?;
        let Some(table) = facts.tables.get(&computation.source) else {
            return Ok(Vec::new());
        };
        let rows = passage_indicators::rows_behind(&indicator, table, &scope, year, category);
        let text = |field: &str, row: usize| match table.column(field) {
            Some(passage_indicators::table::Column::Category { codes, dict }) => {
                dict.name(codes[row]).to_owned()
            }
            _ => String::new(),
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for row in rows {
            let number = text(builtin::NUMBER, row);
            let Ok(case_id) = text(builtin::CASE_ID, row).parse::<uuid::Uuid>() else {
                continue;
            };
            if seen.insert(case_id) {
                out.push(RecordRef {
                    case_id,
                    number,
                    programme: computation.source.programme.clone(),
                });
            }
        }
        let event = self
            .event(ctx, AuditAction::IndicatorRecords, actor.user_id())
            .detail("indicator", code)
            .detail("year", year)
            .detail("records", out.len());
        self.audit_read(&event).await?;
        Ok(out)
    }

    /// Every indicator's outcome for `scope`, from the cache when nothing changed.
    async fn figures(
        &self,
        catalogue: &Arc<Catalogue>,
        scope: &Scope,
    ) -> Result<(passage_domain::Timestamp, Arc<Vec<Outcome>>), ServiceError> {
        let (load, facts) = self.facts(catalogue).await?;
        let key: ScopeKey = (scope.years, scope.county.clone(), scope.orgs.clone());
        if let Some((l, f)) = self.indicators.lock().await.figures.get(&key)
            && *l == load
        {
            return Ok((facts.as_of, f.clone()));
        }
        let empty = Table::default();
        let outcomes: Vec<Outcome> = catalogue
            .indicators
            .iter()
            .map(|i| match &i.computation {
                Some(c) => {
                    passage_indicators::compute(i, facts.tables.get(&c.source).unwrap_or(&empty), scope)
                }
                None => manual_outcome(i, &facts.manual, scope),
            })
            .collect();
        let outcomes = Arc::new(outcomes);
        let mut cache = self.indicators.lock().await;
        if cache.facts.as_ref().is_some_and(|f| f.load == load) {
            cache.figures.insert(key, (load, outcomes.clone()));
        }
        Ok((facts.as_of, outcomes))
    }

    /// The fact tables as the dashboard uses them now (brought up to date first).
    pub async fn indicator_facts(&self) -> Result<Arc<Facts>, ServiceError> {
        let catalogue = self.indicator_catalogue().await?;
        Ok(self.facts(&catalogue).await?.1)
    }

    /// The fact tables (and which load or update they come from), brought up to date first
    /// when this process wrote since or [`FACTS_CHECK_INTERVAL`] has passed: only the cases
    /// that changed are read again. A full load runs at the first use, and again after
    /// [`FULL_RELOAD_AGE`], when many rows are retired or when very many cases changed; one that
    /// is slow (a large installation) runs in the background while the current tables answer.
    async fn facts(&self, catalogue: &Arc<Catalogue>) -> Result<(u64, Arc<Facts>), ServiceError> {
        let mut cache = self.indicators.lock().await;
        let generation = self.changes.load(Ordering::Acquire);
        if let Some(f) = &cache.facts {
            if f.generation == generation && f.checked.elapsed() < FACTS_CHECK_INTERVAL {
                return Ok((f.load, f.facts.clone()));
            }
            let compact = f.loaded.elapsed() > FULL_RELOAD_AGE || f.facts.retired_share() > MAX_RETIRED_SHARE;
            let slow = f.took > SYNC_RELOAD_LIMIT;
            let changes = if compact && !slow {
                None
            } else {
                Some(self.fact_changes(&f.facts).await?).filter(|c| c.cases() <= MAX_CHANGED_CASES)
            };
            if (compact || changes.is_none()) && slow && !cache.refreshing {
                cache.refreshing = true;
                let (svc, catalogue) = (self.clone(), catalogue.clone());
                tokio::spawn(async move { svc.reload_facts(&catalogue, generation).await });
            }
            let current = match changes {
                Some(changes) => apply_changes(&mut cache, generation, changes),
                None if slow => cache.facts.as_ref().map(|f| (f.load, f.facts.clone())),
                None => None,
            };
            if let Some(current) = current {
                return Ok(current);
            }
        }
        // Holding the lock while loading makes concurrent viewers wait for one load.
        let started = Instant::now();
        let facts = Arc::new(self.load_facts(catalogue).await?);
        Ok(store_facts(&mut cache, generation, started, facts))
    }

    async fn reload_facts(&self, catalogue: &Catalogue, generation: u64) {
        let started = Instant::now();
        let loaded = self.load_facts(catalogue).await;
        let mut cache = self.indicators.lock().await;
        cache.refreshing = false;
        match loaded {
            Ok(facts) => {
                store_facts(&mut cache, generation, started, Arc::new(facts));
            }
            Err(e) => {
                tracing::error!(error = %e, "reloading indicator facts failed; the previous figures stay")
            }
        }
    }
}

/// Liberia in the M49 area codes SDMX uses.
const LIBERIA_M49: &str = "430";

/// Formats an indicator's figures can be downloaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Every total and category with labels, records behind each and status.
    Csv,
    /// Open SDG data file (blank cells are totals).
    OpenSdg,
    /// Open SDG metadata (SDG metadata concepts as YAML keys).
    OpenSdgMeta,
    /// SDMX-CSV with the SDG data structure's dimensions.
    Sdmx,
    /// The same as an SDMX-ML 2.1 generic data message.
    SdmxMl,
    /// HXL-tagged CSV for HDX.
    Hxl,
}

impl ExportFormat {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "csv" => Self::Csv,
            "open-sdg" => Self::OpenSdg,
            "open-sdg-meta" => Self::OpenSdgMeta,
            "sdmx" => Self::Sdmx,
            "sdmx-ml" => Self::SdmxMl,
            "hxl" => Self::Hxl,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::OpenSdg => "open-sdg",
            Self::OpenSdgMeta => "open-sdg-meta",
            Self::Sdmx => "sdmx",
            Self::SdmxMl => "sdmx-ml",
            Self::Hxl => "hxl",
        }
    }
}

/// Open SDG names files after the indicator with dashes (`indicator_10-7-3.csv`).
fn slug(code: &str) -> String {
    code.replace('.', "-").to_lowercase()
}

/// The plain CSV: every total and category, hidden cells blank and marked.
fn figures_csv(dashboard: &Dashboard, f: &IndicatorFigures) -> Result<Vec<u8>, ServiceError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "indicator",
        "year",
        "disaggregation",
        "category_code",
        "category",
        "value",
        "unit",
        "records",
        "status",
    ];
    w.write_record(header).map_err(internal)?;
    for (cell, hidden) in f.outcome.cells.iter().zip(&f.hidden) {
        let (dimension, category) = match cell.dimension {
            Some(d) => (
                dashboard.catalogue.dimension_label(&f.indicator, d),
                dashboard
                    .catalogue
                    .category_label(&f.indicator, d, &cell.category),
            ),
            None => (String::new(), "Total".to_owned()),
        };
        let (value, records, status) = if *hidden {
            (
                String::new(),
                String::new(),
                format!("suppressed: fewer than {} records", dashboard.threshold),
            )
        } else {
            let value = cell
                .value
                .map_or_else(String::new, |v| format!("{}", (v * 100.0).round() / 100.0));
            let status = if cell.value.is_none() { "n/a" } else { "" };
            (value, cell.n.to_string(), status.to_owned())
        };
        let year = cell.year.to_string();
        w.write_record([
            f.indicator.code.as_str(),
            &year,
            &dimension,
            &cell.category,
            &category,
            &value,
            &f.indicator.unit,
            &records,
            &status,
        ])
        .map_err(internal)?;
    }
    w.into_inner().map_err(|e| internal(e.into_error()))
}

/// A manual indicator's entered values as figures (national: no county breakdown).
fn manual_outcome(
    indicator: &Indicator,
    values: &[passage_store::reports::ManualValue],
    scope: &Scope,
) -> Outcome {
    let cells = values
        .iter()
        .filter(|v| v.indicator == indicator.code)
        .filter(|v| scope.years.is_none_or(|(a, b)| (a..=b).contains(&v.year)))
        .map(|v| Cell {
            year: v.year,
            dimension: None,
            category: String::new(),
            value: Some(v.value),
            n: 0,
        })
        .collect();
    let mut notes =
        vec!["Entered by hand with its source and evidence (see the indicator's page).".to_owned()];
    if scope.county.is_some() {
        notes.push("A national figure: the county filter does not apply.".into());
    }
    Outcome { cells, notes }
}

/// Keep newly loaded facts (replacing the figures computed from older ones).
fn store_facts(
    cache: &mut IndicatorCache,
    generation: u64,
    started: Instant,
    facts: Arc<Facts>,
) -> (u64, Arc<Facts>) {
    let took = started.elapsed();
    tracing::info!(elapsed_ms = took.as_millis() as u64, "indicator facts loaded");
    cache.loads += 1;
    let load = cache.loads;
    cache.facts = Some(LoadedFacts {
        generation,
        // The load saw the database as it was when it began.
        checked: started,
        loaded: started,
        took,
        load,
        facts: facts.clone(),
    });
    cache.figures.clear();
    (load, facts)
}

/// Bring the cached facts up to date with `changes` (copying them first only if a viewer is
/// still computing from them).
fn apply_changes(
    cache: &mut IndicatorCache,
    generation: u64,
    changes: FactChanges,
) -> Option<(u64, Arc<Facts>)> {
    let f = cache.facts.as_mut()?;
    f.generation = generation;
    f.checked = Instant::now();
    if changes.change_nothing_in(&f.facts) {
        // The figures computed from these facts stay valid.
        if let Some(facts) = Arc::get_mut(&mut f.facts) {
            facts.as_of = changes.as_of();
        }
        return Some((f.load, f.facts.clone()));
    }
    Arc::make_mut(&mut f.facts).apply(changes);
    cache.loads += 1;
    cache.figures.clear();
    f.load = cache.loads;
    Some((f.load, f.facts.clone()))
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The organisations whose records count for this viewer (`None`: all of them).
fn org_scope(actor: &Actor, permission: Permission) -> Option<Vec<String>> {
    actor
        .orgs_with(permission)
        .map(|orgs| orgs.iter().map(|o: &OrgId| o.as_uuid().to_string()).collect())
}

/// The fact tables a programme's form offers: its cases, each repeat group, and the
/// services, referrals (and, for border crossings, screening hits) of its cases.
fn form_sources(programme: &str, form: &Form, passage: &Passage) -> Vec<(SourceRef, Schema)> {
    let language = form.default_language.clone().unwrap_or_default();
    let mut top = Schema::default();
    let mut repeats: HashMap<String, Schema> = HashMap::new();
    for (field, enclosing) in form.fields() {
        let Some(kind) = field_kind(&field.kind, &field.name) else {
            continue;
        };
        let target = match enclosing.last() {
            Some(r) => repeats.entry((*r).to_owned()).or_default(),
            None => &mut top,
        };
        if field.sensitivity != Some(Sensitivity::Reporting) {
            target.withheld.insert(field.name.clone());
            continue;
        }
        let mut spec = FieldSpec::new(kind, field.label.get(&language).unwrap_or(&field.name));
        // Age bands are calculated SDMX age codes: name them as the SDG code list does.
        if field.name.ends_with("age_band") {
            spec.choices = Some(age_bands());
        }
        if let Some(list) = field.kind.choice_list() {
            let choices = form.choices.get(list).map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.label.get(&language).unwrap_or(&c.name).to_owned(),
                        )
                    })
                    .collect()
            });
            spec.choices = choices;
        }
        target.add(&field.name, spec);
    }
    let counties: Vec<(String, String)> = passage
        .counties()
        .iter()
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let stages: Vec<(String, String)> = passage
        .stages(programme)
        .iter()
        .map(|s| (s.code.clone(), s.label.clone()))
        .collect();
    let builtins = [
        (builtin::ORG, FieldSpec::new(Kind::Category, "Organisation")),
        (builtin::CASE_ID, FieldSpec::new(Kind::Category, "Case")),
        (builtin::NUMBER, FieldSpec::new(Kind::Category, "Case number")),
        (
            builtin::COUNTY,
            FieldSpec::new(Kind::Category, "County").with_choices(counties),
        ),
        (
            builtin::STAGE,
            FieldSpec::new(Kind::Category, "Stage").with_choices(stages),
        ),
        (
            builtin::CLOSED,
            FieldSpec::new(Kind::Category, "Closed").with_choices(vec![
                ("true".into(), "Closed".into()),
                ("false".into(), "Open".into()),
            ]),
        ),
        (
            builtin::CREATED,
            FieldSpec::new(Kind::Date, "Registered in Passage"),
        ),
    ];
    for (name, spec) in builtins.iter().cloned() {
        top.add(name, spec);
    }
    let mut out = Vec::new();
    let source = |kind| SourceRef {
        kind,
        programme: programme.to_owned(),
        repeat: None,
    };
    for (name, mut schema) in repeats {
        for (f, spec) in &top.fields {
            schema.fields.entry(f.clone()).or_insert_with(|| spec.clone());
        }
        schema.withheld.extend(top.withheld.iter().cloned());
        out.push((
            SourceRef {
                kind: SourceKind::Cases,
                programme: programme.to_owned(),
                repeat: Some(name),
            },
            schema,
        ));
    }
    let mut services = top.clone();
    let service_types: Vec<(String, String)> = crate::SERVICE_TYPES
        .iter()
        .map(|(c, l)| ((*c).to_owned(), (*l).to_owned()))
        .collect();
    services.add(
        "service.type",
        FieldSpec::new(Kind::Category, "Service").with_choices(service_types.clone()),
    );
    services.add("service.delivered", FieldSpec::new(Kind::Date, "Delivered on"));
    services.add("service.value", FieldSpec::new(Kind::Number, "Value"));
    services.add("service.currency", FieldSpec::new(Kind::Category, "Currency"));
    out.push((source(SourceKind::Services), services));
    let mut referrals = top.clone();
    referrals.add(
        "referral.status",
        FieldSpec::new(Kind::Category, "Referral status").with_choices(
            ["requested", "accepted", "declined", "completed"]
                .iter()
                .map(|s| ((*s).to_owned(), capitalise(s)))
                .collect(),
        ),
    );
    referrals.add(
        "referral.service_type",
        FieldSpec::new(Kind::Category, "Service").with_choices(service_types),
    );
    referrals.add("referral.requested", FieldSpec::new(Kind::Date, "Requested on"));
    referrals.add("referral.completed", FieldSpec::new(Kind::Date, "Completed on"));
    referrals.add(
        "referral.days",
        FieldSpec::new(Kind::Number, "Days to completion"),
    );
    out.push((source(SourceKind::Referrals), referrals));
    if programme == crate::screening::CROSSINGS {
        let mut hits = top.clone();
        hits.add(
            "hit.status",
            FieldSpec::new(Kind::Category, "Review").with_choices(
                ["open", "confirmed", "dismissed"]
                    .iter()
                    .map(|s| ((*s).to_owned(), capitalise(s)))
                    .collect(),
            ),
        );
        hits.add("hit.list", FieldSpec::new(Kind::Category, "Watchlist"));
        hits.add("hit.score", FieldSpec::new(Kind::Number, "Score"));
        hits.add("hit.at", FieldSpec::new(Kind::Date, "Screened on"));
        out.push((source(SourceKind::Hits), hits));
    }
    let mut cases = top;
    cases.add(builtin::PERSON, FieldSpec::new(Kind::Category, "Person"));
    out.push((source(SourceKind::Cases), cases));
    out
}

/// The SDMX age groups the forms' age bands use, named as in the SDG code list.
fn age_bands() -> Vec<(String, String)> {
    let codes = [
        "Y0T4", "Y5T9", "Y10T14", "Y15T17", "Y18T24", "Y25T34", "Y35T44", "Y45T54", "Y55T64", "Y_GE65", "_U",
    ];
    let sdg = passage_indicators::reference::sdg();
    codes
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                capitalise(sdg.code_name("CL_AGE", c).unwrap_or(c)),
            )
        })
        .collect()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// How indicators treat a form field. A `calculate` has no declared type: those whose names
/// say they hold a number of years, days or a score change are numbers, the rest codes.
fn field_kind(kind: &FieldKind, name: &str) -> Option<Kind> {
    Some(match kind {
        FieldKind::SelectOne { .. } | FieldKind::Text | FieldKind::Acknowledge | FieldKind::Time => {
            Kind::Category
        }
        FieldKind::SelectMultiple { .. } => Kind::Multi,
        FieldKind::Integer | FieldKind::Decimal => Kind::Number,
        FieldKind::Date | FieldKind::DateTime => Kind::Date,
        FieldKind::Calculate => {
            let numeric = ["_years", "_days", "_change", "_since_return"];
            if numeric.iter().any(|s| name.ends_with(s)) {
                Kind::Number
            } else {
                Kind::Category
            }
        }
        FieldKind::Geopoint
        | FieldKind::Note
        | FieldKind::Metadata(_)
        | FieldKind::Media(_)
        | FieldKind::Barcode => return None,
    })
}
