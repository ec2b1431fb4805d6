//! The indicator definition format (TOML) and its checks. A definition that names an unknown
//! field, a withheld answer, an unknown framework id or a measure that cannot be computed is
//! refused when the file is loaded, with the file, line, indicator and field in the message.

use crate::expr::{Expr, field_spec};
use crate::reference;
use crate::table::{Kind, Schema};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Where the rows of an indicator come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A programme's cases (border crossings and capacity-building activities are cases of
    /// their programmes), or the instances of one of its repeat groups (`repeat`).
    Cases,
    /// Services delivered to a programme's cases.
    Services,
    /// Referrals of a programme's cases to other organisations.
    Referrals,
    /// Watchlist screening hits on border crossings.
    Hits,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cases => "cases",
            Self::Services => "services",
            Self::Referrals => "referrals",
            Self::Hits => "hits",
        }
    }
}

/// One fact table: a source kind, for one programme, optionally one repeat group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRef {
    pub kind: SourceKind,
    pub programme: String,
    pub repeat: Option<String>,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.kind.as_str(), self.programme)?;
        if let Some(r) = &self.repeat {
            write!(f, " (repeat '{r}')")?;
        }
        Ok(())
    }
}

/// Built-in fields every case-based row has, besides the form's reporting answers.
pub mod builtin {
    /// The organisation owning the case (its id).
    pub const ORG: &str = "case.org";
    /// The county the case is filed under.
    pub const COUNTY: &str = "case.county";
    /// The case's workflow stage.
    pub const STAGE: &str = "case.stage";
    /// "true" once the case reached a closing stage.
    pub const CLOSED: &str = "case.closed";
    /// The day the case was registered in Passage.
    pub const CREATED: &str = "case.created";
    /// The person's id (for distinct persons).
    pub const PERSON: &str = "case.person";
    /// The case number (for drill-down to the records behind a figure).
    pub const NUMBER: &str = "case.number";
    /// The case's id (for drill-down).
    pub const CASE_ID: &str = "case.id";
}

#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    Count,
    DistinctPersons,
    Sum(String),
    Mean(String),
    Median(String),
    /// Percentage of the rows that also meet a condition.
    Share(Expr),
    /// Median number of days between two dates of the same row.
    MedianDays {
        from: String,
        to: String,
    },
}

impl Measure {
    pub fn describe(&self) -> String {
        match self {
            Self::Count => "count of records".into(),
            Self::DistinctPersons => "distinct persons".into(),
            Self::Sum(f) => format!("sum of {f}"),
            Self::Mean(f) => format!("mean of {f}"),
            Self::Median(f) => format!("median of {f}"),
            Self::Share(_) => "percentage".into(),
            Self::MedianDays { from, to } => format!("median days from {from} to {to}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Increase,
    Decrease,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub value: f64,
    pub year: i32,
    #[serde(default)]
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Links {
    pub gcm: Vec<String>,
    pub sdg: Vec<String>,
    pub unsdcf: Vec<String>,
    pub national: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Computation {
    pub source: SourceRef,
    pub filter: Option<Expr>,
    /// The filter as written in the definition (shown to readers).
    pub filter_text: Option<String>,
    pub measure: Measure,
    /// The date field that places a row in a period.
    pub date: String,
    pub disaggregate: Vec<String>,
}

impl Computation {
    /// Every field of the source this computation reads.
    pub fn fields(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.disaggregate.iter().cloned().collect();
        out.insert(self.date.clone());
        if let Some(f) = &self.filter {
            out.extend(f.fields().into_iter().map(str::to_owned));
        }
        match &self.measure {
            Measure::Sum(f) | Measure::Mean(f) | Measure::Median(f) => {
                out.insert(f.clone());
            }
            Measure::Share(e) => out.extend(e.fields().into_iter().map(str::to_owned)),
            Measure::MedianDays { from, to } => {
                out.insert(from.clone());
                out.insert(to.clone());
            }
            Measure::DistinctPersons => {
                out.insert(builtin::PERSON.to_owned());
            }
            Measure::Count => {}
        }
        out
    }
}

/// A checked indicator: computed from records, or entered by hand with evidence (`manual`).
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub code: String,
    pub title: String,
    pub description: Option<String>,
    pub programme: Option<String>,
    pub unit: String,
    pub direction: Direction,
    /// `None` for manual indicators.
    pub computation: Option<Computation>,
    pub links: Links,
    pub baseline: Option<Baseline>,
    pub targets: BTreeMap<i32, f64>,
    pub verification: Option<String>,
    /// The SDG SDMX series this indicator reports (e.g. `VC_HTF_DETV`), when it measures one.
    pub sdmx_series: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    indicator: Vec<RawIndicator>,
}

#[derive(Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    #[default]
    Computed,
    Manual,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    code: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    kind: RawKind,
    #[serde(default)]
    programme: Option<String>,
    #[serde(default)]
    source: Option<SourceKind>,
    #[serde(default)]
    repeat: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    measure: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    share_of: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    disaggregate: Vec<String>,
    unit: String,
    #[serde(default)]
    direction: Direction,
    #[serde(default)]
    gcm: Vec<String>,
    #[serde(default)]
    sdg: Vec<String>,
    #[serde(default)]
    unsdcf: Vec<String>,
    #[serde(default)]
    national: Vec<String>,
    #[serde(default)]
    baseline: Option<Baseline>,
    #[serde(default)]
    targets: BTreeMap<String, f64>,
    #[serde(default)]
    verification: Option<String>,
    #[serde(default)]
    sdmx_series: Option<String>,
}

/// Why a definitions file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    pub file: String,
    pub line: Option<usize>,
    pub indicator: Option<String>,
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(c) = &self.indicator {
            write!(f, ": indicator {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The fact tables indicators may read, with their schemas.
pub type Sources = HashMap<SourceRef, Schema>;

/// Parse and check a definitions file against the sources Passage has.
pub fn load(file: &str, text: &str, sources: &Sources) -> Result<Vec<Indicator>, DefinitionError> {
    let (indicators, mut unavailable) = load_each(file, text, sources)?;
    match unavailable.is_empty() {
        true => Ok(indicators),
        false => Err(unavailable.swap_remove(0)),
    }
}

/// Like [`load`], but an indicator that does not check against `sources` (a form version
/// dropped or changed a field it uses) is set aside with its error while the others load.
/// A file that cannot be read at all, or repeats a code, is still refused.
pub fn load_each(
    file: &str,
    text: &str,
    sources: &Sources,
) -> Result<(Vec<Indicator>, Vec<DefinitionError>), DefinitionError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| DefinitionError {
        file: file.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        indicator: None,
        message: e.message().to_owned(),
    })?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.indicator.len());
    let mut unavailable = Vec::new();
    for r in raw.indicator {
        let fail = |message: String| DefinitionError {
            file: file.to_owned(),
            line: find_line(text, &r.code),
            indicator: Some(r.code.clone()),
            message,
        };
        if !seen.insert(r.code.clone()) {
            return Err(fail("the code is used by an earlier indicator too".into()));
        }
        match check(&r, sources) {
            Ok(i) => out.push(i),
            Err(message) => unavailable.push(fail(message)),
        }
    }
    Ok((out, unavailable))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn find_line(text: &str, code: &str) -> Option<usize> {
    let needle = format!("\"{code}\"");
    text.lines()
        .position(|l| l.trim_start().starts_with("code") && l.contains(&needle))
        .map(|i| i + 1)
}

fn check(r: &RawIndicator, sources: &Sources) -> Result<Indicator, String> {
    if r.code.trim().is_empty() || r.title.trim().is_empty() {
        return Err("code and title may not be empty".into());
    }
    let links = check_links(r)?;
    let targets = r
        .targets
        .iter()
        .map(|(y, v)| {
            y.parse::<i32>()
                .ok()
                .filter(|y| (1990..=2100).contains(y))
                .map(|y| (y, *v))
                .ok_or_else(|| format!("targets: '{y}' is not a year"))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let computation = match r.kind {
        RawKind::Manual => {
            let computed_keys = [
                ("source", r.source.is_some()),
                ("filter", r.filter.is_some()),
                ("measure", r.measure.is_some()),
                ("date", r.date.is_some()),
                ("disaggregate", !r.disaggregate.is_empty()),
            ];
            if let Some((key, _)) = computed_keys.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "a manual indicator is entered by hand: '{key}' does not apply"
                ));
            }
            None
        }
        RawKind::Computed => Some(check_computation(r, sources)?),
    };
    Ok(Indicator {
        code: r.code.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        programme: r.programme.clone(),
        unit: r.unit.clone(),
        direction: r.direction,
        computation,
        links,
        baseline: r.baseline.clone(),
        targets,
        verification: r.verification.clone(),
        sdmx_series: check_series(r)?,
    })
}

/// A series code must be one of those of the SDG indicators the indicator links to.
fn check_series(r: &RawIndicator) -> Result<Option<String>, String> {
    let Some(series) = &r.sdmx_series else {
        return Ok(None);
    };
    let sdg = reference::sdg();
    let known = r
        .sdg
        .iter()
        .filter_map(|c| sdg.indicator(c))
        .any(|i| i.sdmx_series.iter().any(|s| s.code == *series));
    if known {
        Ok(Some(series.clone()))
    } else {
        Err(format!(
            "sdmx_series: '{series}' is not a series of the linked SDG indicators"
        ))
    }
}

fn check_links(r: &RawIndicator) -> Result<Links, String> {
    let gcm = reference::gcm();
    if let Some(bad) = r.gcm.iter().find(|id| gcm.title(id).is_none()) {
        return Err(format!(
            "gcm: '{bad}' is not a GCM principle, objective or action id"
        ));
    }
    let sdg = reference::sdg();
    if let Some(bad) = r
        .sdg
        .iter()
        .find(|c| sdg.indicator(c).is_none() && sdg.target(c).is_none())
    {
        return Err(format!(
            "sdg: '{bad}' is not a migration-relevant SDG target or indicator"
        ));
    }
    Ok(Links {
        gcm: r.gcm.clone(),
        sdg: r.sdg.clone(),
        unsdcf: r.unsdcf.clone(),
        national: r.national.clone(),
    })
}

fn check_computation(r: &RawIndicator, sources: &Sources) -> Result<Computation, String> {
    let programme = r
        .programme
        .clone()
        .ok_or("a computed indicator needs a 'programme'")?;
    let kind = r.source.unwrap_or(SourceKind::Cases);
    if r.repeat.is_some() && kind != SourceKind::Cases {
        return Err("'repeat' applies to case sources only".into());
    }
    let source = SourceRef {
        kind,
        programme,
        repeat: r.repeat.clone(),
    };
    let schema = sources
        .get(&source)
        .ok_or_else(|| format!("there is no source '{source}'"))?;
    let filter = r
        .filter
        .as_deref()
        .map(|f| {
            let e = Expr::parse(f).map_err(|e| format!("filter: {e}"))?;
            e.check(schema).map_err(|m| format!("filter: {m}"))?;
            Ok::<_, String>(e)
        })
        .transpose()?;
    let kind_of = |what: &str, f: &str, want: Kind| {
        let spec = field_spec(schema, f).map_err(|m| format!("{what}: {m}"))?;
        if spec.kind != want {
            return Err(format!("{what}: '{f}' is not a {}", kind_name(want)));
        }
        Ok(f.to_owned())
    };
    let need = |key: &str, v: &Option<String>| v.clone().ok_or_else(|| format!("measure needs '{key}'"));
    let measure_name = r.measure.as_deref().unwrap_or("count");
    let measure = match measure_name {
        "count" => Measure::Count,
        "distinct_persons" => {
            if r.repeat.is_some() || !schema.fields.contains_key(crate::definition::builtin::PERSON) {
                return Err("distinct_persons counts the persons of cases; this source has none".into());
            }
            Measure::DistinctPersons
        }
        "sum" | "mean" | "median" => {
            let f = kind_of("field", &need("field", &r.field)?, Kind::Number)?;
            match measure_name {
                "sum" => Measure::Sum(f),
                "mean" => Measure::Mean(f),
                _ => Measure::Median(f),
            }
        }
        "share" => {
            let e = Expr::parse(&need("share_of", &r.share_of)?).map_err(|e| format!("share_of: {e}"))?;
            e.check(schema).map_err(|m| format!("share_of: {m}"))?;
            Measure::Share(e)
        }
        "median_days" => Measure::MedianDays {
            from: kind_of("from", &need("from", &r.from)?, Kind::Date)?,
            to: kind_of("to", &need("to", &r.to)?, Kind::Date)?,
        },
        other => {
            return Err(format!(
                "unknown measure '{other}' (count, distinct_persons, sum, mean, median, share, median_days)"
            ));
        }
    };
    let unused = [
        ("field", &r.field),
        ("share_of", &r.share_of),
        ("from", &r.from),
        ("to", &r.to),
    ];
    let uses = |key: &str| match key {
        "field" => matches!(measure, Measure::Sum(_) | Measure::Mean(_) | Measure::Median(_)),
        "share_of" => matches!(measure, Measure::Share(_)),
        _ => matches!(measure, Measure::MedianDays { .. }),
    };
    if let Some((key, _)) = unused.iter().find(|(k, v)| v.is_some() && !uses(k)) {
        return Err(format!("'{key}' does not apply to measure '{measure_name}'"));
    }
    let date = kind_of(
        "date",
        &need("date", &r.date).map_err(|_| {
            "a computed indicator needs a 'date' field to place records in periods".to_owned()
        })?,
        Kind::Date,
    )?;
    let mut seen = BTreeSet::new();
    for d in &r.disaggregate {
        let spec = field_spec(schema, d).map_err(|m| format!("disaggregate: {m}"))?;
        if !matches!(spec.kind, Kind::Category | Kind::Multi) {
            return Err(format!(
                "disaggregate: '{d}' is a {}; disaggregate by a coded field (e.g. an age band)",
                kind_name(spec.kind)
            ));
        }
        if !seen.insert(d) {
            return Err(format!("disaggregate: '{d}' is listed twice"));
        }
    }
    Ok(Computation {
        source,
        filter,
        filter_text: r.filter.clone(),
        measure,
        date,
        disaggregate: r.disaggregate.clone(),
    })
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Category => "coded field",
        Kind::Multi => "multiple-choice field",
        Kind::Number => "number",
        Kind::Date => "date",
    }
}
