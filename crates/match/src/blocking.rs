//! Blocking: which pairs are worth comparing. Several rules, each a key built from a few
//! fields; two records are candidates when any rule gives them the same key. A pair found by
//! several rules is produced once, by the first.

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::compare::Comparison;
use crate::record::{Prepared, key_of};

/// Blocks larger than this are not expanded (their key says too little, e.g. a date of birth
/// everyone was given by default); other rules still find the true pairs in them.
pub const MAX_BLOCK: usize = 400;

/// A blocking rule: its name (for reports) and which comparisons it constrains or, among
/// its pairs, all but decides (names sounding alike come with the same sex and nationality
/// whether or not the records are the same person); a training session on the rule's pairs
/// does not learn those comparisons.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub uses: &'static [Comparison],
    /// Whether EM learns from this rule's pairs alone (a training session, as in Splink).
    pub trains: bool,
    key: fn(&Prepared) -> Option<u64>,
}

use Comparison::*;

pub const RULES: &[Rule] = &[
    Rule {
        name: "given and surname sound alike (either order)",
        uses: &[GivenName, Surname, Sex, Nationality],
        trains: true,
        key: names_sound,
    },
    Rule {
        name: "same name variants",
        uses: &[GivenName, Surname],
        trains: false,
        key: name_variants,
    },
    Rule {
        name: "date of birth and given initial",
        uses: &[BirthDate, GivenName],
        trains: true,
        key: |p| date_and_initial(p, &p.given),
    },
    Rule {
        name: "date of birth and surname initial",
        uses: &[BirthDate, Surname],
        trains: true,
        key: |p| date_and_initial(p, &p.surname),
    },
    Rule {
        name: "date of birth and both initials (either order)",
        uses: &[BirthDate, GivenName, Surname],
        trains: false,
        key: date_and_initials,
    },
    Rule {
        name: "surname variant and given initial",
        uses: &[Surname, GivenName],
        trains: false,
        key: |p| variant_and_initial(&p.surname, &p.given),
    },
    Rule {
        name: "given-name variant and surname initial",
        uses: &[GivenName, Surname],
        trains: false,
        key: |p| variant_and_initial(&p.given, &p.surname),
    },
    Rule {
        name: "document number",
        uses: &[Document],
        trains: false,
        key: |p| p.document.as_deref().map(|d| key_of(&("doc", d))),
    },
    Rule {
        name: "phone",
        uses: &[Phone],
        trains: false,
        key: |p| p.phone.as_deref().map(|d| key_of(&("phone", d))),
    },
    // A single typo in a document number leaves one of its halves intact.
    Rule {
        name: "first half of document number and birth year",
        uses: &[Document, BirthDate],
        trains: false,
        key: |p| document_half(p, true),
    },
    Rule {
        name: "second half of document number and birth year",
        uses: &[Document, BirthDate],
        trains: false,
        key: |p| document_half(p, false),
    },
    Rule {
        name: "surname skeleton and birth year",
        uses: &[Surname, BirthDate],
        trains: false,
        key: |p| skeleton_and_year(p, &p.surname),
    },
    Rule {
        name: "given-name skeleton and birth year",
        uses: &[GivenName, BirthDate],
        trains: false,
        key: |p| skeleton_and_year(p, &p.given),
    },
    // Relatives and re-registrations at one address; a typo in the address leaves its start
    // or its end intact (house number and street, or town and postcode).
    Rule {
        name: "first two words of the address",
        uses: &[Address],
        trains: false,
        key: |p| address_words(p, true),
    },
    Rule {
        name: "last two words of the address",
        uses: &[Address],
        trains: false,
        key: |p| address_words(p, false),
    },
];

fn address_words(p: &Prepared, start: bool) -> Option<u64> {
    let words = &p.address;
    if words.len() < 3 {
        return None;
    }
    let two = if start {
        &words[..2]
    } else {
        &words[words.len() - 2..]
    };
    Some(key_of(&("address", start, &*two[0], &*two[1])))
}

fn names_sound(p: &Prepared) -> Option<u64> {
    let (g, s) = (p.given.first()?.phonetic, p.surname.first()?.phonetic);
    Some(key_of(&("sound", g.min(s), g.max(s))))
}

fn name_variants(p: &Prepared) -> Option<u64> {
    Some(key_of(&(
        "variant",
        p.given.first()?.variant,
        p.surname.first()?.variant,
    )))
}

fn date_and_initial(p: &Prepared, part: &[crate::record::Token]) -> Option<u64> {
    let birth = p.birth.filter(|b| b.day > 0 && !b.estimated)?;
    Some(key_of(&(
        "dob",
        birth.year,
        birth.month,
        birth.day,
        initial(part)?,
    )))
}

fn document_half(p: &Prepared, first: bool) -> Option<u64> {
    let document = p.document.as_deref().filter(|d| d.len() >= 6)?;
    let middle = document.len() / 2;
    let half = if first {
        &document[..middle]
    } else {
        &document[middle..]
    };
    Some(key_of(&("doc-half", first, half, p.birth?.year)))
}

fn initial(part: &[crate::record::Token]) -> Option<u8> {
    Some(part.first()?.text.as_bytes()[0])
}

fn date_and_initials(p: &Prepared) -> Option<u64> {
    let birth = p.birth.filter(|b| b.day > 0 && !b.estimated)?;
    let (g, s) = (initial(&p.given)?, initial(&p.surname)?);
    Some(key_of(&(
        "dob2",
        birth.year,
        birth.month,
        birth.day,
        g.min(s),
        g.max(s),
    )))
}

fn variant_and_initial(part: &[crate::record::Token], other: &[crate::record::Token]) -> Option<u64> {
    Some(key_of(&("vi", part.first()?.variant, initial(other)?)))
}

fn skeleton_and_year(p: &Prepared, part: &[crate::record::Token]) -> Option<u64> {
    Some(key_of(&("skel", part.first()?.skeleton, p.birth?.year)))
}

/// The blocking keys of one record as text, stable across versions and platforms: for
/// storing as keyed hashes in a database, so that candidates are found without reading
/// anyone's name (the same rules as [`RULES`]).
pub fn stored_keys(p: &Prepared) -> Vec<String> {
    use crate::normalize::{canonical, skeleton};
    use crate::record::phonetic_code;
    let mut keys = Vec::new();
    let (given, surname) = (
        p.given.first().map(|t| &*t.text),
        p.surname.first().map(|t| &*t.text),
    );
    if let (Some(g), Some(s)) = (given, surname) {
        let (a, b) = (phonetic_code(g), phonetic_code(s));
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        keys.push(format!("sound:{low}|{high}"));
        keys.push(format!("variant:{}|{}", canonical(g), canonical(s)));
    }
    if let Some(b) = p.birth.filter(|b| b.day > 0 && !b.estimated) {
        let date = format!("{:04}{:02}{:02}", b.year, b.month, b.day);
        let (gi, si) = (
            given.and_then(|g| g.chars().next()),
            surname.and_then(|s| s.chars().next()),
        );
        if let Some(i) = gi {
            keys.push(format!("dob-given:{date}{i}"));
        }
        if let Some(i) = si {
            keys.push(format!("dob-surname:{date}{i}"));
        }
    }
    if let Some(year) = p.birth.map(|b| b.year) {
        if let Some(s) = surname {
            keys.push(format!("skeleton-surname:{}|{year}", skeleton(s)));
        }
        if let Some(g) = given {
            keys.push(format!("skeleton-given:{}|{year}", skeleton(g)));
        }
    }
    if let Some(d) = &p.document {
        keys.push(format!("document:{d}"));
    }
    if let Some(phone) = &p.phone {
        keys.push(format!("phone:{phone}"));
    }
    keys
}

/// Which records are compared with which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every record against every other.
    Dedupe,
    /// Records `0..left` against records `left..`.
    Link { left: usize },
}

/// One rule's records sorted by key, and the ranges of equal keys worth expanding.
type RuleBlocks = (Vec<u32>, Vec<(u32, u32)>);

/// The blocking keys of every record, and the blocks to expand.
#[derive(Debug)]
pub struct Blocks {
    mode: Mode,
    /// `keys[record][rule]`, 0 = no key.
    keys: Vec<[u64; RULES.len()]>,
    /// Per rule: record indices sorted by key, and the ranges of equal keys worth expanding.
    groups: Vec<RuleBlocks>,
    /// Per rule, keys whose block was too large to expand.
    skipped: Vec<FxHashSet<u64>>,
    pub skipped_blocks: usize,
}

impl Blocks {
    pub fn new(records: &[Prepared], mode: Mode) -> Blocks {
        let keys: Vec<[u64; RULES.len()]> = records
            .par_iter()
            .map(|p| {
                let mut k = [0u64; RULES.len()];
                for (slot, rule) in k.iter_mut().zip(RULES) {
                    *slot = (rule.key)(p).unwrap_or(0);
                }
                k
            })
            .collect();
        let mut groups = Vec::new();
        let mut skipped = Vec::new();
        let mut skipped_blocks = 0;
        for rule in 0..RULES.len() {
            let mut order: Vec<u32> = (0..keys.len() as u32)
                .filter(|&i| keys[i as usize][rule] != 0)
                .collect();
            order.par_sort_unstable_by_key(|&i| keys[i as usize][rule]);
            let mut ranges = Vec::new();
            let mut too_big = FxHashSet::default();
            let mut start = 0;
            while start < order.len() {
                let key = keys[order[start] as usize][rule];
                let mut end = start + 1;
                while end < order.len() && keys[order[end] as usize][rule] == key {
                    end += 1;
                }
                if end - start > MAX_BLOCK {
                    too_big.insert(key);
                    skipped_blocks += 1;
                } else if end - start > 1 {
                    ranges.push((start as u32, end as u32));
                }
                start = end;
            }
            groups.push((order, ranges));
            skipped.push(too_big);
        }
        Blocks {
            mode,
            keys,
            groups,
            skipped,
            skipped_blocks,
        }
    }

    /// Pairs one rule's blocks would produce (each once per rule).
    pub fn rule_upper_bound(&self, rule: usize) -> u64 {
        self.groups[rule]
            .1
            .iter()
            .map(|&(start, end)| u64::from(end - start) * u64::from(end - start - 1) / 2)
            .sum()
    }

    /// Every pair one rule finds, whether or not another rule also finds it (for training
    /// on that rule alone); `i < j`, and in link mode `i` is on the left.
    pub fn rule_pairs(&self, rule: usize) -> impl ParallelIterator<Item = (u32, u32)> + '_ {
        let left = match self.mode {
            Mode::Dedupe => None,
            Mode::Link { left } => Some(left as u32),
        };
        let (order, ranges) = &self.groups[rule];
        ranges.par_iter().flat_map_iter(move |&(start, end)| {
            let block = &order[start as usize..end as usize];
            block.iter().enumerate().flat_map(move |(x, &i)| {
                block[x + 1..].iter().filter_map(move |&j| {
                    let (i, j) = (i.min(j), i.max(j));
                    match left {
                        Some(left) if !(i < left && j >= left) => None,
                        _ => Some((i, j)),
                    }
                })
            })
        })
    }

    /// Whether `rule` produces the pair (the records share a key of a block it expands).
    pub fn finds(&self, rule: usize, i: u32, j: u32) -> bool {
        let (a, b) = (self.keys[i as usize][rule], self.keys[j as usize][rule]);
        a != 0 && a == b && !self.skipped[rule].contains(&a)
    }

    /// Whether an earlier rule than `rule` already produces the pair.
    fn seen_before(&self, rule: usize, i: u32, j: u32) -> bool {
        (0..rule).any(|r| self.finds(r, i, j))
    }

    /// Every candidate pair once, with the index of the rule that produced it; `i < j`, and in
    /// link mode `i` is on the left.
    pub fn pairs(&self) -> impl ParallelIterator<Item = (u8, u32, u32)> + '_ {
        (0..self.groups.len()).into_par_iter().flat_map(move |rule| {
            self.rule_pairs(rule)
                .filter(move |&(i, j)| !self.seen_before(rule, i, j))
                .map(move |(i, j)| (rule as u8, i, j))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn person(given: &str, surname: &str, dob: &str) -> Prepared {
        Prepared::new(&Record {
            given_name: given.into(),
            surname: surname.into(),
            date_of_birth: dob.into(),
            ..Record::default()
        })
        .0
    }

    #[test]
    fn pairs_come_once_and_only_across_sides_when_linking() {
        let records = vec![
            person("Mohammed", "Kollie", "1990-04-09"),
            person("Mohamed", "Kolie", "1990-04-09"),
            person("Kollie", "Mohammed", "1990-04-09"),
            person("Fatu", "Sirleaf", "1975-01-02"),
        ];
        let mut pairs: Vec<(u32, u32)> = Blocks::new(&records, Mode::Dedupe)
            .pairs()
            .map(|(_, i, j)| (i, j))
            .collect();
        pairs.sort_unstable();
        assert_eq!(pairs, vec![(0, 1), (0, 2), (1, 2)]);
        let mut linked: Vec<(u32, u32)> = Blocks::new(&records, Mode::Link { left: 1 })
            .pairs()
            .map(|(_, i, j)| (i, j))
            .collect();
        linked.sort_unstable();
        assert_eq!(linked, vec![(0, 1), (0, 2)]);
    }

    #[test]
    fn a_rule_alone_gives_every_pair_it_finds() {
        let records = vec![
            person("Mohammed", "Kollie", "1990-04-09"),
            person("Mohamed", "Kollie", "1990-04-09"),
        ];
        let blocks = Blocks::new(&records, Mode::Dedupe);
        let date_rule = RULES
            .iter()
            .position(|r| r.name == "date of birth and given initial")
            .unwrap();
        // The name rule produces the pair first; the date rule still sees it for training.
        assert_eq!(
            blocks.pairs().map(|(rule, _, _)| rule).collect::<Vec<_>>(),
            vec![0]
        );
        assert_eq!(blocks.rule_pairs(date_rule).collect::<Vec<_>>(), vec![(0, 1)]);
        assert!(blocks.finds(date_rule, 0, 1) && blocks.finds(0, 0, 1));
    }

    #[test]
    fn an_address_finds_relatives_whose_names_differ() {
        let at = |given: &str, address: &str| {
            Prepared::new(&Record {
                given_name: given.into(),
                surname: "Kollie".into(),
                address: address.into(),
                ..Record::default()
            })
            .0
        };
        let records = vec![
            at("Musu", "14 Wynn Street Bilpin"),
            at("Varney", "14 Wynn Street Bilpiw"),
            at("Korto", "9 Ashmun Street Monrovia"),
        ];
        let pairs: Vec<(u32, u32)> = Blocks::new(&records, Mode::Dedupe)
            .pairs()
            .map(|(_, i, j)| (i, j))
            .collect();
        assert_eq!(pairs, vec![(0, 1)]);
    }
}
