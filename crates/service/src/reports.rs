//! Reports built from the indicators: the GCM voluntary review (per objective: narrative,
//! linked indicators with status, capacity-building activities) and a programme report. One
//! document model, rendered as HTML, XLSX and PDF by the caller.

use crate::error::ServiceError;
use crate::indicators::{Dashboard, IndicatorFigures, IndicatorFilter};
use crate::{Ctx, Passage, authorize};
use passage_domain::{Actor, AuditAction, Permission, Scope};
use passage_indicators::Indicator;
use passage_indicators::definition::Direction;
use passage_reports::{Block, Report, Table};

/// The report key of the GCM voluntary review (narratives are stored under it).
pub const GCM_REVIEW: &str = "gcm_review";
/// Longest narrative accepted for one section.
pub const MAX_NARRATIVE_CHARS: usize = 10_000;

/// How far an indicator is from its target for the year.
pub fn status(indicator: &Indicator, actual: Option<f64>, year: i32) -> &'static str {
    let (Some(target), Some(actual)) = (indicator.targets.get(&year), actual) else {
        return if indicator.targets.contains_key(&year) {
            "no data"
        } else {
            "no target"
        };
    };
    let progress = match indicator.direction {
        Direction::Increase if *target > 0.0 => actual / target,
        Direction::Decrease if actual > 0.0 => target / actual,
        _ => 1.0,
    };
    if progress >= 1.0 {
        "achieved"
    } else if progress >= 0.75 {
        "on track"
    } else {
        "behind"
    }
}

/// A figure as pages and reports show it: hidden cells read "<5", missing values "n/a",
/// whole numbers with thousands separators.
pub fn shown(value: Option<f64>, hidden: bool, unit: &str, threshold: u64) -> String {
    match (value, hidden) {
        (_, true) => format!("<{threshold}"),
        (None, _) => "n/a".into(),
        (Some(v), _) if unit == "percent" => format!("{v:.1} %"),
        (Some(v), _) if (v - v.round()).abs() < 1e-9 => group_thousands(v.round() as i64),
        (Some(v), _) => format!("{v:.1}"),
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn total(f: &IndicatorFigures, year: i32, threshold: u64) -> (String, Option<f64>) {
    match f.total(year) {
        Some((cell, hidden)) => (
            shown(cell.value, hidden, &f.indicator.unit, threshold),
            if hidden { None } else { cell.value },
        ),
        None => ("n/a".into(), None),
    }
}

/// The figure of one category of one disaggregation (e.g. activities under `GCM-O10`).
fn category(f: Option<&IndicatorFigures>, year: i32, dimension: usize, code: &str, threshold: u64) -> String {
    let Some(f) = f else { return "n/a".into() };
    f.breakdown(year, dimension)
        .into_iter()
        .find(|(c, _)| c.category == code)
        .map_or_else(
            || "0".to_owned(),
            |(c, hidden)| shown(c.value, hidden, &f.indicator.unit, threshold),
        )
}

fn scope_line(d: &Dashboard, filter: &IndicatorFilter, what: &str) -> String {
    let county = filter
        .county
        .as_deref()
        .map(|c| format!(", county {c}"))
        .unwrap_or_default();
    let exact = if d.exact {
        "Exact figures: for use inside the mission.".to_owned()
    } else {
        format!(
            "Figures resting on fewer than {} records are shown as “<{}”.",
            d.threshold, d.threshold
        )
    };
    format!(
        "{what} for {}{county}, computed by Passage from case records. {exact}",
        d.year
    )
}

impl Passage {
    /// The GCM voluntary review for the filter's year: one section per objective with its
    /// narrative, the indicators linked to it (actual, target, status) and the
    /// capacity-building activities that served it.
    pub async fn gcm_review(&self, actor: &Actor, filter: &IndicatorFilter) -> Result<Report, ServiceError> {
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
        let narratives = self.narratives(GCM_REVIEW, year).await?;
        let figure = |code: &str| d.figures.iter().find(|f| f.indicator.code == code);
        let (activities, participants) = (figure("CAP-05"), figure("CAP-06"));
        let gcm = passage_indicators::reference::gcm();
        let mut blocks = vec![
            Block::Heading {
                level: 1,
                text: "About this review".into(),
                anchor: "about".into(),
            },
            Block::Paragraph(format!(
                "This review follows the 23 objectives of the Global Compact for Safe, Orderly and Regular \
                 Migration (A/RES/73/195). Under each objective it gives the narrative written by the mission, \
                 the indicators Passage computes from case work that serve the objective, with their actual value, \
                 target and status for {year}, and the capacity-building activities held under it."
            )),
            Block::Note(scope_line(&d, filter, "Figures")),
            Block::Heading {
                level: 1,
                text: "Objectives".into(),
                anchor: "objectives".into(),
            },
        ];
        for o in &gcm.objectives {
            blocks.push(Block::Heading {
                level: 2,
                text: format!("Objective {}: {}", o.number, o.title),
                anchor: o.id.clone(),
            });
            blocks.push(Block::Note(format!(
                "{} · A/RES/73/195, paragraph {} · {} actions",
                o.short_name,
                o.commitment_paragraph,
                o.actions.len()
            )));
            let narrative = narratives
                .iter()
                .find(|(s, _)| *s == o.id)
                .map(|(_, b)| b.clone());
            blocks.push(Block::Paragraph(narrative.unwrap_or_else(|| {
                format!("No narrative has been written for {year} yet.")
            })));
            let serves = |id: &String| {
                *id == o.id || id.strip_prefix(o.id.as_str()).is_some_and(|r| r.starts_with('-'))
            };
            let linked: Vec<&IndicatorFigures> = d
                .figures
                .iter()
                .filter(|f| f.indicator.links.gcm.iter().any(serves))
                .collect();
            if linked.is_empty() {
                blocks.push(Block::Note(
                    "No Passage indicator is linked to this objective.".into(),
                ));
            } else {
                let rows = linked
                    .iter()
                    .map(|f| {
                        let (now, value) = total(f, year, d.threshold);
                        let (before, _) = total(f, year - 1, d.threshold);
                        let target = f.indicator.targets.get(&year).map_or_else(String::new, |t| {
                            shown(Some(*t), false, &f.indicator.unit, d.threshold)
                        });
                        let status = if f.indicator.computation.is_none() {
                            "entered by hand"
                        } else {
                            status(&f.indicator, value, year)
                        };
                        vec![
                            format!("{} ({})", f.indicator.title, f.indicator.code),
                            before,
                            now,
                            target,
                            status.to_owned(),
                        ]
                    })
                    .collect();
                blocks.push(Block::Table(Table {
                    header: vec![
                        "Indicator".into(),
                        (year - 1).to_string(),
                        year.to_string(),
                        format!("Target {year}"),
                        "Status".into(),
                    ],
                    rows,
                }));
            }
            let held = category(activities, year, 0, &o.id, d.threshold);
            let attended = category(participants, year, 0, &o.id, d.threshold);
            blocks.push(Block::Paragraph(format!(
                "Capacity-building activities serving this objective in {year}: {held} (participants: {attended})."
            )));
        }
        blocks.push(Block::Heading {
            level: 1,
            text: "Guiding principles".into(),
            anchor: "principles".into(),
        });
        let rows = gcm
            .guiding_principles
            .iter()
            .map(|p| {
                let linked: Vec<&str> = d
                    .figures
                    .iter()
                    .filter(|f| f.indicator.links.gcm.contains(&p.id))
                    .map(|f| f.indicator.code.as_str())
                    .collect();
                vec![format!("{} ({})", p.name, p.paragraph), linked.join(", ")]
            })
            .collect();
        blocks.push(Block::Table(Table {
            header: vec!["Principle".into(), "Indicators".into()],
            rows,
        }));
        Ok(Report {
            title: format!("Global Compact for Migration: voluntary review {year}"),
            subtitle: scope_line(&d, filter, "Voluntary national review"),
            file_stem: format!("gcm-review-{year}"),
            blocks,
        })
    }

    /// Every indicator of one programme: five-year totals against targets, then each
    /// disaggregation of the year.
    pub async fn programme_report(
        &self,
        actor: &Actor,
        filter: &IndicatorFilter,
        programme: &str,
    ) -> Result<Report, ServiceError> {
        let d = self
            .dashboard(
                actor,
                &IndicatorFilter {
                    programme: Some(programme.to_owned()),
                    ..filter.clone()
                },
            )
            .await?;
        let name = d
            .catalogue
            .programmes
            .iter()
            .find(|(c, _)| c == programme)
            .map(|(_, n)| n.clone())
            .ok_or(ServiceError::NotFound)?;
        let year = d.year;
        let mut blocks = vec![Block::Note(scope_line(&d, filter, "Programme figures"))];
        for f in d.figures.iter().filter(|f| f.indicator.computation.is_some()) {
            let i = &f.indicator;
            blocks.push(Block::Heading {
                level: 1,
                text: format!("{} ({})", i.title, i.code),
                anchor: i.code.clone(),
            });
            if let Some(desc) = &i.description {
                blocks.push(Block::Paragraph(desc.clone()));
            }
            let rows = (year - 4..=year)
                .map(|y| {
                    let (value, actual) = total(f, y, d.threshold);
                    let target = i
                        .targets
                        .get(&y)
                        .map_or_else(String::new, |t| shown(Some(*t), false, &i.unit, d.threshold));
                    vec![y.to_string(), value, target, status(i, actual, y).to_owned()]
                })
                .collect();
            blocks.push(Block::Table(Table {
                header: vec!["Year".into(), i.unit.clone(), "Target".into(), "Status".into()],
                rows,
            }));
            let dims = i.computation.as_ref().map_or(0, |c| c.disaggregate.len());
            for dim in 0..dims {
                let label = d.catalogue.dimension_label(i, dim);
                let mut cells = f.breakdown(year, dim);
                cells.sort_by_key(|c| std::cmp::Reverse(c.0.n));
                let rows = cells
                    .iter()
                    .map(|(c, hidden)| {
                        vec![
                            d.catalogue.category_label(i, dim, &c.category),
                            shown(c.value, *hidden, &i.unit, d.threshold),
                        ]
                    })
                    .collect();
                blocks.push(Block::Heading {
                    level: 2,
                    text: format!("By {} ({year})", label.to_lowercase()),
                    anchor: format!("{}-{dim}", i.code),
                });
                blocks.push(Block::Table(Table {
                    header: vec![label, i.unit.clone()],
                    rows,
                }));
            }
            for n in &f.outcome.notes {
                blocks.push(Block::Note(n.clone()));
            }
        }
        Ok(Report {
            title: format!("{name}: programme report {year}"),
            subtitle: scope_line(&d, filter, "Programme report"),
            file_stem: format!("{programme}-report-{year}"),
            blocks,
        })
    }

    /// Record that a report left the system in a format (audited).
    pub async fn report_downloaded(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        report: &Report,
        format: &str,
    ) -> Result<(), ServiceError> {
        let event = self
            .event(ctx, AuditAction::IndicatorsExported, actor.user_id())
            .detail("report", &report.file_stem)
            .detail("format", format);
        self.audit_read(&event).await
    }

    /// (section, text) of the narratives written for a report's year.
    pub async fn narratives(&self, report: &str, year: i32) -> Result<Vec<(String, String)>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(passage_store::reports::narratives(&mut pooled.conn(), report, year).await?)
    }

    /// Save (or clear, when empty) the narrative of one section of a report for a year. Only
    /// the host organisation's M&E officers write the mission's reports.
    pub async fn set_narrative(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        report: &str,
        section: &str,
        year: i32,
        body: &str,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::IndicatorsManage, Scope::Installation)?;
        if report != GCM_REVIEW || passage_indicators::reference::gcm().objective(section).is_none() {
            return Err(ServiceError::NotFound);
        }
        let body = body.trim();
        if body.chars().count() > MAX_NARRATIVE_CHARS {
            return Err(passage_domain::InvalidValue::new(
                "narrative",
                format!("is longer than {MAX_NARRATIVE_CHARS} characters"),
            )
            .into());
        }
        // A narrative changes no figure: not a write that makes cached figures stale.
        let mut tx = self.db.begin().await?;
        passage_store::reports::put_narrative(
            &mut tx.conn(),
            report,
            section,
            year,
            body,
            actor.user_id(),
            self.now(),
        )
        .await?;
        let event = self
            .event(ctx, AuditAction::NarrativeSaved, actor.user_id())
            .detail("report", report)
            .detail("section", section)
            .detail("year", year);
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
