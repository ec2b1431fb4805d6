//! `passage match …`: identity resolution on CSV files, without a database.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use passage_match::input::{Limits, Loaded, Mapping, RowProblem, read_entries, read_records};
use passage_match::screen::{self, Watchlist};
use passage_match::{Mode, Progress, Record, clusters, find_matches, prepare};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub enum MatchCommand {
    /// Find records of the same person within one file; write each record's cluster.
    Dedupe {
        input: PathBuf,
        /// CLUSTERS.csv: `id,cluster` (cluster = id of the cluster's first record).
        #[arg(long)]
        out: PathBuf,
        /// Also write the matched pairs: `left,right,probability,explanation`.
        #[arg(long)]
        pairs: Option<PathBuf>,
        /// Match probability from which two records are the same person.
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Find the same persons across two files; write the matched pairs.
    Link {
        left: PathBuf,
        right: PathBuf,
        /// PAIRS.csv: `left,right,probability,explanation`.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        /// Each record links to at most one on the other side (its most likely): for two
        /// lists that each name a person once.
        #[arg(long)]
        one_to_one: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Screen travellers against a watchlist; write the hits.
    Screen {
        /// The list: id, full_name (or given_name/surname), aliases (`;`-separated),
        /// date_of_birth, nationality, list, reason.
        #[arg(long)]
        watchlist: PathBuf,
        /// The travellers: id, full_name (or given_name/surname), date_of_birth, nationality, sex.
        #[arg(long)]
        queries: PathBuf,
        /// HITS.csv: `query_id,entry_id,score,explanation`.
        #[arg(long)]
        out: PathBuf,
        /// Score from which a traveller is flagged (0–1).
        #[arg(long, default_value_t = screen::DEFAULT_THRESHOLD)]
        threshold: f64,
        #[command(flatten)]
        read: ReadArgs,
    },
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Map a column to a field: `--map rec_id=id --map soc_sec_id=document_number`. Several
    /// columns mapped to `address` are joined.
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    map: Vec<String>,
    /// Refuse the input if any row has a problem (default: skip the row and report it).
    #[arg(long)]
    strict: bool,
    /// Refuse inputs with more records than this.
    #[arg(long, default_value_t = 5_000_000)]
    max_records: usize,
}

impl ReadArgs {
    fn limits(&self) -> Limits {
        Limits {
            strict: self.strict,
            max_records: self.max_records,
        }
    }
}

/// Progress bars on stderr (hidden when stderr is not a terminal).
struct Bars {
    bar: ProgressBar,
    started: Instant,
    /// `PASSAGE_MATCH_TIMING=1` prints when each stage starts (for tuning).
    timing: bool,
}

impl Bars {
    fn new() -> Bars {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Bars {
            bar,
            started: Instant::now(),
            timing: std::env::var_os("PASSAGE_MATCH_TIMING").is_some(),
        }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &'static str, total: Option<u64>) {
        if self.timing {
            eprintln!("{:8.3} s  {name}", self.started.elapsed().as_secs_f64());
        }
        self.bar.set_message(name);
        self.bar.set_position(0);
        self.bar.set_length(total.unwrap_or(0));
        self.bar.tick();
    }
    fn advance(&self, done: u64) {
        self.bar.inc(done);
    }
}

fn report(path: &Path, problems: &[RowProblem]) {
    const SHOWN: usize = 20;
    for problem in problems.iter().take(SHOWN) {
        eprintln!("{}: {problem}", path.display());
    }
    if problems.len() > SHOWN {
        eprintln!(
            "{}: … and {} more row problems",
            path.display(),
            problems.len() - SHOWN
        );
    }
}

fn load(path: &Path, read: &ReadArgs) -> Result<Vec<Record>> {
    let mapping = Mapping::parse(&read.map)?;
    let Loaded { items, problems } = read_records(path, &mapping, read.limits())?;
    report(path, &problems);
    Ok(items)
}

/// Writes a CSV next to its destination and renames it into place: a failed run leaves no
/// half-written file.
fn write_csv(path: &Path, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<()> {
    let partial = path.with_extension("partial");
    let mut out =
        csv::Writer::from_path(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    out.write_record(header)?;
    for row in rows {
        out.write_record(&row)?;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn check_threshold(threshold: f64) -> Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&threshold),
        "--threshold must be between 0 and 1"
    );
    Ok(())
}

pub fn run(command: MatchCommand) -> Result<ExitCode> {
    let started = Instant::now();
    let bars = Bars::new();
    match command {
        MatchCommand::Dedupe {
            input,
            out,
            pairs,
            threshold,
            read,
        } => {
            check_threshold(threshold)?;
            let records = load(&input, &read)?;
            bars.stage("preparing", None);
            let prepared = prepare(&records);
            let matches = find_matches(&prepared, Mode::Dedupe, threshold, &bars);
            bars.stage("clustering", None);
            let groups = clusters(&prepared, &matches, threshold);
            bars.bar.finish_and_clear();
            write_csv(
                &out,
                &["id", "cluster"],
                records
                    .iter()
                    .zip(&groups)
                    .map(|(r, &g)| vec![r.id.clone(), records[g as usize].id.clone()]),
            )?;
            if let Some(path) = pairs {
                write_pairs(&path, &records, &matches)?;
            }
            let persons = groups
                .iter()
                .enumerate()
                .filter(|&(i, &g)| i == g as usize)
                .count();
            eprintln!(
                "{} records, {} pairs compared, {} matched, {} persons; {:.1} s{}",
                records.len(),
                matches.candidates,
                matches.pairs.len(),
                persons,
                started.elapsed().as_secs_f64(),
                skipped_note(matches.skipped_blocks)
            );
        }
        MatchCommand::Link {
            left,
            right,
            out,
            threshold,
            one_to_one,
            read,
        } => {
            check_threshold(threshold)?;
            let left_records = load(&left, &read)?;
            let right_records = load(&right, &read)?;
            bars.stage("preparing", None);
            let mut prepared = prepare(&left_records);
            prepared.extend(prepare(&right_records));
            let mut matches = find_matches(
                &prepared,
                Mode::Link {
                    left: left_records.len(),
                },
                threshold,
                &bars,
            );
            if one_to_one {
                passage_match::one_to_one(&mut matches.pairs);
            }
            bars.bar.finish_and_clear();
            // Right-hand indices follow the left-hand records.
            let mut both = left_records.clone();
            both.extend(right_records.iter().cloned());
            write_pairs(&out, &both, &matches)?;
            eprintln!(
                "{} + {} records, {} pairs compared, {} matched; {:.1} s{}",
                left_records.len(),
                right_records.len(),
                matches.candidates,
                matches.pairs.len(),
                started.elapsed().as_secs_f64(),
                skipped_note(matches.skipped_blocks)
            );
        }
        MatchCommand::Screen {
            watchlist,
            queries,
            out,
            threshold,
            read,
        } => {
            check_threshold(threshold)?;
            let mapping = Mapping::parse(&read.map)?;
            let listed = read_entries(&watchlist, &mapping, read.limits())?;
            report(&watchlist, &listed.problems);
            let travellers = read_entries(&queries, &mapping, read.limits())?;
            report(&queries, &travellers.problems);
            bars.stage("indexing", None);
            let built = Instant::now();
            let index = Watchlist::build(&listed.items);
            let index_time = built.elapsed().as_secs_f64();
            let records: Vec<Record> = travellers.items.into_iter().map(|e| e.record).collect();
            let screened = Instant::now();
            let hits = index.screen_all(&records, threshold, &bars);
            let screen_time = screened.elapsed().as_secs_f64();
            bars.bar.finish_and_clear();
            if bars.timing {
                // One traveller at a time, as at a border post: the latency an officer waits.
                let mut each: Vec<f64> = records
                    .iter()
                    .map(|q| {
                        let start = Instant::now();
                        let _ = index.screen(q, threshold);
                        start.elapsed().as_secs_f64() * 1000.0
                    })
                    .collect();
                each.sort_by(f64::total_cmp);
                let at = |p: f64| {
                    each.get(((each.len() as f64 * p) as usize).min(each.len().saturating_sub(1)))
                        .copied()
                        .unwrap_or(0.0)
                };
                eprintln!(
                    "one query at a time: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                    at(0.5),
                    at(0.99),
                    at(1.0)
                );
            }
            let total: usize = hits.iter().map(Vec::len).sum();
            let rows = records.iter().zip(&hits).flat_map(|(query, hits)| {
                hits.iter().map(|hit| {
                    vec![
                        query.id.clone(),
                        listed.items[hit.entry].record.id.clone(),
                        format!("{:.4}", hit.score),
                        hit.explanation.clone(),
                    ]
                })
            });
            write_csv(&out, &["query_id", "entry_id", "score", "explanation"], rows)?;
            eprintln!(
                "{} listed, {} screened, {} hits; index {:.2} s, screening {:.2} s ({:.3} ms per traveller)",
                index.len(),
                records.len(),
                total,
                index_time,
                screen_time,
                1000.0 * screen_time / records.len().max(1) as f64
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn skipped_note(skipped: usize) -> String {
    if skipped == 0 {
        String::new()
    } else {
        format!("; {skipped} oversized blocks not expanded (other rules cover them)")
    }
}

fn write_pairs(path: &Path, records: &[Record], matches: &passage_match::Matches) -> Result<()> {
    let rows = matches.pairs.iter().map(|p| {
        vec![
            records[p.left as usize].id.clone(),
            records[p.right as usize].id.clone(),
            format!("{:.6}", p.score.probability),
            p.score.explanation(),
        ]
    });
    write_csv(path, &["left", "right", "probability", "explanation"], rows)
}
