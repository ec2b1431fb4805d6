//! Computing an indicator over its fact table: one pass over the rows that meet the filter
//! and the viewer's scope, accumulating the total and every disaggregation per year in flat
//! arrays indexed by (year, category code).

use crate::definition::{Indicator, Measure, builtin};
use crate::expr::Bound;
use crate::table::{Column, NO_DATE, Table, year_of};

/// Which rows a viewer's figures cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// First and last year (inclusive).
    pub years: Option<(i32, i32)>,
    /// A county code (`LR-MO`); rows filed under another county are left out.
    pub county: Option<String>,
    /// The organisations whose records count; `None` for all.
    pub orgs: Option<Vec<String>>,
}

/// One figure: a year's total (`dimension` None) or one category of one disaggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub year: i32,
    /// Index into the indicator's `disaggregate` list.
    pub dimension: Option<usize>,
    /// The category code; empty for records without an answer ("unknown").
    pub category: String,
    /// `None` when the measure has no value (no records, nothing to divide by).
    pub value: Option<f64>,
    /// How many records (or persons) the figure rests on: what suppression looks at.
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub cells: Vec<Cell>,
    /// Why parts may not add up to the total, or records that count nowhere.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn total(&self, year: i32) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.year == year && c.dimension.is_none())
    }
    pub fn years(&self) -> Vec<i32> {
        let mut y: Vec<i32> = self
            .cells
            .iter()
            .filter(|c| c.dimension.is_none())
            .map(|c| c.year)
            .collect();
        y.dedup();
        y
    }
    pub fn breakdown(&self, year: i32, dimension: usize) -> impl Iterator<Item = &Cell> {
        self.cells
            .iter()
            .filter(move |c| c.year == year && c.dimension == Some(dimension))
    }
}

/// The rows of `table` that `indicator` counts for `scope`, with each row's year.
fn selected(indicator: &Indicator, table: &Table, scope: &Scope) -> (Vec<(u32, i32)>, u64) {
    let Some(c) = &indicator.computation else {
        return (Vec::new(), 0);
    };
    let filter = c.filter.as_ref().map(|f| f.bind(table));
    let in_scope = scope_filter(table, scope);
    let Some(Column::Date(dates)) = table.column(&c.date) else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::new();
    let mut undated = 0;
    for (row, day) in dates.iter().enumerate() {
        if table.is_retired(row) {
            continue;
        }
        if !in_scope.as_ref().is_none_or(|b| b.test(row)) || !filter.as_ref().is_none_or(|b| b.test(row)) {
            continue;
        }
        if *day == NO_DATE {
            undated += 1;
            continue;
        }
        let year = year_of(*day);
        if scope.years.is_none_or(|(a, b)| (a..=b).contains(&year)) {
            out.push((row as u32, year));
        }
    }
    (out, undated)
}

fn scope_filter<'t>(table: &'t Table, scope: &Scope) -> Option<Bound<'t>> {
    let codes = |field: &str, values: &[String]| -> Bound<'t> {
        match table.column(field) {
            Some(Column::Category { codes, dict }) => values
                .iter()
                .map(|v| match dict.find(v) {
                    Some(code) => Bound::Code(codes, true, code),
                    None => Bound::Const(false),
                })
                .reduce(|a, b| Bound::Or(Box::new(a), Box::new(b)))
                .unwrap_or(Bound::Const(false)),
            _ => Bound::Const(false),
        }
    };
    let mut parts = Vec::new();
    if let Some(county) = &scope.county {
        parts.push(codes(builtin::COUNTY, std::slice::from_ref(county)));
    }
    if let Some(orgs) = &scope.orgs {
        parts.push(codes(builtin::ORG, orgs));
    }
    parts
        .into_iter()
        .reduce(|a, b| Bound::And(Box::new(a), Box::new(b)))
}

/// What one row adds to a figure.
#[derive(Clone, Copy)]
enum Contribution {
    Record,
    Number(f64),
    Hit(bool),
    Person(u32),
}

#[derive(Default)]
struct Acc {
    n: Vec<u64>,
    sum: Vec<f64>,
    hits: Vec<u64>,
    /// (slot, value) for medians; (slot, person) for distinct persons.
    values: Vec<(u32, f64)>,
    persons: Vec<(u32, u32)>,
}

impl Acc {
    fn add(&mut self, slot: usize, c: Contribution) {
        match c {
            Contribution::Record => self.n[slot] += 1,
            Contribution::Number(v) => {
                self.n[slot] += 1;
                self.sum[slot] += v;
                self.values.push((slot as u32, v));
            }
            Contribution::Hit(h) => {
                self.n[slot] += 1;
                self.hits[slot] += u64::from(h);
            }
            Contribution::Person(p) => self.persons.push((slot as u32, p)),
        }
    }
}

/// Compute every year's total and disaggregations of a computed indicator.
pub fn compute(indicator: &Indicator, table: &Table, scope: &Scope) -> Outcome {
    let Some(c) = &indicator.computation else {
        return Outcome::default();
    };
    let (rows, undated) = selected(indicator, table, scope);
    let mut notes = Vec::new();
    if undated > 0 {
        notes.push(format!(
            "{undated} record(s) have no {} and are in no period",
            c.date
        ));
    }
    let (first, last) = match (
        scope.years,
        rows.iter().map(|r| r.1).min(),
        rows.iter().map(|r| r.1).max(),
    ) {
        (Some(range), _, _) => range,
        (None, Some(a), Some(b)) => (a, b),
        _ => {
            return Outcome {
                cells: Vec::new(),
                notes,
            };
        }
    };
    let n_years = (last - first + 1).max(0) as usize;

    let number = |f: &str| match table.column(f) {
        Some(Column::Number(v)) => Some(v.as_slice()),
        _ => None,
    };
    let date = |f: &str| match table.column(f) {
        Some(Column::Date(v)) => Some(v.as_slice()),
        _ => None,
    };
    let share = match &c.measure {
        Measure::Share(e) => Some(e.bind(table)),
        _ => None,
    };
    let persons = match table.column(builtin::PERSON) {
        Some(Column::Category { codes, .. }) => Some(codes.as_slice()),
        _ => None,
    };
    let field = match &c.measure {
        Measure::Sum(f) | Measure::Mean(f) | Measure::Median(f) => number(f),
        _ => None,
    };
    let span = match &c.measure {
        Measure::MedianDays { from, to } => date(from).zip(date(to)),
        _ => None,
    };
    let mut left_out = 0u64;
    let mut anonymous = 0u32;
    let contribution = |row: usize, left_out: &mut u64, anonymous: &mut u32| -> Option<Contribution> {
        let some = match &c.measure {
            Measure::Count => Some(Contribution::Record),
            Measure::DistinctPersons => {
                let p = persons.map_or(0, |p| p[row]);
                // A case without a person record is one person of its own.
                Some(Contribution::Person(if p == 0 {
                    *anonymous += 1;
                    u32::MAX - *anonymous
                } else {
                    p
                }))
            }
            Measure::Sum(_) | Measure::Mean(_) | Measure::Median(_) => field
                .map(|v| v[row])
                .filter(|v| !v.is_nan())
                .map(Contribution::Number),
            Measure::Share(_) => share.as_ref().map(|b| Contribution::Hit(b.test(row))),
            Measure::MedianDays { .. } => span.and_then(|(a, b)| {
                (a[row] != NO_DATE && b[row] != NO_DATE && b[row] >= a[row])
                    .then(|| Contribution::Number(f64::from(b[row] - a[row])))
            }),
        };
        if some.is_none() {
            *left_out += 1;
        }
        some
    };

    // Group 0 is the total; group g > 0 is disaggregation g - 1.
    let dims: Vec<Option<&Column>> = c.disaggregate.iter().map(|d| table.column(d)).collect();
    let widths: Vec<usize> = std::iter::once(1)
        .chain(
            dims.iter()
                .map(|d| d.and_then(Column::dict).map_or(1, |d| d.len())),
        )
        .collect();
    let mut accs: Vec<Acc> = widths
        .iter()
        .map(|w| Acc {
            n: vec![0; n_years * w],
            sum: vec![0.0; n_years * w],
            hits: vec![0; n_years * w],
            ..Acc::default()
        })
        .collect();
    for &(row, year) in &rows {
        let row = row as usize;
        let Some(contrib) = contribution(row, &mut left_out, &mut anonymous) else {
            continue;
        };
        let y = (year - first) as usize;
        accs[0].add(y, contrib);
        for (g, dim) in dims.iter().enumerate() {
            let w = widths[g + 1];
            match dim {
                Some(Column::Category { codes, .. }) => accs[g + 1].add(y * w + codes[row] as usize, contrib),
                Some(col @ Column::Multi { .. }) => {
                    let codes = col.multi(row);
                    if codes.is_empty() {
                        accs[g + 1].add(y * w, contrib);
                    }
                    for code in codes {
                        accs[g + 1].add(y * w + *code as usize, contrib);
                    }
                }
                _ => accs[g + 1].add(y * w, contrib),
            }
        }
    }
    if left_out > 0 {
        notes.push(format!(
            "{left_out} record(s) without a value for the {} are left out",
            c.measure.describe()
        ));
    }
    for (g, dim) in dims.iter().enumerate() {
        if matches!(dim, Some(Column::Multi { .. })) {
            notes.push(format!(
                "By {}: a record with several answers counts under each, so the parts can add up to more than the total",
                c.disaggregate[g]
            ));
        }
    }
    if matches!(c.measure, Measure::DistinctPersons) && !dims.is_empty() {
        notes.push("A person whose records differ (e.g. in age band) counts under each category".into());
    }

    let mut cells = Vec::new();
    for (g, mut acc) in accs.into_iter().enumerate() {
        let w = widths[g];
        let values = finish(&c.measure, &mut acc, n_years * w);
        for y in 0..n_years {
            for code in 0..w {
                let slot = y * w + code;
                let (value, n) = values[slot];
                if g > 0 && n == 0 {
                    continue;
                }
                let category = match (g, dims.get(g.wrapping_sub(1)).copied().flatten()) {
                    (0, _) => String::new(),
                    (_, Some(col)) => col.dict().map_or("", |d| d.name(code as u32)).to_owned(),
                    _ => String::new(),
                };
                cells.push(Cell {
                    year: first + y as i32,
                    dimension: g.checked_sub(1),
                    category,
                    value,
                    n,
                });
            }
        }
    }
    Outcome { cells, notes }
}

/// Each slot's value (None for "n/a") and the number of records or persons behind it.
fn finish(measure: &Measure, acc: &mut Acc, slots: usize) -> Vec<(Option<f64>, u64)> {
    let ratio = |num: f64, n: u64| (n > 0).then(|| num / n as f64);
    match measure {
        Measure::Count => acc.n.iter().map(|n| (Some(*n as f64), *n)).collect(),
        Measure::Sum(_) => (0..slots).map(|s| (Some(acc.sum[s]), acc.n[s])).collect(),
        Measure::Mean(_) => (0..slots)
            .map(|s| (ratio(acc.sum[s], acc.n[s]), acc.n[s]))
            .collect(),
        Measure::Share(_) => (0..slots)
            .map(|s| (ratio(acc.hits[s] as f64 * 100.0, acc.n[s]), acc.n[s]))
            .collect(),
        Measure::DistinctPersons => {
            acc.persons.sort_unstable();
            acc.persons.dedup();
            let mut n = vec![0u64; slots];
            for (slot, _) in &acc.persons {
                n[*slot as usize] += 1;
            }
            n.into_iter().map(|n| (Some(n as f64), n)).collect()
        }
        Measure::Median(_) | Measure::MedianDays { .. } => {
            acc.values
                .sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let mut out = vec![(None, 0u64); slots];
            let mut start = 0;
            while start < acc.values.len() {
                let slot = acc.values[start].0;
                let end = start + acc.values[start..].iter().take_while(|v| v.0 == slot).count();
                let part = &acc.values[start..end];
                let mid = part.len() / 2;
                let median = if part.len() % 2 == 1 {
                    part[mid].1
                } else {
                    (part[mid - 1].1 + part[mid].1) / 2.0
                };
                out[slot as usize] = (Some(median), part.len() as u64);
                start = end;
            }
            out
        }
    }
}

/// The rows behind one figure (for drill-down to the records): a year, and optionally one
/// category of one disaggregation.
pub fn rows_behind(
    indicator: &Indicator,
    table: &Table,
    scope: &Scope,
    year: i32,
    category: Option<(usize, &str)>,
) -> Vec<usize> {
    let Some(c) = &indicator.computation else {
        return Vec::new();
    };
    let (rows, _) = selected(indicator, table, scope);
    let dim = category.and_then(|(d, code)| Some((table.column(c.disaggregate.get(d)?)?, code)));
    rows.into_iter()
        .filter(|(_, y)| *y == year)
        .map(|(r, _)| r as usize)
        .filter(|r| match dim {
            None => category.is_none(),
            Some((col @ Column::Multi { .. }, code)) => match col.dict().and_then(|d| d.find(code)) {
                Some(k) => col.multi(*r).contains(&k),
                None => code.is_empty() && col.is_missing(*r),
            },
            Some((Column::Category { codes, dict }, code)) => {
                codes[*r]
                    == if code.is_empty() {
                        0
                    } else {
                        dict.find(code).unwrap_or(u32::MAX)
                    }
            }
            Some(_) => false,
        })
        .collect()
}
