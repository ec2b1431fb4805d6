//! Computed figures in the formats other systems read: Open SDG (data CSV and metadata YAML),
//! SDMX-CSV against the global SDG data structure, and HXL-tagged CSV for HDX. Only aggregate
//! cells leave: suppressed cells and cells without a value are left out (never written as 0),
//! so a reader cannot tell a hidden small count from a figure that does not exist.

use crate::{Cell, Indicator, Outcome, reference};
use std::fmt;
use std::iter::once;

/// One indicator's computed figures with what the formats need besides the numbers.
pub struct ExportInput<'a> {
    pub indicator: &'a Indicator,
    pub outcome: &'a Outcome,
    /// parallel to outcome.cells: true = suppressed (small cell), must be written as blank / not written
    pub hidden: &'a [bool],
    /// label of a category code for disaggregation index d: (d, code) -> label
    pub category_label: &'a dyn Fn(usize, &str) -> String,
    /// label of disaggregation index d (e.g. "Sex", "Age band")
    pub dimension_label: &'a dyn Fn(usize) -> String,
    /// M49 code, "430" for Liberia.
    pub ref_area: &'a str,
    /// YYYY-MM-DD
    pub last_update: &'a str,
    /// e.g. "IOM Liberia"
    pub compiling_org: &'a str,
}

impl fmt::Debug for ExportInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportInput")
            .field("indicator", &self.indicator.code)
            .field("cells", &self.outcome.cells.len())
            .field("ref_area", &self.ref_area)
            .finish_non_exhaustive()
    }
}

/// Why an export was refused: rather no file than one that leaks a small cell or carries a
/// code the receiving system would misread.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{hidden} suppression flags for {cells} cells")]
    Mismatch { cells: usize, hidden: usize },
    #[error("a cell refers to disaggregation {0}, which the indicator does not have")]
    NoDimension(usize),
    #[error("'{code}' of '{field}' has no SDMX code")]
    Unmapped { field: String, code: String },
    #[error("no ISO 3166 country code is known for area '{0}'")]
    RefArea(String),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// The dataflow of the global SDG database (IAEG-SDGs DSD `SDG`).
pub const SDMX_DATAFLOW: &str = "IAEG-SDGs:DF_SDG_GLH(1.0)";

const SDMX_HEADER: [&str; 16] = [
    "DATAFLOW",
    "FREQ",
    "REPORTING_TYPE",
    "SERIES",
    "REF_AREA",
    "SEX",
    "AGE",
    "COMPOSITE_BREAKDOWN",
    "CUST_BREAKDOWN",
    "TIME_PERIOD",
    "OBS_VALUE",
    "UNIT_MEASURE",
    "UNIT_MULT",
    "OBS_STATUS",
    "NATURE",
    "CUST_BREAKDOWN_LB",
];

/// Open SDG data file: `Year`, one column per disaggregation (headed by its label), `Value`.
/// A blank disaggregation cell means "all", so the total row has them all blank.
pub fn open_sdg_csv(input: &ExportInput) -> Result<Vec<u8>, ExportError> {
    let cells = published(input)?;
    let dims = dimensions(input);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(
        once("Year".to_owned())
            .chain((0..dims).map(|d| dimension_label(input, d)))
            .chain(once("Value".to_owned())),
    )?;
    for (c, v) in cells {
        w.write_record(
            once(c.year.to_string())
                .chain(breakdown_labels(input, c))
                .chain(once(v)),
        )?;
    }
    finish(w)
}

/// Open SDG metadata (`meta/<indicator>.yml`): flat, keyed by the SDG SDMX metadata concepts.
pub fn open_sdg_meta_yaml(input: &ExportInput) -> String {
    let i = input.indicator;
    let sdg = reference::sdg();
    let sdg_indicator = i
        .links
        .sdg
        .iter()
        .find(|c| sdg.indicator(c).is_some())
        .map_or("", String::as_str);
    let notes: Vec<String> = input
        .outcome
        .notes
        .iter()
        .map(|n| {
            let n = n.trim();
            if n.ends_with(['.', '!', '?']) {
                n.to_owned()
            } else {
                format!("{n}.")
            }
        })
        .collect();
    let entries = [
        ("SDG_INDICATOR", sdg_indicator),
        ("SDG_SERIES_DESCR", &i.title),
        ("META_LAST_UPDATE", input.last_update),
        ("COMPILING_ORG", input.compiling_org),
        (
            "DATA_SOURCE",
            i.verification.as_deref().unwrap_or("Passage case records"),
        ),
        ("UNIT_MEASURE", &i.unit),
        ("STAT_CONC_DEF", i.description.as_deref().unwrap_or(&i.title)),
        ("COMMENT_TS", &notes.join(" ")),
        (
            "REC_USE_LIM",
            "Counts resting on fewer records than the suppression threshold are suppressed \
             (not published), as is a further cell wherever a suppressed one could otherwise \
             be worked out from the total.",
        ),
    ];
    entries
        .iter()
        .map(|(k, v)| format!("{k}: \"{}\"\n", yaml_escape(v)))
        .collect()
}

/// SDMX-CSV (version 1) for the global SDG data structure. Dimensions not broken down are
/// `_T`. Sex (`sex`, `*_sex`) maps female/male/other/unknown to `F`/`M`/`_O`/`_U`; age bands
/// (`*age_band`) already are `CL_AGE` codes; `migratory_status` goes to
/// `COMPOSITE_BREAKDOWN` (see [`migratory_status`]); anything else is a custom breakdown
/// (`CUST_BREAKDOWN` = the code, labelled in `CUST_BREAKDOWN_LB`).
pub fn sdmx_csv(input: &ExportInput) -> Result<Vec<u8>, ExportError> {
    let cells = published(input)?;
    let series = series_code(input.indicator);
    let unit = unit_measure(input.indicator);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(SDMX_HEADER)?;
    for (c, v) in cells {
        let k = sdmx_keys(input, c)?;
        w.write_record([
            SDMX_DATAFLOW,
            "A",
            "N",
            &series,
            input.ref_area,
            k.sex,
            &k.age,
            k.composite,
            &k.custom,
            &c.year.to_string(),
            &v,
            unit,
            "0",
            "A",
            "C",
            &k.custom_label,
        ])?;
    }
    finish(w)
}

/// SDMX-ML 2.1 generic data message with the same series, keys and observations as
/// [`sdmx_csv`]: one series per combination of dimension values, observations by year.
/// `prepared` is the message time (`YYYY-MM-DDThh:mm:ss`).
pub fn sdmx_ml(input: &ExportInput, prepared: &str) -> Result<Vec<u8>, ExportError> {
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
    let cells = published(input)?;
    let series = series_code(input.indicator);
    let unit = unit_measure(input.indicator);
    // Series in the order their first observation comes.
    let mut grouped: Vec<(SdmxKeys, Vec<(i32, String)>)> = Vec::new();
    for (c, v) in cells {
        let k = sdmx_keys(input, c)?;
        match grouped.iter_mut().find(|(g, _)| g.same_series(&k)) {
            Some((_, obs)) => obs.push((c.year, v)),
            None => grouped.push((k, vec![(c.year, v)])),
        }
    }
    let (agency, rest) = SDMX_DATAFLOW.split_once(':').unwrap_or(("", SDMX_DATAFLOW));
    let (flow, version) = rest
        .split_once('(')
        .map_or((rest, "1.0"), |(f, v)| (f, v.trim_end_matches(')')));

    let mut w = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let value = |id: &str, v: &str| {
        let mut e = BytesStart::new("generic:Value");
        e.push_attribute(("id", id));
        e.push_attribute(("value", v));
        Event::Empty(e)
    };
    let text = |w: &mut quick_xml::Writer<Vec<u8>>, name: &str, t: &str| -> std::io::Result<()> {
        w.write_event(Event::Start(BytesStart::new(name)))?;
        w.write_event(Event::Text(BytesText::new(t)))?;
        w.write_event(Event::End(BytesEnd::new(name)))
    };
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("message:GenericData");
    root.push_attribute((
        "xmlns:message",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message",
    ));
    root.push_attribute((
        "xmlns:generic",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic",
    ));
    root.push_attribute((
        "xmlns:common",
        "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
    ));
    w.write_event(Event::Start(root))?;
    w.write_event(Event::Start(BytesStart::new("message:Header")))?;
    let id: String = format!(
        "{series}_{}_{}",
        input.ref_area,
        input.last_update.replace('-', "")
    );
    text(&mut w, "message:ID", &id)?;
    text(&mut w, "message:Test", "false")?;
    text(&mut w, "message:Prepared", prepared)?;
    let mut sender = BytesStart::new("message:Sender");
    sender.push_attribute(("id", "PASSAGE"));
    w.write_event(Event::Start(sender))?;
    let mut name = BytesStart::new("common:Name");
    name.push_attribute(("xml:lang", "en"));
    w.write_event(Event::Start(name))?;
    w.write_event(Event::Text(BytesText::new(input.compiling_org)))?;
    w.write_event(Event::End(BytesEnd::new("common:Name")))?;
    w.write_event(Event::End(BytesEnd::new("message:Sender")))?;
    let mut structure = BytesStart::new("message:Structure");
    structure.push_attribute(("structureID", flow));
    structure.push_attribute(("dimensionAtObservation", "TIME_PERIOD"));
    w.write_event(Event::Start(structure))?;
    w.write_event(Event::Start(BytesStart::new("common:StructureUsage")))?;
    let mut reference = BytesStart::new("Ref");
    reference.push_attribute(("agencyID", agency));
    reference.push_attribute(("id", flow));
    reference.push_attribute(("version", version));
    w.write_event(Event::Empty(reference))?;
    w.write_event(Event::End(BytesEnd::new("common:StructureUsage")))?;
    w.write_event(Event::End(BytesEnd::new("message:Structure")))?;
    w.write_event(Event::End(BytesEnd::new("message:Header")))?;

    let mut data = BytesStart::new("message:DataSet");
    data.push_attribute(("structureRef", flow));
    data.push_attribute(("action", "Replace"));
    w.write_event(Event::Start(data))?;
    for (k, observations) in &grouped {
        w.write_event(Event::Start(BytesStart::new("generic:Series")))?;
        w.write_event(Event::Start(BytesStart::new("generic:SeriesKey")))?;
        for (id, v) in [
            ("FREQ", "A"),
            ("REPORTING_TYPE", "N"),
            ("SERIES", series.as_str()),
            ("REF_AREA", input.ref_area),
            ("SEX", k.sex),
            ("AGE", k.age.as_str()),
            ("COMPOSITE_BREAKDOWN", k.composite),
            ("CUST_BREAKDOWN", k.custom.as_str()),
        ] {
            w.write_event(value(id, v))?;
        }
        w.write_event(Event::End(BytesEnd::new("generic:SeriesKey")))?;
        w.write_event(Event::Start(BytesStart::new("generic:Attributes")))?;
        w.write_event(value("UNIT_MEASURE", unit))?;
        w.write_event(value("UNIT_MULT", "0"))?;
        if !k.custom_label.is_empty() {
            w.write_event(value("CUST_BREAKDOWN_LB", &k.custom_label))?;
        }
        w.write_event(Event::End(BytesEnd::new("generic:Attributes")))?;
        for (year, v) in observations {
            w.write_event(Event::Start(BytesStart::new("generic:Obs")))?;
            let mut dim = BytesStart::new("generic:ObsDimension");
            dim.push_attribute(("value", year.to_string().as_str()));
            w.write_event(Event::Empty(dim))?;
            let mut obs = BytesStart::new("generic:ObsValue");
            obs.push_attribute(("value", v.as_str()));
            w.write_event(Event::Empty(obs))?;
            w.write_event(Event::Start(BytesStart::new("generic:Attributes")))?;
            w.write_event(value("OBS_STATUS", "A"))?;
            w.write_event(value("NATURE", "C"))?;
            w.write_event(Event::End(BytesEnd::new("generic:Attributes")))?;
            w.write_event(Event::End(BytesEnd::new("generic:Obs")))?;
        }
        w.write_event(Event::End(BytesEnd::new("generic:Series")))?;
    }
    w.write_event(Event::End(BytesEnd::new("message:DataSet")))?;
    w.write_event(Event::End(BytesEnd::new("message:GenericData")))?;
    let mut out = w.into_inner();
    out.push(b'\n');
    Ok(out)
}

/// HXL-tagged CSV for HDX: a header row, then the hashtag row. Disaggregations have no core
/// HXL hashtag that fits every field, so each gets a custom `#x_<field>` one.
pub fn hxl_csv(input: &ExportInput) -> Result<Vec<u8>, ExportError> {
    let cells = published(input)?;
    let country = iso3(input.ref_area).ok_or_else(|| ExportError::RefArea(input.ref_area.to_owned()))?;
    let fields = disaggregate(input);
    let i = input.indicator;
    let mut w = csv::Writer::from_writer(Vec::new());
    let labels = ["Indicator code", "Indicator", "Year", "Country"].map(str::to_owned);
    w.write_record(
        labels
            .into_iter()
            .chain((0..fields.len()).map(|d| dimension_label(input, d)))
            .chain(["Value", "Unit"].map(str::to_owned)),
    )?;
    let tags = [
        "#indicator+code",
        "#indicator+name",
        "#date+year",
        "#country+code",
    ]
    .map(str::to_owned);
    w.write_record(
        tags.into_iter()
            .chain(fields.iter().map(|f| hxl_tag(f)))
            .chain(["#indicator+value+num", "#x_unit"].map(str::to_owned)),
    )?;
    for (c, v) in cells {
        w.write_record(
            [
                i.code.clone(),
                i.title.clone(),
                c.year.to_string(),
                country.to_owned(),
            ]
            .into_iter()
            .chain(breakdown_labels(input, c))
            .chain([v, i.unit.clone()]),
        )?;
    }
    finish(w)
}

/// The SDMX series: the first series of the first linked SDG indicator that has one, else a
/// Passage-own code (`PSG_<code>`).
/// The indicator's declared SDG series, else a national series named after its code: a
/// link to an SDG indicator does not mean the figure is that indicator's series.
fn series_code(i: &Indicator) -> String {
    i.sdmx_series
        .clone()
        .unwrap_or_else(|| format!("PSG_{}", i.code.replace(['-', '.'], "_")))
}

/// `UNIT_MEASURE`: percent for shares, a number otherwise.
fn unit_measure(i: &Indicator) -> &'static str {
    if i.unit == "percent" { "PT" } else { "NUMBER" }
}

/// Migratory status in `COMPOSITE_BREAKDOWN`: `national` → `MS_NOMIGRANT`, no answer or
/// `unknown` → `_U`, every other category (returnee, refugee, labour migrant, …) →
/// `MS_MIGRANT`, since the DSD has no finer migrant codes.
pub fn migratory_status(code: &str) -> &'static str {
    match code {
        "national" => "MS_NOMIGRANT",
        "" | "unknown" => "_U",
        _ => "MS_MIGRANT",
    }
}

/// The SDMX dimension values of one published cell.
struct SdmxKeys {
    sex: &'static str,
    age: String,
    composite: &'static str,
    custom: String,
    custom_label: String,
}

impl SdmxKeys {
    fn same_series(&self, other: &Self) -> bool {
        (self.sex, &self.age, self.composite, &self.custom)
            == (other.sex, &other.age, other.composite, &other.custom)
    }
}

fn sdmx_keys(input: &ExportInput, c: &Cell) -> Result<SdmxKeys, ExportError> {
    let mut k = SdmxKeys {
        sex: "_T",
        age: "_T".into(),
        composite: "_T",
        custom: "_T".into(),
        custom_label: String::new(),
    };
    let Some(d) = c.dimension else {
        return Ok(k);
    };
    let field = disaggregate(input).get(d).ok_or(ExportError::NoDimension(d))?;
    let code = c.category.as_str();
    let unmapped = || ExportError::Unmapped {
        field: field.clone(),
        code: code.to_owned(),
    };
    if field == "sex" || field.ends_with("_sex") {
        k.sex = match code {
            "female" => "F",
            "male" => "M",
            "other" => "_O",
            "" | "unknown" => "_U",
            _ => return Err(unmapped()),
        };
    } else if field.ends_with("age_band") {
        k.age = match code {
            "" => "_U".into(),
            _ if reference::sdg().code_name("CL_AGE", code).is_some() => code.to_owned(),
            _ => return Err(unmapped()),
        };
    } else if field == "migratory_status" {
        k.composite = migratory_status(code);
    } else {
        k.custom = if code.is_empty() {
            "_U".into()
        } else {
            code.to_owned()
        };
        k.custom_label = format!(
            "{}: {}",
            dimension_label(input, d),
            category_label(input, d, code)
        );
    }
    Ok(k)
}

/// The cells that may be published, with their values as written, by year then total first
/// then disaggregation order (category order kept).
fn published<'c>(input: &ExportInput<'c>) -> Result<Vec<(&'c Cell, String)>, ExportError> {
    let cells = &input.outcome.cells;
    if input.hidden.len() != cells.len() {
        return Err(ExportError::Mismatch {
            cells: cells.len(),
            hidden: input.hidden.len(),
        });
    }
    let dims = dimensions(input);
    if let Some(d) = cells.iter().filter_map(|c| c.dimension).find(|d| *d >= dims) {
        return Err(ExportError::NoDimension(d));
    }
    let mut out: Vec<(&Cell, String)> = cells
        .iter()
        .zip(input.hidden)
        .filter(|(_, hide)| !**hide)
        .filter_map(|(c, _)| c.value.filter(|v| v.is_finite()).map(|v| (c, v.to_string())))
        .collect();
    out.sort_by_key(|(c, _)| (c.year, c.dimension));
    Ok(out)
}

fn disaggregate<'a>(input: &ExportInput<'a>) -> &'a [String] {
    input
        .indicator
        .computation
        .as_ref()
        .map_or(&[], |c| c.disaggregate.as_slice())
}

fn dimensions(input: &ExportInput) -> usize {
    disaggregate(input).len()
}

/// The disaggregation columns of a wide row: only the cell's own one is filled.
fn breakdown_labels<'a>(input: &'a ExportInput, c: &'a Cell) -> impl Iterator<Item = String> + 'a {
    (0..dimensions(input)).map(move |d| {
        if c.dimension == Some(d) {
            category_label(input, d, &c.category)
        } else {
            String::new()
        }
    })
}

/// A category's label, never blank: a blank would read as "all" in Open SDG.
fn category_label(input: &ExportInput, d: usize, code: &str) -> String {
    if code.is_empty() || code == "unknown" {
        return "Unknown".into();
    }
    non_blank((input.category_label)(d, code), code)
}

fn dimension_label(input: &ExportInput, d: usize) -> String {
    let field = disaggregate(input).get(d).map_or("", String::as_str);
    non_blank((input.dimension_label)(d), field)
}

fn non_blank(label: String, fallback: &str) -> String {
    match label.trim() {
        "" => fallback.to_owned(),
        t => t.to_owned(),
    }
}

fn hxl_tag(field: &str) -> String {
    let name: String = field
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("#x_{name}")
}

/// ISO 3166-1 alpha-3 of an M49 area (HDX keys countries by ISO 3).
fn iso3(m49: &str) -> Option<&'static str> {
    match m49 {
        "430" => Some("LBR"),
        _ => None,
    }
}

/// A YAML double-quoted scalar's content.
fn yaml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{FieldSpec, Kind, Schema, SourceKind, SourceRef, Sources, load};

    fn indicator(extra: &str) -> Indicator {
        let mut s = Schema::default();
        for f in ["sex", "age_band", "migratory_status", "nationality"] {
            s.add(f, FieldSpec::new(Kind::Category, f));
        }
        s.add("registered", FieldSpec::new(Kind::Date, "Registered"));
        let mut sources = Sources::new();
        let source = SourceRef {
            kind: SourceKind::Cases,
            programme: "ct".into(),
            repeat: None,
        };
        sources.insert(source, s);
        let text = format!(
            "[[indicator]]\ncode = \"CT-9\"\ntitle = \"Victims \\\"identified\\\"\"\nunit = \"persons\"\n\
             programme = \"ct\"\ndate = \"registered\"\n\
             disaggregate = [\"sex\", \"age_band\", \"migratory_status\", \"nationality\"]\n{extra}"
        );
        load("t.toml", &text, &sources).unwrap().remove(0)
    }

    fn cell(year: i32, dimension: Option<usize>, category: &str, value: Option<f64>) -> Cell {
        Cell {
            year,
            dimension,
            category: category.into(),
            value,
            n: 10,
        }
    }

    /// Cells out of order on purpose; index 2 is hidden, index 3 has no value.
    fn outcome() -> (Outcome, Vec<bool>) {
        let cells = vec![
            cell(2026, None, "", Some(7.0)),
            cell(2025, Some(0), "female", Some(12.0)),
            cell(2025, Some(0), "male", Some(3.0)),
            cell(2025, Some(1), "Y15T17", None),
            cell(2025, Some(0), "", Some(1.0)),
            cell(2025, Some(1), "Y_GE65", Some(4.0)),
            cell(2025, Some(2), "national", Some(9.0)),
            cell(2025, Some(2), "returnee", Some(6.0)),
            cell(2025, Some(3), "GIN", Some(8.5)),
            cell(2025, None, "", Some(16.0)),
        ];
        let mut hidden = vec![false; cells.len()];
        hidden[2] = true;
        let outcome = Outcome {
            cells,
            notes: vec!["2 record(s) have no registered and are in no period".into()],
        };
        (outcome, hidden)
    }

    fn labels(_: usize, code: &str) -> String {
        match code {
            "female" => "Female".to_owned(),
            "GIN" => "Guinea, Republic of".to_owned(),
            other => other.to_uppercase(),
        }
    }

    fn dims(d: usize) -> String {
        ["Sex", "Age band", "Migratory status", "Nationality"][d].to_owned()
    }

    fn input<'a>(indicator: &'a Indicator, outcome: &'a Outcome, hidden: &'a [bool]) -> ExportInput<'a> {
        ExportInput {
            indicator,
            outcome,
            hidden,
            category_label: &labels,
            dimension_label: &dims,
            ref_area: "430",
            last_update: "2026-03-01",
            compiling_org: "IOM Liberia",
        }
    }

    /// Parse an export back with the csv crate (and check Open SDG's no-trailing-whitespace rule).
    fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(
            text.lines().all(|l| l == l.trim_end()),
            "trailing whitespace:\n{text}"
        );
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    type Export = fn(&ExportInput) -> Result<Vec<u8>, ExportError>;

    fn rows(f: Export) -> Vec<Vec<String>> {
        let (out, hidden) = outcome();
        let ind = indicator("sdg = [\"10.7\", \"10.7.3\"]\nsdmx_series = \"SM_DTH_MIGR\"");
        parse(&f(&input(&ind, &out, &hidden)).unwrap())
    }

    #[test]
    fn open_sdg_rows_are_wide_with_blank_totals() {
        let r = rows(open_sdg_csv);
        assert_eq!(
            r[0],
            [
                "Year",
                "Sex",
                "Age band",
                "Migratory status",
                "Nationality",
                "Value"
            ]
        );
        assert_eq!(r[1], ["2025", "", "", "", "", "16"]);
        assert_eq!(r[2], ["2025", "Female", "", "", "", "12"]);
        assert_eq!(r[3], ["2025", "Unknown", "", "", "", "1"]);
        assert_eq!(r[4], ["2025", "", "Y_GE65", "", "", "4"]);
        assert_eq!(r[7], ["2025", "", "", "", "Guinea, Republic of", "8.5"]);
        assert_eq!(r[8], ["2026", "", "", "", "", "7"]);
        assert_eq!(r.len(), 9, "hidden and value-less cells are not written");
        assert!(!r.iter().flatten().any(|c| c == "MALE" || c == "Y15T17"));
    }

    #[test]
    fn sdmx_ml_holds_the_same_observations_as_sdmx_csv_grouped_in_series() {
        use quick_xml::events::Event;
        let (out, hidden) = outcome();
        let ind = indicator("sdg = [\"10.7\", \"10.7.3\"]\nsdmx_series = \"SM_DTH_MIGR\"");
        let xml = sdmx_ml(&input(&ind, &out, &hidden), "2026-03-01T10:00:00").unwrap();
        // Every observation as (series key, year, value), read back with an XML parser.
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        let (mut key, mut year, mut series, mut in_key) = (Vec::new(), String::new(), 0, false);
        let mut found = Vec::new();
        let mut header = Vec::new();
        let mut buf = Vec::new();
        let attr = |e: &quick_xml::events::BytesStart, name: &str| {
            e.try_get_attribute(name)
                .unwrap()
                .map(|a| {
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned()
                })
                .unwrap_or_default()
        };
        loop {
            let event = reader.read_event_into(&mut buf).unwrap();
            match event {
                Event::Start(e) if e.name().0 == "generic:Series" => {
                    series += 1;
                    key.clear();
                }
                Event::Start(e) if e.name().0 == "generic:SeriesKey" => in_key = true,
                Event::End(e) if e.name().0 == "generic:SeriesKey" => in_key = false,
                Event::Empty(e) if in_key && e.name().0 == "generic:Value" => {
                    key.push(attr(&e, "value"));
                }
                Event::Empty(e) if e.name().0 == "generic:ObsDimension" => year = attr(&e, "value"),
                Event::Empty(e) if e.name().0 == "generic:ObsValue" => {
                    let mut row = key.clone();
                    row.push(year.clone());
                    row.push(attr(&e, "value"));
                    found.push(row);
                }
                Event::Empty(e) if e.name().0 == "Ref" => {
                    header.push(format!(
                        "{}:{}({})",
                        attr(&e, "agencyID"),
                        attr(&e, "id"),
                        attr(&e, "version")
                    ));
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        assert_eq!(header, [SDMX_DATAFLOW]);
        // The CSV's columns FREQ..CUST_BREAKDOWN, TIME_PERIOD and OBS_VALUE.
        let mut expected: Vec<Vec<String>> = rows(sdmx_csv)[1..].iter().map(|r| r[1..11].to_vec()).collect();
        found.sort();
        expected.sort();
        assert_eq!(found, expected);
        assert!(series < found.len(), "years of one breakdown share a series");
        let text = String::from_utf8(xml).unwrap();
        assert!(text.contains("<message:Prepared>2026-03-01T10:00:00</message:Prepared>"));
        assert!(
            text.contains("Nationality: Guinea, Republic of"),
            "custom breakdowns keep their label"
        );
    }

    #[test]
    fn sdmx_maps_breakdowns_to_the_sdg_dimensions() {
        let r = rows(sdmx_csv);
        assert_eq!(r[0], SDMX_HEADER);
        let find = |sex: &str, age: &str, comp: &str, cust: &str| {
            r.iter()
                .find(|row| {
                    row[5] == sex && row[6] == age && row[7] == comp && row[8] == cust && row[9] == "2025"
                })
                .unwrap_or_else(|| panic!("no row {sex} {age} {comp} {cust} in {r:?}"))
        };
        assert_eq!(
            find("_T", "_T", "_T", "_T"),
            &[
                SDMX_DATAFLOW,
                "A",
                "N",
                "SM_DTH_MIGR",
                "430",
                "_T",
                "_T",
                "_T",
                "_T",
                "2025",
                "16",
                "NUMBER",
                "0",
                "A",
                "C",
                ""
            ]
        );
        assert_eq!(find("F", "_T", "_T", "_T")[10], "12");
        assert_eq!(find("_U", "_T", "_T", "_T")[10], "1");
        assert_eq!(find("_T", "Y_GE65", "_T", "_T")[10], "4");
        assert_eq!(find("_T", "_T", "MS_NOMIGRANT", "_T")[10], "9");
        assert_eq!(find("_T", "_T", "MS_MIGRANT", "_T")[10], "6");
        assert_eq!(
            find("_T", "_T", "_T", "GIN")[15],
            "Nationality: Guinea, Republic of"
        );
        assert!(!r.iter().any(|row| row[5] == "M" || row[6] == "Y15T17"));
        assert_eq!(r.len(), 9);
    }

    #[test]
    fn sdmx_falls_back_to_a_passage_series_and_refuses_what_it_cannot_map() {
        let mut ind = indicator("");
        ind.unit = "percent".into();
        let one = |category: &str, dimension| Outcome {
            cells: vec![cell(2025, dimension, category, Some(50.0))],
            notes: vec![],
        };
        let total = one("", None);
        let r = parse(&sdmx_csv(&input(&ind, &total, &[false])).unwrap());
        assert_eq!((r[1][3].as_str(), r[1][11].as_str()), ("PSG_CT_9", "PT"));
        for (category, dimension) in [("Y15T16", 1), ("woman", 0)] {
            let odd = one(category, Some(dimension));
            let e = sdmx_csv(&input(&ind, &odd, &[false]));
            assert!(matches!(e, Err(ExportError::Unmapped { .. })), "{e:?}");
        }
        let e = open_sdg_csv(&input(&ind, &total, &[]));
        assert!(matches!(e, Err(ExportError::Mismatch { .. })), "{e:?}");
        let beyond = one("x", Some(4));
        let e = hxl_csv(&input(&ind, &beyond, &[true]));
        assert!(matches!(e, Err(ExportError::NoDimension(4))), "{e:?}");
    }

    #[test]
    fn hxl_has_a_hashtag_row_and_no_hidden_cells() {
        let r = rows(hxl_csv);
        assert_eq!(
            r[0],
            [
                "Indicator code",
                "Indicator",
                "Year",
                "Country",
                "Sex",
                "Age band",
                "Migratory status",
                "Nationality",
                "Value",
                "Unit"
            ]
        );
        assert_eq!(
            r[1],
            [
                "#indicator+code",
                "#indicator+name",
                "#date+year",
                "#country+code",
                "#x_sex",
                "#x_age_band",
                "#x_migratory_status",
                "#x_nationality",
                "#indicator+value+num",
                "#x_unit"
            ]
        );
        assert_eq!(
            r[2],
            [
                "CT-9",
                "Victims \"identified\"",
                "2025",
                "LBR",
                "",
                "",
                "",
                "",
                "16",
                "persons"
            ]
        );
        assert_eq!(r.len(), 10);
        assert!(!r.iter().flatten().any(|c| c == "MALE" || c == "Y15T17"));
    }

    #[test]
    fn metadata_is_flat_quoted_yaml() {
        let (out, hidden) = outcome();
        let ind = indicator("sdg = [\"10.7\", \"10.7.3\"]\ndescription = \"Back\\\\slash\\nnext\"");
        let y = open_sdg_meta_yaml(&input(&ind, &out, &hidden));
        assert!(y.contains("SDG_INDICATOR: \"10.7.3\"\n"), "{y}");
        assert!(
            y.contains("SDG_SERIES_DESCR: \"Victims \\\"identified\\\"\"\n"),
            "{y}"
        );
        assert!(y.contains("STAT_CONC_DEF: \"Back\\\\slash\\nnext\"\n"), "{y}");
        assert!(y.contains("DATA_SOURCE: \"Passage case records\"\n"));
        assert!(y.contains("COMMENT_TS: \"2 record(s) have no registered and are in no period.\"\n"));
        assert!(y.contains("REC_USE_LIM: \"Counts resting on fewer"));
        assert_eq!(y.lines().count(), 9);
        assert!(y.lines().all(|l| l.ends_with('"') && l.contains(": \"")));
    }
}
