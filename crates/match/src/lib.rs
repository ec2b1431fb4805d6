//! Identity resolution for Passage: is this the same person?
//!
//! - [`normalize`]: names in any script and spelling to comparable Latin tokens;
//! - [`record`]: a person's fields, prepared with keys for blocking and comparison;
//! - [`compare`]: comparators and the levels the model weighs;
//! - [`blocking`]: which pairs are compared at all;
//! - [`model`]: a Fellegi-Sunter model trained without labels, with explanations;
//! - [`cluster`]: pairs into persons without chaining;
//! - [`screen`]: an in-memory watchlist index;
//! - [`input`]: CSV files in, with bad rows named by line.
//!
//! Pure: no database, no async, no logging of names.

pub mod blocking;
pub mod cluster;
pub mod compare;
pub mod input;
pub mod model;
pub mod normalize;
pub mod record;
pub mod screen;
mod variants;

use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

pub use blocking::Mode;
pub use model::{Model, Score};
pub use record::{Prepared, Record};

/// Reports progress of a long run (the CLI draws bars from it).
pub trait Progress: Sync {
    /// A new stage starts; `total` is its amount of work when known.
    fn stage(&self, _name: &'static str, _total: Option<u64>) {}
    /// `done` more units of the current stage are finished.
    fn advance(&self, _done: u64) {}
}

/// No progress reports.
#[derive(Debug)]
pub struct Quiet;
impl Progress for Quiet {}

/// A pair of records judged the same person, by index into the records given.
#[derive(Debug, Clone)]
pub struct MatchedPair {
    pub left: u32,
    pub right: u32,
    pub score: Score,
}

/// What a dedupe or link run found.
#[derive(Debug)]
pub struct Matches {
    pub pairs: Vec<MatchedPair>,
    pub model: Model,
    /// Pairs compared after blocking.
    pub candidates: u64,
    /// Blocks too large to expand (see [`blocking::MAX_BLOCK`]).
    pub skipped_blocks: usize,
}

/// Prepares records for matching (in parallel).
pub fn prepare(records: &[Record]) -> Vec<Prepared> {
    records.par_iter().map(|r| Prepared::new(r).0).collect()
}

/// Finds the pairs at or above `threshold` among prepared records: every pair in dedupe mode,
/// left against right in link mode.
pub fn find_matches(records: &[Prepared], mode: Mode, threshold: f64, progress: &dyn Progress) -> Matches {
    progress.stage("blocking", None);
    let blocks = blocking::Blocks::new(records, mode);
    progress.stage("training", None);
    let model = Model::train(records, &blocks, mode);
    progress.stage("scoring", None);
    let counted = AtomicU64::new(0);
    let mut pairs: Vec<MatchedPair> = blocks
        .pairs()
        .fold(
            || (Vec::new(), 0u64),
            |(mut found, mut n), (_, i, j)| {
                n += 1;
                if n == 65_536 {
                    progress.advance(n);
                    counted.fetch_add(n, Ordering::Relaxed);
                    n = 0;
                }
                let score = model.score(&records[i as usize], &records[j as usize]);
                if score.probability >= threshold {
                    found.push(MatchedPair {
                        left: i,
                        right: j,
                        score,
                    });
                }
                (found, n)
            },
        )
        .map(|(found, n)| {
            progress.advance(n);
            counted.fetch_add(n, Ordering::Relaxed);
            found
        })
        .flatten()
        .collect();
    pairs.sort_by_key(|p| (p.left, p.right));
    Matches {
        pairs,
        model,
        candidates: counted.into_inner(),
        skipped_blocks: blocks.skipped_blocks,
    }
}

/// Groups records into persons from a dedupe run's pairs: `result[i]` is the index of the
/// first record of `i`'s group.
pub fn clusters(records: &[Prepared], matches: &Matches, threshold: f64) -> Vec<u32> {
    let pairs: Vec<(u32, u32, f64)> = matches
        .pairs
        .iter()
        .map(|p| (p.left, p.right, p.score.probability))
        .collect();
    cluster::cluster(records, &pairs, &matches.model, threshold)
}
