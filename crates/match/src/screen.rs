//! Watchlist screening: an in-memory index of listed names answering "who on the list could
//! this traveller be?" in well under a millisecond.
//!
//! Candidates come from an inverted index over several keys per name part (the word, every
//! one-letter deletion of it — so any single typo still meets —, its variant group, Double
//! Metaphone code and consonant skeleton). Rare parts find candidates; common parts (Mohamed)
//! only add to candidates already found, so a common given name never floods the list.
//! Candidates are then scored by aligning name parts weighted by rarity, and qualified by date
//! of birth, nationality and sex.

use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// Per-thread buffers for candidate search, reused across queries.
#[derive(Default)]
struct Scratch {
    masks: Vec<u8>,
    touched: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

use crate::compare::jw;
use crate::record::{BirthDate, Prepared, Record, Token, key_of};

/// Default score from which a traveller is flagged.
pub const DEFAULT_THRESHOLD: f64 = 0.82;
/// Most hits returned per query.
pub const MAX_HITS: usize = 10;
/// Postings beyond which a query's rarest part is too common to find candidates alone.
const PAIR_THRESHOLD: usize = 6_000;
/// Hits further than this below the best one are dropped.
const RELATIVE_CUT: f64 = 0.08;
/// Share of its weight a middle name part missing from the other name costs (see [`missing_share`]).
const MISSING_MIDDLE: f64 = 0.3;
/// Share of a query's name weight that index keys must cover before a candidate is scored.
const MIN_KEY_COVER: f64 = 0.7;

/// A listed person (one record per entry; aliases are further names of the same entry).
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub record: Record,
    pub aliases: Vec<String>,
    pub list: String,
    pub reason: String,
}

#[derive(Debug)]
struct Name {
    entry: u32,
    tokens: Vec<Token>,
    /// Rarity weight of each token.
    weights: Vec<f64>,
}

#[derive(Debug)]
struct Listed {
    prepared: Prepared,
}

/// The screening index; rebuilt whole when a list changes.
#[derive(Debug, Default)]
pub struct Watchlist {
    entries: Vec<Listed>,
    names: Vec<Name>,
    postings: FxHashMap<u64, Vec<u32>>,
    /// Names containing each variant group: how common a name part is.
    frequency: FxHashMap<u64, u32>,
}

/// One flagged entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index of the entry in the order given to [`Watchlist::build`].
    pub entry: usize,
    pub score: f64,
    pub explanation: String,
}

/// Keys under which a name part is indexed and looked up.
fn keys(token: &Token, out: &mut Vec<u64>) {
    out.push(key_of(&("w", &*token.text)));
    out.push(key_of(&("v", token.variant)));
    let text = token.text.as_bytes();
    // Sound keys of very short parts say too little (`ali` → `l`) and would flood the lists.
    if text.len() >= 4 {
        out.push(key_of(&("p", token.phonetic)));
        out.push(key_of(&("k", token.skeleton)));
    }
    if text.len() >= 3 {
        let mut deleted = Vec::with_capacity(text.len());
        for skip in 0..text.len() {
            deleted.clear();
            deleted.extend_from_slice(&text[..skip]);
            deleted.extend_from_slice(&text[skip + 1..]);
            out.push(key_of(&("w", &*String::from_utf8_lossy(&deleted))));
        }
    }
}

/// Every key a listed name is indexed under, once each: its parts' keys, pairs of parts,
/// and each part's variant with another part's first letter.
fn name_keys(tokens: &[Token]) -> Vec<u64> {
    let mut out = Vec::new();
    for token in tokens {
        keys(token, &mut out);
    }
    out.extend(pair_keys(tokens));
    for (i, a) in tokens.iter().enumerate() {
        for (j, b) in tokens.iter().enumerate() {
            if i != j {
                out.push(variant_and_initial(a, b));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Keys for two parts of a name together (their variant groups, their sounds): when every
/// part of a query is common, candidates come from these instead of one part's long list.
fn pair_keys(tokens: &[Token]) -> Vec<u64> {
    let parts = &tokens[..tokens.len().min(6)];
    let mut out = Vec::new();
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i + 1..] {
            out.push(key_of(&(
                "vv",
                a.variant.min(b.variant),
                a.variant.max(b.variant),
            )));
            out.push(key_of(&(
                "pp",
                a.phonetic.min(b.phonetic),
                a.phonetic.max(b.phonetic),
            )));
        }
    }
    out
}

/// Whether a part with typos beyond the keys' reach may still be this listed part: the same
/// first letter (typos seldom hit it) and close spelling.
fn resembles(typed: &Token, listed: &Token) -> bool {
    typed.text.as_bytes().first() == listed.text.as_bytes().first() && jw(&typed.text, &listed.text) >= 0.85
}

/// Key of one part's variant group with another part's first letter.
fn variant_and_initial(part: &Token, other: &Token) -> u64 {
    key_of(&("vi", part.variant, other.text.as_bytes().first().copied()))
}

/// Whether two parts would share an index key (without computing the keys).
fn keys_meet(a: &Token, b: &Token) -> bool {
    a.exact == b.exact
        || a.variant == b.variant
        || a.phonetic == b.phonetic
        || a.skeleton == b.skeleton
        || (a.text.len() >= 4
            && b.text.len() >= 4
            && crate::compare::within_one_edit(a.text.as_bytes(), b.text.as_bytes()))
}

fn name_tokens_of(prepared: &Prepared) -> Vec<Token> {
    prepared.given.iter().chain(&prepared.surname).cloned().collect()
}

impl Watchlist {
    pub fn build(entries: &[Entry]) -> Watchlist {
        use rayon::prelude::*;
        // Normalising names and computing their keys is most of the work, and independent
        // per entry: in parallel. Only filling the postings is sequential.
        let prepared: Vec<(Prepared, Vec<Vec<Token>>)> = entries
            .par_iter()
            .map(|entry| {
                let (prepared, _) = Prepared::new(&entry.record);
                let mut names = vec![name_tokens_of(&prepared)];
                for alias in &entry.aliases {
                    let (alias, _) = Prepared::new(&Record {
                        full_name: alias.clone(),
                        ..Record::default()
                    });
                    names.push(name_tokens_of(&alias));
                }
                names.retain(|tokens| !tokens.is_empty());
                (prepared, names)
            })
            .collect();
        let mut list = Watchlist::default();
        for (e, (prepared, names)) in prepared.into_iter().enumerate() {
            for tokens in names {
                list.names.push(Name {
                    entry: e as u32,
                    tokens,
                    weights: Vec::new(),
                });
            }
            list.entries.push(Listed { prepared });
        }
        let name_keys: Vec<Vec<u64>> = list
            .names
            .par_iter()
            .map(|name| name_keys(&name.tokens))
            .collect();
        for (n, (name, keys)) in list.names.iter().zip(name_keys).enumerate() {
            for key in keys {
                list.postings.entry(key).or_default().push(n as u32);
            }
            let mut seen_variants: Vec<u64> = Vec::new();
            for token in &name.tokens {
                if !seen_variants.contains(&token.variant) {
                    seen_variants.push(token.variant);
                    *list.frequency.entry(token.variant).or_insert(0) += 1;
                }
            }
        }
        // Middle names are often left out of a document: missing them costs half.
        let weights: Vec<Vec<f64>> = list
            .names
            .iter()
            .map(|n| {
                let last = n.tokens.len().saturating_sub(1);
                n.tokens
                    .iter()
                    .enumerate()
                    .map(|(i, t)| list.weight(t) * if i == 0 || i == last { 1.0 } else { 0.5 })
                    .collect()
            })
            .collect();
        for (name, weights) in list.names.iter_mut().zip(weights) {
            name.weights = weights;
        }
        list
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How much a name part says: the rarer, the more.
    fn weight(&self, token: &Token) -> f64 {
        let df = self.frequency.get(&token.variant).copied().unwrap_or(0);
        (1.0 + (self.names.len().max(1) as f64) / (1.0 + f64::from(df))).ln()
    }

    /// Screens one traveller; hits above `threshold`, best first.
    pub fn screen(&self, query: &Record, threshold: f64) -> Vec<Hit> {
        let (prepared, _) = Prepared::new(query);
        let tokens = name_tokens_of(&prepared);
        if tokens.is_empty() || self.names.is_empty() {
            return Vec::new();
        }
        let last = tokens.len() - 1;
        let weights: Vec<f64> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| self.weight(t) * if i == 0 || i == last { 1.0 } else { 0.5 })
            .collect();
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
        let candidates = SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let Scratch { masks, touched } = &mut *scratch;
            masks.resize(self.names.len(), 0);
            let found = self.candidates(&tokens, &weights, &order, masks, touched);
            for &n in touched.iter() {
                masks[n as usize] = 0;
            }
            touched.clear();
            found
        });
        let mut best: FxHashMap<u32, Scored> = FxHashMap::default();
        for n in candidates {
            let name = &self.names[n as usize];
            let scored = self.score(&tokens, &weights, name, &prepared);
            if scored.score >= threshold {
                let slot = best.entry(name.entry).or_insert(scored);
                if scored.score > slot.score {
                    *slot = scored;
                }
            }
        }
        let mut hits: Vec<(u32, Scored)> = best.into_iter().collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        // Far weaker hits than the best one are noise for the officer.
        let floor = hits.first().map_or(0.0, |h| h.1.score - RELATIVE_CUT);
        hits.retain(|h| h.1.score >= floor);
        hits.truncate(MAX_HITS);
        hits.into_iter()
            .map(|(entry, scored)| Hit {
                entry: entry as usize,
                score: scored.score,
                explanation: scored.explanation(),
            })
            .collect()
    }

    /// Names whose index keys cover enough of the query's weight. Rare parts, taken first,
    /// find candidates; once what remains could no longer reach the cover, parts only mark
    /// candidates already found. `masks` (all zero on entry) records which parts met each name.
    fn candidates(
        &self,
        tokens: &[Token],
        weights: &[f64],
        order: &[usize],
        masks: &mut [u8],
        touched: &mut Vec<u32>,
    ) -> Vec<u32> {
        // A part no listed name has (not even in another spelling) is most often a typo
        // beyond what the keys bridge: the other parts find the candidates, and the part
        // only has to resemble one of theirs (checked below).
        let unseen: Vec<bool> = tokens
            .iter()
            .map(|t| !self.frequency.contains_key(&t.variant))
            .collect();
        let unseen = if unseen.iter().all(|&u| u) {
            vec![false; tokens.len()]
        } else {
            unseen
        };
        let total: f64 = weights
            .iter()
            .zip(&unseen)
            .filter(|(_, u)| !**u)
            .map(|(w, _)| w)
            .sum();
        let mut remaining = total;
        let mut keys_of_part = Vec::new();
        // When even the rarest part is common, pairs of parts find the candidates.
        // (A mistyped part does not count: its keys meet nothing or unrelated names.)
        let rarest_seen = order.iter().find(|&&t| !unseen[t]).copied().unwrap_or(order[0]);
        let by_pairs = tokens.len() >= 2 && self.volume(&tokens[rarest_seen]) > PAIR_THRESHOLD;
        if by_pairs {
            for (i, a) in tokens.iter().enumerate().take(6) {
                for (j, b) in tokens.iter().enumerate().take(6).skip(i + 1) {
                    let bits = (1u8 << i.min(7)) | (1u8 << j.min(7));
                    let mut keys = pair_keys(&[a.clone(), b.clone()]);
                    // A mistyped part keeps its first letter: with another part's variant,
                    // it finds the few names that could be meant.
                    match (unseen[i], unseen[j]) {
                        (true, false) => keys.push(variant_and_initial(b, a)),
                        (false, true) => keys.push(variant_and_initial(a, b)),
                        _ => {}
                    }
                    for key in keys {
                        for &n in self.postings.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
                            let mask = &mut masks[n as usize];
                            if *mask == 0 {
                                touched.push(n);
                            }
                            *mask |= bits;
                        }
                    }
                }
            }
        }
        for &t in order {
            let may_add = !by_pairs && (unseen[t] || remaining / total >= MIN_KEY_COVER);
            if !unseen[t] {
                remaining -= weights[t];
            }
            let bit = 1u8 << t.min(7);
            keys_of_part.clear();
            keys(&tokens[t], &mut keys_of_part);
            keys_of_part.sort_unstable();
            keys_of_part.dedup();
            let postings: Vec<&[u32]> = keys_of_part
                .iter()
                .filter_map(|k| self.postings.get(k))
                .map(Vec::as_slice)
                .collect();
            let visits: usize = postings.iter().map(|p| p.len()).sum();
            if may_add || visits < touched.len() * 4 {
                for &n in postings.iter().flat_map(|p| p.iter()) {
                    let mask = &mut masks[n as usize];
                    if *mask == 0 {
                        if !may_add {
                            continue;
                        }
                        touched.push(n);
                    }
                    *mask |= bit;
                }
            } else {
                // A common part's lists are long: check the few candidates directly instead.
                let q = &tokens[t];
                for &n in touched.iter() {
                    if self.names[n as usize].tokens.iter().any(|e| keys_meet(q, e)) {
                        masks[n as usize] |= bit;
                    }
                }
            }
        }
        touched
            .iter()
            .copied()
            .filter(|&n| {
                let mask = masks[n as usize];
                let met = |t: usize| mask & (1 << t.min(7)) != 0;
                let covered: f64 = (0..tokens.len())
                    .filter(|&t| met(t) && !unseen[t])
                    .map(|t| weights[t])
                    .sum();
                covered / total >= MIN_KEY_COVER
                    && (0..tokens.len()).all(|t| {
                        !unseen[t]
                            || met(t)
                            || self.names[n as usize]
                                .tokens
                                .iter()
                                .any(|e| resembles(&tokens[t], e))
                    })
            })
            .collect()
    }

    /// How many postings a part's keys would visit.
    fn volume(&self, token: &Token) -> usize {
        let mut k = Vec::new();
        keys(token, &mut k);
        k.iter().filter_map(|k| self.postings.get(k)).map(Vec::len).sum()
    }

    /// Screens many travellers in parallel, in order.
    pub fn screen_all(
        &self,
        queries: &[Record],
        threshold: f64,
        progress: &dyn crate::Progress,
    ) -> Vec<Vec<Hit>> {
        use rayon::prelude::*;
        progress.stage("screening", Some(queries.len() as u64));
        queries
            .par_chunks(256)
            .flat_map_iter(|chunk| {
                let hits: Vec<Vec<Hit>> = chunk.iter().map(|q| self.screen(q, threshold)).collect();
                progress.advance(chunk.len() as u64);
                hits
            })
            .collect()
    }

    /// Aligns name parts both ways (rarity-weighted), then qualifies by date of birth,
    /// nationality and sex.
    fn score(&self, query: &[Token], query_weights: &[f64], name: &Name, prepared: &Prepared) -> Scored {
        let mut kinds = [0u8; 5];
        let (mut query_cover, mut query_total) = (0.0, 0.0);
        for (i, (q, w)) in query.iter().zip(query_weights).enumerate() {
            let (s, kind) = name
                .tokens
                .iter()
                .map(|e| similarity(q, e))
                .fold((0.0, 4), |best, x| if x.0 > best.0 { x } else { best });
            kinds[kind] += 1;
            query_cover += w * s;
            query_total += w * missing_share(i, query.len(), s);
        }
        let (mut entry_cover, mut entry_total) = (0.0, 0.0);
        for (i, (e, w)) in name.tokens.iter().zip(&name.weights).enumerate() {
            let s = query.iter().map(|q| similarity(q, e).0).fold(0.0, f64::max);
            entry_cover += w * s;
            entry_total += w * missing_share(i, name.tokens.len(), s);
        }
        let mut score = 0.5 * query_cover / query_total.max(f64::MIN_POSITIVE)
            + 0.5 * entry_cover / entry_total.max(f64::MIN_POSITIVE);
        let listed = &self.entries[name.entry as usize].prepared;
        let birth = birth_agreement(prepared.birth, listed.birth);
        match birth {
            Some(true) => score = (score + 0.05).min(1.0),
            // Screening practice: a different date of birth is strong evidence of a namesake.
            Some(false) => score *= 0.75,
            None => {}
        }
        let nationality = match (&prepared.nationality, &listed.nationality) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        // Dual nationals and false papers exist: a different nationality weakens a hit, but
        // an exact full name still alerts (1.0 × 0.88 is above the default threshold).
        if nationality == Some(false) {
            score *= 0.88;
        }
        let sex = match (prepared.sex, listed.sex) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        if sex == Some(false) {
            score *= 0.9;
        }
        Scored {
            score,
            parts: query.len() as u8,
            kinds,
            birth,
            nationality,
            sex,
        }
    }
}

/// How much of a part's weight counts against a name when the other name lacks it: middle
/// names are often left out of a document or a list, so a missing one costs little.
fn missing_share(index: usize, parts: usize, similarity: f64) -> f64 {
    if similarity > 0.0 || index == 0 || index + 1 == parts {
        1.0
    } else {
        MISSING_MIDDLE
    }
}

fn similarity(a: &Token, b: &Token) -> (f64, usize) {
    if a.exact == b.exact {
        (1.0, 0)
    } else if a.variant == b.variant {
        (0.95, 1)
    } else {
        let s = jw(&a.text, &b.text);
        if a.phonetic == b.phonetic || a.skeleton == b.skeleton {
            (s.max(0.88), 2)
        } else if s >= 0.85 {
            (s, 3)
        } else {
            (0.0, 4)
        }
    }
}

/// A candidate's score and what it rests on.
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f64,
    parts: u8,
    /// Query parts matched exactly, as a variant, by sound, by close spelling, not at all.
    kinds: [u8; 5],
    birth: Option<bool>,
    nationality: Option<bool>,
    sex: Option<bool>,
}

impl Scored {
    /// Names kinds of agreement, never the names.
    fn explanation(&self) -> String {
        let k = self.kinds;
        let how: Vec<String> = [
            (k[0], "exact"),
            (k[1], "variant spelling"),
            (k[2], "sound alike"),
            (k[3], "close spelling"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        let detail = if how.is_empty() {
            String::new()
        } else {
            format!(" ({})", how.join(", "))
        };
        let mut notes = vec![format!(
            "{} of {} name parts matched{detail}",
            self.parts - k[4],
            self.parts
        )];
        let say = |value: Option<bool>, what: &str, yes: &str, no: &str| {
            value.map(|v| format!("{what} {}", if v { yes } else { no }))
        };
        notes.extend(say(self.birth, "date of birth", "agrees", "differs"));
        notes.extend(say(self.nationality, "nationality", "same", "differs"));
        notes.extend(say(self.sex, "sex", "same", "differs"));
        notes.join("; ")
    }
}

/// Agree when the years are within 1 (or 3 if either is estimated) and known months/days
/// agree; differ otherwise; unknown when either side has no date.
fn birth_agreement(a: Option<BirthDate>, b: Option<BirthDate>) -> Option<bool> {
    let (a, b) = (a?, b?);
    let slack = if a.estimated || b.estimated { 3 } else { 1 };
    let years = a.year.abs_diff(b.year);
    Some(
        years <= slack
            && (years > 0 || a.month == 0 || b.month == 0 || a.month == b.month || a.month == b.day),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, aliases: &[&str], dob: &str) -> Entry {
        Entry {
            record: Record {
                full_name: name.into(),
                date_of_birth: dob.into(),
                ..Record::default()
            },
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            ..Entry::default()
        }
    }

    fn query(name: &str, dob: &str) -> Record {
        Record {
            full_name: name.into(),
            date_of_birth: dob.into(),
            ..Record::default()
        }
    }

    fn list() -> Watchlist {
        let mut entries = vec![
            entry("Mohammed Ahmed Kollie", &["Momodu Kollie"], "1984-03-02"),
            entry("Aboubakar Ouedraogo", &[], ""),
            entry("Fatoumata Diallo", &[], "1990"),
        ];
        // Many ordinary names, so that rarity means something.
        for i in 0..200 {
            entry_push(&mut entries, i);
        }
        Watchlist::build(&entries)
    }

    fn entry_push(entries: &mut Vec<Entry>, i: usize) {
        let given = ["Mohamed", "Fatu", "John", "Musu", "Ibrahim"][i % 5];
        let family = [
            "Sirleaf", "Johnson", "Tarr", "Konneh", "Pewee", "Dolo", "Flomo", "Sumo",
        ][i % 8];
        entries.push(entry(
            &format!("{given} {family} {}", ["Lee", "Gray", "Cole"][i % 3]),
            &[],
            "",
        ));
    }

    #[test]
    fn finds_spelling_variants_typos_and_order() {
        let list = list();
        for q in [
            "Mohamed Kolie",
            "Kollie Mohammed Ahmed",
            "Mamadee Kollie",
            "Mohammed Ahmed Kolllie",
            "محمد احمد Kollie",
        ] {
            let hits = list.screen(&query(q, ""), DEFAULT_THRESHOLD);
            assert_eq!(hits.first().map(|h| h.entry), Some(0), "{q}: {hits:?}");
        }
        assert_eq!(
            list.screen(&query("Boubacar Wedraogo", ""), DEFAULT_THRESHOLD)
                .first()
                .map(|h| h.entry),
            Some(1)
        );
        assert_eq!(
            list.screen(&query("Fatu Jalloh", "1990-05-06"), DEFAULT_THRESHOLD)
                .first()
                .map(|h| h.entry),
            Some(2)
        );
    }

    #[test]
    fn a_part_with_several_typos_is_found_through_the_other_parts() {
        let mut entries = vec![entry("Ibrahim Sheriff", &[], "2004-08-02")];
        for i in 0..300 {
            entries.push(entry(
                &format!("{} Sheriff", ["Musa", "Fatu", "Isaac", "Sekou"][i % 4]),
                &[],
                "",
            ));
        }
        let list = Watchlist::build(&entries);
        // Two typos in the rarest part: no key of it meets the listed spelling.
        let hits = list.screen(&query("Ibdrahmi Sheriff", "2004-08-02"), DEFAULT_THRESHOLD);
        assert_eq!(hits.first().map(|h| h.entry), Some(0), "{hits:?}");
        // The other part alone is no alert.
        assert!(
            list.screen(&query("Zwxyq Sheriff", ""), DEFAULT_THRESHOLD)
                .is_empty()
        );
    }

    #[test]
    fn a_missing_middle_name_costs_little_beside_an_exact_namesake() {
        let mut entries = vec![
            entry("Asres Alemtsehay Kedir", &[], ""),
            entry("Asres Kedir", &[], "1960-01-01"),
        ];
        for i in 0..200 {
            entry_push(&mut entries, i);
        }
        let list = Watchlist::build(&entries);
        let hits = list.screen(&query("Asres Kedir", ""), DEFAULT_THRESHOLD);
        let found: Vec<usize> = hits.iter().map(|h| h.entry).collect();
        assert!(found.contains(&0) && found.contains(&1), "{hits:?}");
    }

    #[test]
    fn a_common_given_name_alone_does_not_alert() {
        let list = list();
        assert!(
            list.screen(&query("Mohamed Bility", ""), DEFAULT_THRESHOLD)
                .is_empty()
        );
        assert!(list.screen(&query("", ""), DEFAULT_THRESHOLD).is_empty());
    }

    #[test]
    fn explanations_carry_no_names() {
        let list = list();
        let hits = list.screen(&query("Mohamed Kolie", "1984-03-02"), DEFAULT_THRESHOLD);
        let text = &hits[0].explanation;
        assert!(text.contains("date of birth agrees"), "{text}");
        assert!(
            !text.to_lowercase().contains("kol") && !text.to_lowercase().contains("moh"),
            "{text}"
        );
    }
}
