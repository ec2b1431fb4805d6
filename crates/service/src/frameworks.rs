//! The frameworks the mission edits: the UN Cooperation Framework's results matrix
//! (strategic priority → outcome → output → key activity) and the national development
//! plan's pillars, each node with lead agencies, SDG targets, markers and the indicators that
//! measure it; and the UNSDCF progress report built from them.

use crate::error::{ServiceError, conflict_as};
use crate::indicators::IndicatorFilter;
use crate::reports::{shown, status};
use crate::{Ctx, Passage, authorize};
use passage_domain::{Actor, AuditAction, InvalidValue, Permission, Scope};
use passage_reports::{Block, Report, Table};
use passage_store::frameworks::{self, Node};

/// The levels of each framework, from the top.
pub const UNSDCF_LEVELS: [(&str, &str); 4] = [
    ("strategic_priority", "Strategic priority"),
    ("outcome", "Outcome"),
    ("output", "Output"),
    ("key_activity", "Key activity"),
];
pub const NATIONAL_LEVELS: [(&str, &str); 2] = [("pillar", "Pillar"), ("outcome", "Outcome")];

pub fn levels(framework: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match framework {
        "unsdcf" => Some(&UNSDCF_LEVELS),
        "national" => Some(&NATIONAL_LEVELS),
        _ => None,
    }
}

/// A node as a form sends it (everything text, checked here).
#[derive(Debug, Clone, Default)]
pub struct NodeInput {
    /// Set to change an existing node.
    pub id: Option<uuid::Uuid>,
    pub parent: Option<uuid::Uuid>,
    pub code: String,
    pub title: String,
    pub lead_agencies: String,
    pub sdg_targets: String,
    pub gender_marker: String,
    pub human_rights_marker: String,
    pub indicators: String,
}

fn list(raw: &str) -> Vec<String> {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn marker(field: &'static str, raw: &str) -> Result<Option<i32>, ServiceError> {
    match raw.trim() {
        "" => Ok(None),
        m => m
            .parse::<i32>()
            .ok()
            .filter(|m| (0..=3).contains(m))
            .map(Some)
            .ok_or_else(|| InvalidValue::new(field, "must be a marker from 0 to 3").into()),
    }
}

impl Passage {
    /// A framework's nodes, ordered by code.
    pub async fn framework_nodes(&self, actor: &Actor, framework: &str) -> Result<Vec<Node>, ServiceError> {
        if !actor.has_anywhere(Permission::IndicatorsView) {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        levels(framework).ok_or(ServiceError::NotFound)?;
        let mut pooled = self.db.acquire().await?;
        Ok(frameworks::nodes(&mut pooled.conn(), framework).await?)
    }

    /// Add or change a node. Its level follows from its parent (one below it; the top level
    /// without a parent); codes are unique in a framework; SDG targets look like `10.7`;
    /// markers run 0–3; indicators must be in the catalogue.
    pub async fn save_framework_node(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        framework: &str,
        input: &NodeInput,
    ) -> Result<Node, ServiceError> {
        authorize(actor, Permission::IndicatorsManage, Scope::Installation)?;
        let levels = levels(framework).ok_or(ServiceError::NotFound)?;
        let nodes = self.framework_nodes(actor, framework).await?;
        let depth = match input.parent {
            None => 0,
            Some(p) => {
                let parent = nodes
                    .iter()
                    .find(|n| n.id == p)
                    .ok_or_else(|| InvalidValue::new("parent", "is not a node of this framework"))?;
                levels.iter().position(|(l, _)| *l == parent.level).unwrap_or(0) + 1
            }
        };
        let (level, _) = levels
            .get(depth)
            .ok_or_else(|| InvalidValue::new("parent", "is at the lowest level: nothing goes under it"))?;
        if input.id.is_some_and(|id| Some(id) == input.parent) {
            return Err(InvalidValue::new("parent", "cannot be the node itself").into());
        }
        let (code, title) = (input.code.trim(), input.title.trim());
        if code.is_empty() || code.chars().count() > 20 {
            return Err(InvalidValue::new("code", "is required (at most 20 characters, e.g. 2.1)").into());
        }
        if title.is_empty() || title.chars().count() > 500 {
            return Err(InvalidValue::new("title", "is required (at most 500 characters)").into());
        }
        let targets = list(&input.sdg_targets);
        let target_shape = |t: &str| {
            t.split_once('.').is_some_and(|(g, r)| {
                g.parse::<u8>().is_ok_and(|g| (1..=17).contains(&g))
                    && !r.is_empty()
                    && r.chars().all(|c| c.is_ascii_alphanumeric())
            })
        };
        if let Some(bad) = targets.iter().find(|t| !target_shape(t)) {
            return Err(InvalidValue::new(
                "sdg_targets",
                format!("'{bad}' is not an SDG target code such as 10.7"),
            )
            .into());
        }
        if targets.len() > 10 {
            return Err(InvalidValue::new("sdg_targets", "may name at most 10 targets").into());
        }
        let catalogue = self.indicator_catalogue().await?;
        let indicators = list(&input.indicators);
        if let Some(bad) = indicators.iter().find(|c| catalogue.get(c).is_none()) {
            return Err(InvalidValue::new("indicators", format!("'{bad}' is not an indicator code")).into());
        }
        let node = Node {
            id: input.id.unwrap_or_else(uuid::Uuid::now_v7),
            framework: framework.to_owned(),
            parent_id: input.parent,
            level: (*level).to_owned(),
            code: code.to_owned(),
            title: title.to_owned(),
            lead_agencies: list(&input.lead_agencies).join(", "),
            sdg_targets: targets.join(", "),
            gender_marker: marker("gender_marker", &input.gender_marker)?,
            human_rights_marker: marker("human_rights_marker", &input.human_rights_marker)?,
            indicators: indicators.join(", "),
            updated_at: self.now().micros(),
        };
        if input.id.is_some_and(|id| !nodes.iter().any(|n| n.id == id)) {
            return Err(ServiceError::NotFound);
        }
        let mut tx = self.db.begin().await?;
        frameworks::put_node(&mut tx.conn(), &node)
            .await
            .map_err(conflict_as("a node with this code"))?;
        let event = self
            .event(ctx, AuditAction::FrameworkEdited, actor.user_id())
            .detail("framework", framework)
            .detail("code", code)
            .detail("change", if input.id.is_some() { "changed" } else { "added" });
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(node)
    }

    /// Remove a node without children.
    pub async fn delete_framework_node(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        framework: &str,
        id: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::IndicatorsManage, Scope::Installation)?;
        let nodes = self.framework_nodes(actor, framework).await?;
        let node = nodes.iter().find(|n| n.id == id).ok_or(ServiceError::NotFound)?;
        if nodes.iter().any(|n| n.parent_id == Some(id)) {
            return Err(InvalidValue::new("node", "has nodes under it: remove those first").into());
        }
        let mut tx = self.db.begin().await?;
        frameworks::delete_node(&mut tx.conn(), id).await?;
        let event = self
            .event(ctx, AuditAction::FrameworkEdited, actor.user_id())
            .detail("framework", framework)
            .detail("code", &node.code)
            .detail("change", "removed");
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The UNSDCF progress report: the results matrix with, for every indicator of every
    /// outcome and output, its baseline, the year's target and actual value, and status.
    pub async fn unsdcf_report(
        &self,
        actor: &Actor,
        filter: &IndicatorFilter,
    ) -> Result<Report, ServiceError> {
        let d = self
            .dashboard(
                actor,
                &IndicatorFilter {
                    programme: None,
                    ..filter.clone()
                },
            )
            .await?;
        let year = d.year;
        let nodes = self.framework_nodes(actor, "unsdcf").await?;
        let mut blocks = vec![Block::Note(format!(
            "Results matrix of the UN Sustainable Development Cooperation Framework as entered in Passage; actual values \
             for {year} computed from case records (figures resting on fewer than {} records shown as “<{}” unless \
             the reader may see exact values).",
            d.threshold, d.threshold
        ))];
        if nodes.is_empty() {
            blocks.push(Block::Paragraph(
                "No results matrix has been entered yet (Frameworks page).".into(),
            ));
        }
        let children = |id: Option<uuid::Uuid>| nodes.iter().filter(move |n| n.parent_id == id);
        let row = |n: &Node| -> Vec<Vec<String>> {
            let codes = list(&n.indicators);
            if codes.is_empty() {
                return vec![vec![
                    format!("{} {}", n.code, n.title),
                    "(no indicator)".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]];
            }
            codes
                .iter()
                .map(|code| {
                    let f = d.figures.iter().find(|f| f.indicator.code == *code);
                    let i = f.map(|f| &f.indicator);
                    let unit = i.map_or("", |i| i.unit.as_str());
                    let (actual, value) =
                        f.and_then(|f| f.total(year))
                            .map_or(("n/a".to_owned(), None), |(c, hidden)| {
                                (
                                    shown(c.value, hidden, unit, d.threshold),
                                    if hidden { None } else { c.value },
                                )
                            });
                    let baseline = i.and_then(|i| i.baseline.as_ref()).map_or_else(String::new, |b| {
                        format!("{} ({})", shown(Some(b.value), false, unit, d.threshold), b.year)
                    });
                    let target = i
                        .and_then(|i| i.targets.get(&year))
                        .map_or_else(String::new, |t| shown(Some(*t), false, unit, d.threshold));
                    let state = i.map_or("unknown indicator", |i| status(i, value, year));
                    vec![
                        format!("{} {}", n.code, n.title),
                        format!("{} ({code})", i.map_or("", |i| i.title.as_str())),
                        baseline,
                        target,
                        actual,
                        state.to_owned(),
                    ]
                })
                .collect()
        };
        let header: Vec<String> = [
            "Result",
            "Indicator",
            "Baseline",
            &format!("Target {year}"),
            &format!("Actual {year}"),
            "Status",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for sp in children(None) {
            blocks.push(Block::Heading {
                level: 1,
                text: format!("{} {}", sp.code, sp.title),
                anchor: sp.code.clone(),
            });
            for outcome in children(Some(sp.id)) {
                blocks.push(Block::Heading {
                    level: 2,
                    text: format!("Outcome {} {}", outcome.code, outcome.title),
                    anchor: outcome.code.clone(),
                });
                let mut facts = Vec::new();
                if !outcome.lead_agencies.is_empty() {
                    facts.push(format!("Lead: {}", outcome.lead_agencies));
                }
                if !outcome.sdg_targets.is_empty() {
                    facts.push(format!("SDG targets: {}", outcome.sdg_targets));
                }
                if !facts.is_empty() {
                    blocks.push(Block::Note(facts.join(" · ")));
                }
                let mut rows = row(outcome);
                for output in children(Some(outcome.id)) {
                    rows.extend(row(output));
                }
                blocks.push(Block::Table(Table {
                    header: header.clone(),
                    rows,
                }));
                let activities: Vec<String> = children(Some(outcome.id))
                    .flat_map(|o| children(Some(o.id)))
                    .map(|a| {
                        let markers = match (a.gender_marker, a.human_rights_marker) {
                            (None, None) => String::new(),
                            (g, h) => format!(
                                " (gender marker {}, human rights marker {})",
                                g.map_or("–".into(), |g| g.to_string()),
                                h.map_or("–".into(), |h| h.to_string())
                            ),
                        };
                        format!("{} {}{markers}", a.code, a.title)
                    })
                    .collect();
                if !activities.is_empty() {
                    blocks.push(Block::Paragraph(format!(
                        "Key activities: {}.",
                        activities.join("; ")
                    )));
                }
            }
        }
        Ok(Report {
            title: format!("UN Cooperation Framework: progress report {year}"),
            subtitle: format!(
                "Results matrix with baseline, target, actual and status for {year}, computed by Passage."
            ),
            file_stem: format!("unsdcf-progress-{year}"),
            blocks,
        })
    }
}
