//! The Fellegi-Sunter model: for each comparison level, how much more often true matches
//! reach it (m) than random pairs do (u). u is measured on random pairs; m is estimated by
//! expectation-maximisation without labels, one session per training rule; the number of
//! matches (hence the prior) by capture-recapture between the sessions. Exact name agreement
//! is weighed by how common the name is (term-frequency adjustment).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::blocking::{Blocks, Mode, RULES};
use crate::compare::{COMPARISONS, Gamma, MAX_LEVELS, N_COMPARISONS, NAME_EXACT, UNKNOWN, compare};
use crate::record::Prepared;

/// Random pairs drawn to measure u.
const U_SAMPLE: usize = 300_000;
const EM_ITERATIONS: usize = 60;
/// Candidate pairs EM learns from, at most (about).
const TRAINING_PAIRS: u64 = 5_000_000;
/// Pseudo-matches added to each session's m estimate (see `expectation_maximisation`).
const PSEUDO_MATCHES: f64 = 2.0;
/// Smallest probability kept for m or u, so that no level is ever impossible.
const FLOOR: f64 = 1e-6;

/// Learned weights.
#[derive(Debug, Clone)]
pub struct Model {
    /// While training: the share of matches among the current session's pairs.
    lambda: f64,
    /// Probability that two records drawn at random are the same person: the prior for
    /// scoring, consistent with u measured on random pairs.
    pub prior: f64,
    pub m: [[f64; MAX_LEVELS]; N_COMPARISONS],
    pub u: [[f64; MAX_LEVELS]; N_COMPARISONS],
    /// How many records carry each exact given name / surname (keys are token-text hashes).
    given_counts: FxHashMap<u64, u32>,
    surname_counts: FxHashMap<u64, u32>,
    records: usize,
}

/// A scored pair: its level per comparison and the weight (log2 Bayes factor) each contributed.
#[derive(Debug, Clone, Copy)]
pub struct Score {
    pub probability: f64,
    pub gamma: Gamma,
    pub weights: [f64; N_COMPARISONS],
    pub swapped: bool,
}

fn levels(c: usize) -> usize {
    COMPARISONS[c].levels().len()
}

/// Where EM starts: m rising with the level, the top level most likely for matches.
fn initial_m(c: usize) -> [f64; MAX_LEVELS] {
    let n = levels(c);
    let total: f64 = (0..n).map(|l| 4f64.powi(l as i32)).sum();
    let mut m = [0.0; MAX_LEVELS];
    for (l, m) in m.iter_mut().enumerate().take(n) {
        *m = 4f64.powi(l as i32) / total;
    }
    m
}

/// Small deterministic generator for sampling (reproducible runs).
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn text_key(text: &str) -> u64 {
    crate::record::key_of(text)
}

/// m and u of [`Model::standard`], per comparison, lowest level first.
const STANDARD: [([f64; MAX_LEVELS], [f64; MAX_LEVELS]); N_COMPARISONS] = [
    // given name: different, weak, sounds alike, close, variant, exact. Exact agreement is
    // priced as for a common name (no frequencies here): a namesake is not a duplicate.
    (
        [0.02, 0.03, 0.06, 0.10, 0.14, 0.65],
        [0.88, 0.06, 0.02, 0.01, 0.01, 0.02],
    ),
    // surname
    (
        [0.02, 0.03, 0.06, 0.10, 0.14, 0.65],
        [0.92, 0.04, 0.015, 0.008, 0.007, 0.01],
    ),
    // date of birth: different, 5 years, 2 years, same year partial, one edit/swap, exact
    (
        [0.003, 0.04, 0.08, 0.12, 0.107, 0.65],
        [0.80, 0.12, 0.06, 0.015, 0.004, 0.001],
    ),
    ([0.02, 0.98, 0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0, 0.0]),
    ([0.05, 0.95, 0.0, 0.0, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0, 0.0, 0.0]),
    ([0.2, 0.1, 0.7, 0.0, 0.0, 0.0], [0.95, 0.03, 0.02, 0.0, 0.0, 0.0]),
    // phone and document: people change phones; a typo is one character
    (
        [0.4, 0.05, 0.55, 0.0, 0.0, 0.0],
        [0.9999, 0.00005, 0.00005, 0.0, 0.0, 0.0],
    ),
    (
        [0.15, 0.1, 0.75, 0.0, 0.0, 0.0],
        [0.99999, 0.000005, 0.000005, 0.0, 0.0, 0.0],
    ),
    ([0.3, 0.2, 0.2, 0.3, 0.0, 0.0], [0.7, 0.2, 0.07, 0.03, 0.0, 0.0]),
];

impl Model {
    /// Fixed weights for judging one new registration against the few existing persons its
    /// keys find, where there is no batch to learn from: set by hand in line with what EM
    /// learns on FEBRL and the synthetic West African set (BENCHMARKS.md), with a prior of 1 in
    /// 100. Name frequencies are not known here, so every exact name is weighed as a common one.
    pub fn standard() -> Model {
        let mut model = Model {
            lambda: 0.0,
            prior: 0.01,
            m: [[0.0; MAX_LEVELS]; N_COMPARISONS],
            u: [[0.0; MAX_LEVELS]; N_COMPARISONS],
            given_counts: FxHashMap::default(),
            surname_counts: FxHashMap::default(),
            records: 0,
        };
        for (c, (m, u)) in STANDARD.iter().enumerate() {
            model.m[c] = *m;
            model.u[c] = *u;
        }
        model
    }

    /// Estimates the model from the records and their candidate pairs.
    pub fn train(records: &[Prepared], blocks: &Blocks, mode: Mode) -> Model {
        let mut given_counts = FxHashMap::default();
        let mut surname_counts = FxHashMap::default();
        for p in records {
            if !p.given.is_empty() {
                *given_counts.entry(text_key(&p.given_text)).or_insert(0) += 1;
            }
            if !p.surname.is_empty() {
                *surname_counts.entry(text_key(&p.surname_text)).or_insert(0) += 1;
            }
        }
        let mut model = Model {
            lambda: 0.0,
            prior: 0.0,
            m: [[0.0; MAX_LEVELS]; N_COMPARISONS],
            u: estimate_u(records, mode),
            given_counts,
            surname_counts,
            records: records.len(),
        };
        for c in 0..N_COMPARISONS {
            model.m[c] = initial_m(c);
        }
        // Splink's training sessions: within one rule's pairs, the fields the rule demanded
        // agree by construction and say nothing, so EM learns the other fields' m there, with
        // the session's own share of matches. Each field's m is the mean over the sessions
        // where it was free. (Learning from the pooled, de-duplicated candidates instead
        // is biased: a pair left to a date rule is one the name rules did not find, so names
        // would look as if matches rarely agreed on them.)
        let training: Vec<usize> = (0..RULES.len()).filter(|&r| RULES[r].trains).collect();
        let mut sum = [[0.0f64; MAX_LEVELS]; N_COMPARISONS];
        let mut sessions = [0u32; N_COMPARISONS];
        let mut found = Vec::new();
        for &rule in &training {
            let (patterns, share) = sample_patterns(records, blocks, rule, &training);
            if patterns.is_empty() {
                found.push(Found {
                    total: 0.0,
                    also: vec![0.0; training.len()],
                });
                continue;
            }
            let uses = RULES[rule].uses;
            let free: [bool; N_COMPARISONS] = std::array::from_fn(|c| !uses.contains(&COMPARISONS[c]));
            let mut session = model.clone();
            session.lambda = 0.1;
            session.expectation_maximisation(&patterns, free);
            found.push(session.matches_found(&patterns, free, share, training.len()));
            for c in (0..N_COMPARISONS).filter(|&c| free[c]) {
                for (total, m) in sum[c].iter_mut().zip(session.m[c]) {
                    *total += m;
                }
                sessions[c] += 1;
            }
        }
        for c in (0..N_COMPARISONS).filter(|&c| sessions[c] > 0) {
            for (m, total) in model.m[c].iter_mut().zip(sum[c]) {
                *m = total / f64::from(sessions[c]);
            }
        }
        let all_pairs = match mode {
            Mode::Dedupe => (records.len() as f64) * (records.len().saturating_sub(1) as f64) / 2.0,
            Mode::Link { left } => (left as f64) * (records.len().saturating_sub(left) as f64),
        };
        model.prior = (estimate_matches(&found) / all_pairs.max(1.0)).clamp(1e-12, 0.5);
        model
    }

    /// After a session's EM: the matches expected among the rule's pairs, and among those,
    /// the ones each training rule also finds.
    fn matches_found(
        &self,
        patterns: &[Pattern],
        free: [bool; N_COMPARISONS],
        share: f64,
        rules: usize,
    ) -> Found {
        let mut found = Found {
            total: 0.0,
            also: vec![0.0; rules],
        };
        for ((gamma, also), count) in patterns {
            let p = self.posterior(gamma, free) * *count as f64 / share;
            found.total += p;
            for (t, sum) in found.also.iter_mut().enumerate() {
                if also & (1 << t) != 0 {
                    *sum += p;
                }
            }
        }
        found
    }

    fn posterior(&self, gamma: &Gamma, used: [bool; N_COMPARISONS]) -> f64 {
        let logit = (self.lambda / (1.0 - self.lambda)).log2()
            + (0..N_COMPARISONS)
                .filter(|&c| used[c])
                .map(|c| self.weight(c, gamma[c], None))
                .sum::<f64>();
        1.0 / (1.0 + (-logit).exp2())
    }

    /// EM over one session's comparison patterns, u fixed: only the `used` comparisons weigh
    /// in the expectation step and have their m re-estimated, with the session's share of
    /// matches.
    fn expectation_maximisation(&mut self, patterns: &[Pattern], used: [bool; N_COMPARISONS]) {
        for _ in 0..EM_ITERATIONS {
            let mut matched = [[0.0f64; MAX_LEVELS]; N_COMPARISONS];
            let (mut match_total, mut all_total) = (0.0, 0.0);
            for ((gamma, _), count) in patterns {
                let count = *count as f64;
                let p = self.posterior(gamma, used);
                match_total += p * count;
                all_total += count;
                for (c, &level) in gamma.iter().enumerate() {
                    if level != UNKNOWN && used[c] {
                        matched[c][level as usize] += p * count;
                    }
                }
            }
            let previous = (self.m, self.lambda);
            self.lambda = (match_total / all_total.max(1.0)).clamp(FLOOR, 1.0 - FLOOR);
            for (c, row) in matched.iter().enumerate().filter(|&(c, _)| used[c]) {
                // A few pseudo-matches shaped like the starting point keep a small file's
                // unseen levels possible (a level no match reached in three pairs is not
                // proof that matches never reach it); on real volumes they vanish.
                let start = initial_m(c);
                let sum: f64 = row.iter().sum::<f64>() + PSEUDO_MATCHES;
                for l in 0..levels(c) {
                    self.m[c][l] = ((row[l] + PSEUDO_MATCHES * start[l]) / sum).max(FLOOR);
                }
            }
            let change = previous
                .0
                .iter()
                .flatten()
                .zip(self.m.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold((previous.1 - self.lambda).abs(), f64::max);
            if change < 1e-7 {
                break;
            }
        }
    }

    fn weight(&self, c: usize, level: i8, tf: Option<f64>) -> f64 {
        if level == UNKNOWN {
            return 0.0;
        }
        let l = level as usize;
        let u = match tf {
            // The chance that a random record carries this very name, instead of the average
            // chance of an exact name match: rare names weigh more, common ones less.
            Some(tf) if level == NAME_EXACT => tf,
            _ => self.u[c][l],
        };
        (self.m[c][l] / u.max(FLOOR)).log2()
    }

    fn term_frequency(&self, counts: &FxHashMap<u64, u32>, text: &str) -> Option<f64> {
        if self.records == 0 {
            return None;
        }
        let n = *counts.get(&text_key(text))?;
        Some(f64::from(n) / self.records.max(1) as f64)
    }

    /// Scores a pair of prepared records.
    pub fn score(&self, a: &Prepared, b: &Prepared) -> Score {
        let (gamma, swapped) = compare(a, b);
        let tf = [
            (gamma[0] == NAME_EXACT)
                .then(|| self.term_frequency(&self.given_counts, &a.given_text))
                .flatten(),
            (gamma[1] == NAME_EXACT)
                .then(|| self.term_frequency(&self.surname_counts, &a.surname_text))
                .flatten(),
        ];
        let mut weights = [0.0; N_COMPARISONS];
        for (c, w) in weights.iter_mut().enumerate() {
            *w = self.weight(c, gamma[c], tf.get(c).copied().flatten());
        }
        let total = (self.prior / (1.0 - self.prior)).log2() + weights.iter().sum::<f64>();
        Score {
            probability: 1.0 / (1.0 + (-total).exp2()),
            gamma,
            weights,
            swapped,
        }
    }
}

impl Score {
    /// What a caseworker reads: each known field's level and its weight, strongest first.
    /// Says how fields compare, never what they contain.
    pub fn explanation(&self) -> String {
        let mut parts: Vec<(usize, f64)> = (0..N_COMPARISONS)
            .filter(|&c| self.gamma[c] != UNKNOWN)
            .map(|c| (c, self.weights[c]))
            .collect();
        parts.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        let mut text: Vec<String> = parts
            .iter()
            .map(|&(c, w)| {
                format!(
                    "{} {} ({:+.1})",
                    COMPARISONS[c].name(),
                    COMPARISONS[c].levels()[self.gamma[c] as usize],
                    w
                )
            })
            .collect();
        if self.swapped {
            text.push("given name and surname exchanged".to_owned());
        }
        text.join("; ")
    }
}

/// A comparison pattern with the training rules that also find its pairs (bit `t` for the
/// `t`-th training rule), and how many pairs show it.
type Pattern = ((Gamma, u32), u64);

/// The matches one training session expects among its rule's pairs, and how many of those each
/// training rule also finds.
struct Found {
    total: f64,
    also: Vec<f64>,
}

/// The number of matches among all pairs, from what the sessions found: two rules that
/// look at different fields find matches nearly independently, so the share of one rule's
/// matches that the other also finds is that other rule's recall (capture-recapture,
/// Lincoln-Petersen), and its matches divided by its recall are all matches. Averaged over
/// every ordered pair of sessions that share matches.
fn estimate_matches(found: &[Found]) -> f64 {
    let mut estimates = Vec::new();
    for (s, a) in found.iter().enumerate() {
        for (t, b) in found.iter().enumerate() {
            if s != t && a.also[t] > 0.0 && a.total > 0.0 {
                estimates.push(b.total * a.total / a.also[t]);
            }
        }
    }
    // No session holds fewer matches than it found (what a small file comes down to).
    let at_least = found.iter().map(|f| f.total).fold(0.0, f64::max);
    if estimates.is_empty() {
        return at_least;
    }
    (estimates.iter().sum::<f64>() / estimates.len() as f64).max(at_least)
}

/// The comparison patterns of one rule's pairs and how often each occurs, with the training
/// rules that also find each pair (bit `t` for `training[t]`). EM needs pattern frequencies,
/// not every pair: beyond a few million pairs a fixed pseudo-random share of them (chosen by
/// pair, so runs repeat) is enough. Returns the patterns and the share taken.
fn sample_patterns(
    records: &[Prepared],
    blocks: &Blocks,
    rule: usize,
    training: &[usize],
) -> (Vec<Pattern>, f64) {
    let share = (TRAINING_PAIRS as f64 / blocks.rule_upper_bound(rule).max(1) as f64).min(1.0);
    let cut = (share * u64::MAX as f64) as u64;
    let counts = blocks
        .rule_pairs(rule)
        .filter(|&(i, j)| share >= 1.0 || crate::record::key_of(&(i, j)) <= cut)
        .fold(
            FxHashMap::default,
            |mut counts: FxHashMap<(Gamma, u32), u64>, (i, j)| {
                let (gamma, _) = compare(&records[i as usize], &records[j as usize]);
                let also = training
                    .iter()
                    .enumerate()
                    .filter(|&(_, &t)| blocks.finds(t, i, j))
                    .fold(0u32, |mask, (bit, _)| mask | 1 << bit);
                *counts.entry((gamma, also)).or_insert(0) += 1;
                counts
            },
        )
        .reduce(FxHashMap::default, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_insert(0) += v;
            }
            a
        });
    (counts.into_iter().collect(), share)
}

/// u: how often random pairs (almost all non-matches) reach each level.
fn estimate_u(records: &[Prepared], mode: Mode) -> [[f64; MAX_LEVELS]; N_COMPARISONS] {
    let (left, right) = match mode {
        Mode::Dedupe => (0..records.len(), 0..records.len()),
        Mode::Link { left } => (0..left, left..records.len()),
    };
    let mut u = [[0.0; MAX_LEVELS]; N_COMPARISONS];
    if left.is_empty() || right.is_empty() || records.len() < 2 {
        for (c, row) in u.iter_mut().enumerate() {
            row[..levels(c)].fill(1.0 / levels(c) as f64);
        }
        return u;
    }
    let mut rng = SplitMix(0x5EED_0F9A_55A6);
    let samples: Vec<(usize, usize)> = (0..U_SAMPLE)
        .filter_map(|_| {
            let i = left.start + rng.below(left.len());
            let j = right.start + rng.below(right.len());
            (i != j).then_some((i, j))
        })
        .collect();
    let counts = samples
        .par_iter()
        .fold(
            || [[0u64; MAX_LEVELS]; N_COMPARISONS],
            |mut counts, &(i, j)| {
                let (gamma, _) = compare(&records[i], &records[j]);
                for (c, &level) in gamma.iter().enumerate() {
                    if level != UNKNOWN {
                        counts[c][level as usize] += 1;
                    }
                }
                counts
            },
        )
        .reduce(
            || [[0u64; MAX_LEVELS]; N_COMPARISONS],
            |mut a, b| {
                for (x, y) in a.iter_mut().flatten().zip(b.iter().flatten()) {
                    *x += y;
                }
                a
            },
        );
    for (c, row) in counts.iter().enumerate() {
        let n = levels(c);
        let total: u64 = row.iter().sum();
        for l in 0..n {
            // Half a pair per level: a level never seen among random pairs is rare, not impossible.
            u[c][l] = (row[l] as f64 + 0.5) / (total as f64 + 0.5 * n as f64);
        }
    }
    u
}
