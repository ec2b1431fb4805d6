//! The Global Compact for Migration and the migration-relevant SDG targets and indicators,
//! compiled in from `reference/` (see its README for the sources).

use serde::Deserialize;
use std::sync::OnceLock;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Gcm {
    pub guiding_principles: Vec<GuidingPrinciple>,
    pub objectives: Vec<Objective>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GuidingPrinciple {
    pub id: String,
    pub paragraph: String,
    pub name: String,
    pub summary: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Objective {
    pub number: u32,
    pub id: String,
    pub title: String,
    pub short_name: String,
    pub commitment_paragraph: u32,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub id: String,
    #[serde(rename = "ref")]
    pub paragraph: String,
    pub label: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sdg {
    pub targets: Vec<SdgTarget>,
    pub indicators: Vec<SdgIndicator>,
    #[serde(default)]
    pub sdmx: Sdmx,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sdmx {
    #[serde(default)]
    pub codelists: std::collections::BTreeMap<String, Codelist>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Codelist {
    pub id: String,
    #[serde(default)]
    pub codes: Vec<Code>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Code {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SdgTarget {
    pub code: String,
    pub goal: u32,
    pub title: String,
    #[serde(default)]
    pub indicators: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SdgIndicator {
    pub code: String,
    pub target: String,
    pub title: String,
    #[serde(default)]
    pub custodian_agencies: Vec<String>,
    #[serde(default)]
    pub sdmx_series: Vec<SdmxSeries>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SdmxSeries {
    pub code: String,
}

/// The GCM as published (parsed once; the file is part of the binary).
pub fn gcm() -> &'static Gcm {
    static GCM: OnceLock<Gcm> = OnceLock::new();
    GCM.get_or_init(|| parse(include_str!("../../../reference/gcm.json")))
}

/// The migration-relevant SDG targets and indicators.
pub fn sdg() -> &'static Sdg {
    static SDG: OnceLock<Sdg> = OnceLock::new();
    SDG.get_or_init(|| parse(include_str!("../../../reference/sdg_migration.json")))
}

fn parse<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    // The files are compiled in and checked by the tests below, so a parse failure can only
    // come from a broken build; an empty framework is then safer than a crash at run time.
    serde_json::from_str(text).unwrap_or_default()
}

impl Gcm {
    pub fn objective(&self, id: &str) -> Option<&Objective> {
        self.objectives.iter().find(|o| o.id == id)
    }

    /// The title of any GCM id: a principle, an objective or an action.
    pub fn title(&self, id: &str) -> Option<&str> {
        if let Some(p) = self.guiding_principles.iter().find(|p| p.id == id) {
            return Some(&p.name);
        }
        for o in &self.objectives {
            if o.id == id {
                return Some(&o.title);
            }
            if let Some(a) = o.actions.iter().find(|a| a.id == id) {
                return Some(&a.label);
            }
        }
        None
    }

    /// The objective an id belongs to (`GCM-O21-a` → objective 21).
    pub fn objective_of(&self, id: &str) -> Option<&Objective> {
        self.objectives
            .iter()
            .find(|o| id == o.id || id.strip_prefix(o.id.as_str()).is_some_and(|r| r.starts_with('-')))
    }
}

impl Sdg {
    pub fn indicator(&self, code: &str) -> Option<&SdgIndicator> {
        self.indicators.iter().find(|i| i.code == code)
    }
    pub fn target(&self, code: &str) -> Option<&SdgTarget> {
        self.targets.iter().find(|t| t.code == code)
    }
    /// The name of a code in an SDMX code list (`CL_AGE`, `Y15T17` → "15 to 17 years old").
    pub fn code_name(&self, list: &str, code: &str) -> Option<&str> {
        let list = self.sdmx.codelists.get(list)?;
        list.codes
            .iter()
            .find(|c| c.code == code)
            .map(|c| c.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_has_its_published_shape() {
        let g = gcm();
        assert_eq!(g.guiding_principles.len(), 10);
        assert_eq!(g.objectives.len(), 23);
        let actions: usize = g.objectives.iter().map(|o| o.actions.len()).sum();
        assert_eq!(actions, 187);
        // Objective N is paragraph 16 + N of the annex.
        assert!(
            g.objectives
                .iter()
                .all(|o| o.commitment_paragraph == 16 + o.number)
        );
        assert_eq!(g.objective_of("GCM-O21-a").map(|o| o.number), Some(21));
        assert_eq!(g.objective_of("GCM-O02-a").map(|o| o.number), Some(2));
        assert!(g.title("GCM-GP-f").is_some_and(|t| t.contains("Human rights")));
    }

    #[test]
    fn sdg_core_migration_indicators_are_present() {
        let s = sdg();
        for code in [
            "10.7.1", "10.7.2", "10.7.3", "10.7.4", "16.2.2", "8.7.1", "17.18.1",
        ] {
            assert!(s.indicator(code).is_some(), "{code}");
        }
        assert!(s.target("10.7").is_some());
        assert!(s.indicator("10.7.3").is_some_and(|i| !i.sdmx_series.is_empty()));
        assert_eq!(s.code_name("CL_AGE", "Y15T17"), Some("15 to 17 years old"));
    }
}
