//! Indicators of a migration mission: the GCM and SDG frameworks as data, a readable
//! definition format, and their computation over in-memory fact tables, with small-cell
//! suppression for figures that leave the system. Pure: no database, no I/O.

pub mod compute;
pub mod definition;
pub mod export;
pub mod expr;
pub mod reference;
pub mod table;

pub use compute::{Cell, Outcome, Scope, compute, rows_behind};
pub use definition::{
    Computation, DefinitionError, Indicator, Measure, SourceKind, SourceRef, Sources, builtin, load,
    load_each,
};
pub use table::{FieldSpec, Kind, Schema, Table};

/// Cells below this many records are suppressed in anything that leaves the system.
pub const DEFAULT_SUPPRESSION_THRESHOLD: u64 = 5;

/// The indicators Passage ships (`indicators/passage.toml`, editable by an M&E officer).
pub const SHIPPED: &str = include_str!("../../../indicators/passage.toml");

/// Which cells to hide: those resting on fewer than `threshold` records (but more than none),
/// plus, where a breakdown would otherwise let a hidden cell be worked out from the total
/// (exactly one hidden part), the next smallest part of that breakdown.
pub fn suppressed(cells: &[Cell], threshold: u64) -> Vec<bool> {
    let mut hide: Vec<bool> = cells.iter().map(|c| c.n > 0 && c.n < threshold).collect();
    let mut groups: std::collections::BTreeMap<(i32, usize), Vec<usize>> = Default::default();
    for (i, c) in cells.iter().enumerate() {
        if let Some(d) = c.dimension {
            groups.entry((c.year, d)).or_default().push(i);
        }
    }
    for members in groups.values() {
        if members.iter().filter(|i| hide[**i]).count() == 1 {
            let next = members
                .iter()
                .filter(|i| !hide[**i] && cells[**i].n > 0)
                .min_by_key(|i| cells[**i].n);
            if let Some(i) = next {
                hide[*i] = true;
            }
        }
    }
    hide
}

#[cfg(test)]
mod tests;
