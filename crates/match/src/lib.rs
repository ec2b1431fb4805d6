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

/// Keeps each record's best link only, best pairs first: for linking two lists that each
/// name a person once (two registries already deduplicated).
pub fn one_to_one(pairs: &mut Vec<MatchedPair>) {
    pairs.sort_by(|a, b| {
        b.score
            .probability
            .total_cmp(&a.score.probability)
            .then((a.left, a.right).cmp(&(b.left, b.right)))
    });
    let mut used = std::collections::HashSet::new();
    pairs.retain(|p| {
        !used.contains(&p.left) && !used.contains(&p.right) && used.insert(p.left) && used.insert(p.right)
    });
    pairs.sort_by_key(|p| (p.left, p.right));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, dob: &str, doc: &str) -> Record {
        Record {
            id: id.into(),
            given_name: "Musu".into(),
            surname: "Kollie".into(),
            date_of_birth: dob.into(),
            document_number: doc.into(),
            ..Record::default()
        }
    }

    #[test]
    fn clusters_do_not_chain_two_people_through_a_record_that_resembles_both() {
        let records = prepare(&[
            person("a1", "1990-01-02", "LB100200"),
            person("a2", "1990-01-02", "LB100200"),
            person("c1", "1975-06-30", "LB900800"),
            person("c2", "1975-06-30", "LB900800"),
            person("b", "", ""),
        ]);
        let model = Model::standard();
        let mut pairs = Vec::new();
        for i in 0..records.len() {
            for j in i + 1..records.len() {
                let p = model.score(&records[i], &records[j]).probability;
                if p >= 0.5 {
                    pairs.push((i as u32, j as u32, p));
                }
            }
        }
        assert!(pairs.len() >= 6, "b resembles everyone: {pairs:?}");
        let groups = cluster::cluster(&records, &pairs, &model, 0.5);
        assert_eq!(groups[0], groups[1]);
        assert_eq!(groups[2], groups[3]);
        assert_ne!(groups[0], groups[2], "{groups:?}");
    }

    /// Persons with common names (many namesakes), a third of them registered twice with
    /// some noise; returns the records and the true duplicate pairs.
    fn registry() -> (Vec<Record>, std::collections::HashSet<(usize, usize)>) {
        let given = [
            "Musu", "Fatu", "Mohammed", "Ibrahim", "Comfort", "Joseph", "Mary", "Sekou", "Kebeh", "Alieu",
            "Hawa", "Prince", "Esther", "Varney", "Korto", "Momo", "Jartu", "Abraham", "Satta", "Emmanuel",
        ];
        let surnames = [
            "Kollie",
            "Kamara",
            "Sirleaf",
            "Johnson",
            "Tarr",
            "Konneh",
            "Pewee",
            "Dolo",
            "Flomo",
            "Sumo",
            "Kromah",
            "Sheriff",
            "Cooper",
            "Doe",
            "Toe",
            "Gbeh",
            "Kpoto",
            "Massaquoi",
            "Bility",
            "Fahnbulleh",
        ];
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let (mut records, mut truth) = (Vec::new(), std::collections::HashSet::new());
        for person in 0..3000 {
            let record = Record {
                id: format!("p{person}"),
                given_name: given[next(given.len())].into(),
                surname: surnames[next(surnames.len())].into(),
                date_of_birth: format!("{}-{:02}-{:02}", 1950 + next(60), 1 + next(12), 1 + next(28)),
                sex: ["F", "M"][next(2)].into(),
                phone: format!("077{:07}", next(10_000_000)),
                ..Record::default()
            };
            if next(3) == 0 {
                let mut again = record.clone();
                again.id.push_str("-again");
                match next(4) {
                    0 => again.given_name.push('h'),
                    1 => again.date_of_birth.replace_range(8.., "01"),
                    2 => again.phone.clear(),
                    _ => {}
                }
                truth.insert((records.len(), records.len() + 1));
                records.push(record);
                records.push(again);
            } else {
                records.push(record);
            }
        }
        (records, truth)
    }

    #[test]
    fn training_without_labels_learns_what_matches_look_like_and_how_many_there_are() {
        let (records, truth) = registry();
        let prepared = prepare(&records);
        let matches = find_matches(&prepared, Mode::Dedupe, 0.5, &Quiet);
        let n = records.len() as f64;
        let true_prior = truth.len() as f64 / (n * (n - 1.0) / 2.0);
        let prior = matches.model.prior;
        assert!(
            prior > true_prior / 2.0 && prior < true_prior * 2.0,
            "prior {prior:e}, truly {true_prior:e}"
        );
        // Namesakes abound, yet a different date of birth or given name weighs against.
        let (given, birth) = (0, 2);
        assert!(matches.model.m[given][0] < 0.1, "{:?}", matches.model.m[given]);
        assert!(matches.model.m[birth][0] < 0.1, "{:?}", matches.model.m[birth]);
        let found: std::collections::HashSet<(usize, usize)> = matches
            .pairs
            .iter()
            .map(|p| (p.left as usize, p.right as usize))
            .collect();
        let right = found.intersection(&truth).count() as f64;
        let (precision, recall) = (right / found.len() as f64, right / truth.len() as f64);
        assert!(
            precision > 0.95 && recall > 0.95,
            "precision {precision}, recall {recall}"
        );
    }

    #[test]
    fn one_to_one_keeps_each_records_best_link() {
        let records = prepare(&[
            person("a", "1990-01-02", ""),
            person("b", "1990-01-02", ""),
            person("c", "1990-01-03", ""),
        ]);
        let model = Model::standard();
        let pair = |l: u32, r: u32| MatchedPair {
            left: l,
            right: r,
            score: model.score(&records[l as usize], &records[r as usize]),
        };
        let mut pairs = vec![pair(0, 1), pair(0, 2)];
        one_to_one(&mut pairs);
        assert_eq!(
            pairs.iter().map(|p| (p.left, p.right)).collect::<Vec<_>>(),
            vec![(0, 1)]
        );
    }

    #[test]
    fn stored_keys_are_plain_text_and_order_free_for_names() {
        let (a, _) = Prepared::new(&Record {
            given_name: "Mohammed".into(),
            surname: "Kollie".into(),
            date_of_birth: "1990-04-09".into(),
            ..Record::default()
        });
        let (b, _) = Prepared::new(&Record {
            given_name: "Kollie".into(),
            surname: "Mohammed".into(),
            ..Record::default()
        });
        let (ka, kb) = (blocking::stored_keys(&a), blocking::stored_keys(&b));
        assert!(
            ka.contains(&"variant:muhammad|kollie".to_owned())
                && ka.contains(&"dob-given:19900409m".to_owned()),
            "{ka:?}"
        );
        let sound = |k: &[String]| k.iter().find(|k| k.starts_with("sound:")).cloned();
        assert_eq!(
            sound(&ka),
            sound(&kb),
            "the same sound key whichever name comes first"
        );
    }
}
