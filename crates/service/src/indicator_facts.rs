//! The fact tables indicators are computed from: loaded in full from every case, service,
//! referral and hit, then kept up to date by re-reading only the cases that changed since
//! (`fact_changes`, which triggers fill), so that figures follow writes at any size.

use crate::Passage;
use crate::error::ServiceError;
use crate::indicators::Catalogue;
use passage_indicators::{SourceKind, SourceRef, Table, builtin};
use passage_store::facts::{self, CaseFact, CasesFacts, HitFact, ReferralFact, ServiceFact};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// The fact tables, one per source, and what is needed to bring them up to date.
#[derive(Debug, Clone)]
pub struct Facts {
    pub(crate) tables: HashMap<SourceRef, Table>,
    /// Values of manual indicators, as entered.
    pub(crate) manual: Vec<passage_store::reports::ManualValue>,
    /// When the last read began: the figures include every record saved before it.
    pub as_of: passage_domain::Timestamp,
    /// The tables hold every change up to this one (`fact_changes.seq`).
    pub(crate) change: i64,
    /// The change numbers of the last read (PostgreSQL reads recent ones again).
    seen: HashSet<i64>,
    layout: std::sync::Arc<Layout>,
    /// Each case seen: its number here (rows name their case by it) and, while it has one,
    /// its row in its programme's case table (index into `layout.keys`, row).
    cases: HashMap<Uuid, (u32, Option<(usize, usize)>)>,
    /// Per table, parallel to its rows: the number of the case the row comes from.
    owners: HashMap<SourceRef, Vec<u32>>,
}

/// Which tables a catalogue needs and which answers each reads.
#[derive(Debug, Clone)]
struct Layout {
    /// Per programme: every answer one of its tables keeps.
    wanted: HashMap<String, BTreeSet<String>>,
    repeats: Vec<SourceRef>,
    /// Per programme (by index): its case table's key and those of its services,
    /// referrals and hits, made once rather than per row.
    keys: Vec<(SourceRef, [SourceRef; 3])>,
}

/// What changed since a read: the cases (with their parts) as they are now. A changed case
/// that is not among them no longer exists.
#[derive(Debug)]
pub(crate) struct FactChanges {
    changed: Vec<Uuid>,
    now: CasesFacts,
    manual: Vec<passage_store::reports::ManualValue>,
    as_of: passage_domain::Timestamp,
    change: i64,
    seen: HashSet<i64>,
}

impl FactChanges {
    pub(crate) fn cases(&self) -> usize {
        self.changed.len()
    }
    pub(crate) fn as_of(&self) -> passage_domain::Timestamp {
        self.as_of
    }
    /// Whether applying these changes would leave `facts` as they are.
    pub(crate) fn change_nothing_in(&self, facts: &Facts) -> bool {
        self.changed.is_empty() && self.manual == facts.manual
    }
}

impl Facts {
    pub fn table(&self, source: &SourceRef) -> Option<&Table> {
        self.tables.get(source)
    }
    pub fn tables(&self) -> impl Iterator<Item = (&SourceRef, &Table)> {
        self.tables.iter()
    }

    /// The share of rows left out because their record changed since (a full reload
    /// compacts them away).
    pub(crate) fn retired_share(&self) -> f64 {
        let (retired, all) = self
            .tables
            .values()
            .fold((0, 0), |(r, a), t| (r + t.retired(), a + t.len()));
        if all == 0 {
            0.0
        } else {
            retired as f64 / all as f64
        }
    }

    /// Empty tables for what `catalogue` computes.
    fn new(catalogue: &Catalogue, as_of: passage_domain::Timestamp, change: i64) -> Self {
        let mut needed: HashMap<&SourceRef, BTreeSet<String>> = HashMap::new();
        for i in &catalogue.indicators {
            if let Some(c) = &i.computation {
                needed.entry(&c.source).or_default().extend(c.fields());
            }
        }
        let always = [builtin::ORG, builtin::COUNTY, builtin::NUMBER, builtin::CASE_ID];
        // A programme's case table also carries the case fields its services, referrals and
        // hits indicators use, so that those rows can copy them.
        let mut case_fields: HashMap<SourceRef, BTreeSet<String>> = HashMap::new();
        for (source, fields) in &needed {
            if source.repeat.is_some() {
                continue;
            }
            let parent = SourceRef {
                kind: SourceKind::Cases,
                programme: source.programme.clone(),
                repeat: None,
            };
            let Some(schema) = catalogue.sources.get(&parent) else {
                continue;
            };
            case_fields
                .entry(parent)
                .or_default()
                .extend(fields.iter().filter(|f| schema.field(f).is_some()).cloned());
        }
        let mut tables: HashMap<SourceRef, Table> = HashMap::new();
        for (source, fields) in needed.iter().map(|(s, f)| (*s, f)).chain(case_fields.iter()) {
            let fields = case_fields.get(source).unwrap_or(fields);
            let names = fields.iter().map(String::as_str).chain(always);
            tables.insert(source.clone(), Table::new(&catalogue.sources[source], names));
        }
        let repeats = tables.keys().filter(|s| s.repeat.is_some()).cloned().collect();
        let mut wanted: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (source, table) in &tables {
            wanted
                .entry(source.programme.clone())
                .or_default()
                .extend(table.field_names().map(str::to_owned));
        }
        let keys = catalogue
            .programmes
            .iter()
            .map(|(code, _)| {
                let key = |kind| SourceRef {
                    kind,
                    programme: code.clone(),
                    repeat: None,
                };
                (
                    key(SourceKind::Cases),
                    [
                        key(SourceKind::Services),
                        key(SourceKind::Referrals),
                        key(SourceKind::Hits),
                    ],
                )
            })
            .collect();
        let owners = tables.keys().map(|s| (s.clone(), Vec::new())).collect();
        Self {
            tables,
            manual: Vec::new(),
            as_of,
            change,
            seen: HashSet::new(),
            layout: std::sync::Arc::new(Layout {
                wanted,
                repeats,
                keys,
            }),
            cases: HashMap::new(),
            owners,
        }
    }

    fn push<'v>(
        &mut self,
        source: &SourceRef,
        owner: u32,
        get: impl Fn(&str) -> Option<&'v str>,
    ) -> Option<usize> {
        let table = self.tables.get_mut(source)?;
        let row = table.len();
        table.push(get);
        self.owners.get_mut(source)?.push(owner);
        Some(row)
    }

    /// Add a case's row and its repeat groups' rows.
    fn add_case(&mut self, case: &CaseFact) {
        let next = self.cases.len() as u32;
        let owner = self.cases.entry(case.id).or_insert((next, None)).0;
        let layout = self.layout.clone();
        // Borrowed parsing: only the answers some table uses are decoded.
        let raw: HashMap<&str, &RawValue> = serde_json::from_str(&case.reporting).unwrap_or_default();
        let wanted = layout.wanted.get(case.programme.as_str());
        let answers = decode(&raw, wanted);
        let builtins = CaseBuiltins::new(case);
        let get = |f: &str| builtins.get(f).or_else(|| answers.get(f).map(|v| v.as_ref()));
        let Some(programme) = layout
            .keys
            .iter()
            .position(|(k, _)| k.programme == case.programme)
        else {
            return;
        };
        if let Some(row) = self.push(&layout.keys[programme].0, owner, get) {
            self.cases.insert(case.id, (owner, Some((programme, row))));
        }
        for source in layout.repeats.iter().filter(|s| s.programme == case.programme) {
            let Some(items) = source.repeat.as_deref().and_then(|r| raw.get(r)) else {
                continue;
            };
            let items: Vec<HashMap<&str, &RawValue>> = serde_json::from_str(items.get()).unwrap_or_default();
            for item in &items {
                let own = decode(item, wanted);
                self.push(source, owner, |f| {
                    own.get(f).map(|v| v.as_ref()).or_else(|| get(f))
                });
            }
        }
    }

    /// Add a service, referral or hit row to its programme's table, with its case's answers.
    fn add_joined<'v>(&mut self, kind: SourceKind, case_id: Uuid, own: impl Fn(&str) -> Option<&'v str>) {
        let Some(&(owner, Some((programme, row)))) = self.cases.get(&case_id) else {
            return;
        };
        let (parent_key, joined) = &self.layout.keys[programme];
        let key = match kind {
            SourceKind::Services => &joined[0],
            SourceKind::Referrals => &joined[1],
            _ => &joined[2],
        };
        if let [Some(table), Some(parent)] = self.tables.get_disjoint_mut([key, parent_key]) {
            table.push_joined(parent, row, own);
            if let Some(owners) = self.owners.get_mut(key) {
                owners.push(owner);
            }
        }
    }

    fn add_service(&mut self, s: &ServiceFact) {
        let delivered = s.delivered_on.as_str();
        self.add_joined(SourceKind::Services, s.case_id, |f| match f {
            "service.type" => Some(s.service_type.as_str()),
            "service.delivered" => Some(delivered),
            "service.value" => s.value.as_deref(),
            "service.currency" => s.currency.as_deref(),
            _ => None,
        });
    }

    fn add_referral(&mut self, r: &ReferralFact) {
        let requested = day_of(r.requested_at);
        let completed = r.completed_at.map(day_of);
        let days = r
            .completed_at
            .map(|c| ((c - r.requested_at) / 86_400_000_000).to_string());
        self.add_joined(SourceKind::Referrals, r.case_id, |f| match f {
            "referral.status" => Some(r.status.as_str()),
            "referral.service_type" => Some(r.service_type.as_str()),
            "referral.requested" => Some(requested.as_str()),
            "referral.completed" => completed.as_deref(),
            "referral.days" => days.as_deref(),
            _ => None,
        });
    }

    fn add_hit(&mut self, h: &HitFact) {
        let at = day_of(h.created_at);
        let score = h.score.to_string();
        self.add_joined(SourceKind::Hits, h.case_id, |f| match f {
            "hit.status" => Some(h.status.as_str()),
            "hit.list" => Some(h.list.as_str()),
            "hit.score" => Some(score.as_str()),
            "hit.at" => Some(at.as_str()),
            _ => None,
        });
    }

    /// Retire every row that comes from one of `cases` (their case rows, repeat groups,
    /// services, referrals and hits).
    fn retire(&mut self, cases: &[Uuid]) {
        let mut touched = vec![0u64; self.cases.len().div_ceil(64)];
        let mut any = false;
        for id in cases {
            if let Some((owner, row)) = self.cases.get_mut(id) {
                touched[*owner as usize / 64] |= 1 << (*owner % 64);
                *row = None;
                any = true;
            }
        }
        if !any {
            return;
        }
        for (source, owners) in &self.owners {
            let Some(table) = self.tables.get_mut(source) else {
                continue;
            };
            for (row, owner) in owners.iter().enumerate() {
                if touched[*owner as usize / 64] & (1 << (*owner % 64)) != 0 {
                    table.retire(row);
                }
            }
        }
    }

    /// Bring the tables up to date: rows of changed cases are retired and the cases as they
    /// are now added again. Nothing here can fail, so the tables are never half-updated.
    pub(crate) fn apply(&mut self, changes: FactChanges) {
        self.retire(&changes.changed);
        self.add_all(&changes.now);
        self.manual = changes.manual;
        self.as_of = changes.as_of;
        self.change = changes.change;
        self.seen = changes.seen;
    }

    fn add_all(&mut self, facts: &CasesFacts) {
        for c in &facts.cases {
            self.add_case(c);
        }
        for s in &facts.services {
            self.add_service(s);
        }
        for r in &facts.referrals {
            self.add_referral(r);
        }
        for h in &facts.hits {
            self.add_hit(h);
        }
    }
}

impl Passage {
    /// Read every case, service, referral and hit into the fact tables the catalogue uses.
    pub async fn load_facts(&self, catalogue: &Catalogue) -> Result<Facts, ServiceError> {
        let as_of = self.now();
        let mut pooled = self.db.acquire().await?;
        // Read before the records: a change made during the load is applied again after it.
        // Every change visible now is in the records read below, so those PostgreSQL will
        // read again are marked seen.
        let latest = facts::latest_change(&mut pooled.conn()).await?;
        let visible = facts::changed_since(&mut pooled.conn(), latest).await?;
        let change = visible.iter().map(|r| r.0).fold(latest, i64::max);
        let mut out = Facts::new(catalogue, as_of, change);
        out.seen = visible.into_iter().map(|r| r.0).collect();
        // Each kind in pages by id: cases first, so that their parts find their rows.
        macro_rules! each_page {
            ($fetch:path, $add:ident) => {
                let mut after = None;
                loop {
                    let page = $fetch(&mut pooled.conn(), after).await?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.id);
                    page.iter().for_each(|row| out.$add(row));
                }
            };
        }
        each_page!(facts::cases, add_case);
        each_page!(facts::services, add_service);
        each_page!(facts::referrals, add_referral);
        each_page!(facts::hits, add_hit);
        out.manual = passage_store::reports::manual_values(&mut pooled.conn()).await?;
        Ok(out)
    }

    /// What changed since `facts` were read: the cases named in `fact_changes` since (and not
    /// already applied), read as they are now.
    pub(crate) async fn fact_changes(&self, facts: &Facts) -> Result<FactChanges, ServiceError> {
        let as_of = self.now();
        let mut pooled = self.db.acquire().await?;
        let rows = facts::changed_since(&mut pooled.conn(), facts.change).await?;
        let change = rows.iter().map(|r| r.0).fold(facts.change, i64::max);
        let mut cases = HashSet::new();
        let changed: Vec<Uuid> = rows
            .iter()
            .filter(|(seq, _)| !facts.seen.contains(seq))
            .map(|(_, id)| *id)
            .filter(|id| cases.insert(*id))
            .collect();
        let now = if changed.is_empty() {
            CasesFacts::default()
        } else {
            facts::of_cases(&mut pooled.conn(), &changed).await?
        };
        let manual = passage_store::reports::manual_values(&mut pooled.conn()).await?;
        Ok(FactChanges {
            changed,
            now,
            manual,
            as_of,
            change,
            seen: rows.into_iter().map(|r| r.0).collect(),
        })
    }
}

/// The text of the wanted answers of one record (or repeat instance): codes, numbers and
/// dates as stored; anything that is not a JSON string is left out.
fn decode<'a>(
    raw: &HashMap<&'a str, &'a RawValue>,
    wanted: Option<&BTreeSet<String>>,
) -> HashMap<&'a str, Cow<'a, str>> {
    raw.iter()
        .filter(|(k, _)| wanted.is_none_or(|w| w.contains(**k)))
        .filter_map(|(k, v)| {
            serde_json::from_str::<Cow<'a, str>>(v.get())
                .ok()
                .map(|text| (*k, text))
        })
        .collect()
}

/// The built-in fields of one case, as text.
struct CaseBuiltins<'c> {
    case: &'c CaseFact,
    /// Ids as text, encoded on the stack (a load reads millions of them).
    org: [u8; uuid::fmt::Hyphenated::LENGTH],
    id: [u8; uuid::fmt::Hyphenated::LENGTH],
    person: Option<[u8; uuid::fmt::Hyphenated::LENGTH]>,
    created: String,
}

fn ascii(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

fn hyphenated(id: Uuid) -> [u8; uuid::fmt::Hyphenated::LENGTH] {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf);
    buf
}

impl<'c> CaseBuiltins<'c> {
    fn new(case: &'c CaseFact) -> Self {
        Self {
            case,
            org: hyphenated(case.owner_org),
            id: hyphenated(case.id),
            person: case.person_id.map(hyphenated),
            created: day_of(case.created_at),
        }
    }
    fn get(&self, field: &str) -> Option<&str> {
        Some(match field {
            builtin::ORG => ascii(&self.org)?,
            builtin::CASE_ID => ascii(&self.id)?,
            builtin::NUMBER => &self.case.number,
            builtin::COUNTY => self.case.county.as_deref()?,
            builtin::STAGE => &self.case.stage,
            builtin::CLOSED => {
                if self.case.closed {
                    "true"
                } else {
                    "false"
                }
            }
            builtin::CREATED => &self.created,
            builtin::PERSON => self.person.as_ref().and_then(|p| ascii(p)).unwrap_or(""),
            _ => return None,
        })
    }
}

/// `YYYY-MM-DD` of a stored timestamp (microseconds since the epoch, UTC).
pub(crate) fn day_of(micros: i64) -> String {
    passage_domain::Timestamp::from_micros(micros)
        .to_datetime()
        .date()
        .to_string()
}
