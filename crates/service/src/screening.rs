//! Watchlist screening of border crossings. An organisation uploads lists (CSV: names, aliases,
//! date of birth, nationality, list name, reason); each is stored sealed and indexed in memory
//! (rebuilt at start and on upload). Every crossing the organisation records is screened as it
//! is saved, in the same transaction; hits wait in a review queue with their score and reasons.

use crate::error::ServiceError;
use crate::persons::Identity;
use crate::{Ctx, Passage, authorize};
use passage_crypto::envelope::{DataKey, MasterKey};
use passage_domain::{Actor, AuditAction, OrgId, Permission, Scope, Timestamp};
use passage_match::input::{Limits, Mapping, read_entries_from};
use passage_match::screen::{self, Watchlist};
use passage_store::Conn;
use passage_store::screening::{self, StoredWatchlist};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The programme whose records are border crossings.
pub const CROSSINGS: &str = "border";
/// Largest list accepted (a few hundred thousand names).
pub const MAX_WATCHLIST_BYTES: usize = 64 * 1024 * 1024;

/// A list as loaded into memory: its index and the id of each entry.
#[derive(Debug)]
pub(crate) struct LoadedList {
    id: uuid::Uuid,
    entry_refs: Vec<String>,
    index: Watchlist,
}

impl LoadedList {
    fn new(id: uuid::Uuid, entries: &[screen::Entry]) -> Self {
        Self {
            id,
            entry_refs: entries.iter().map(|e| e.record.id.clone()).collect(),
            index: Watchlist::build(entries),
        }
    }
}

/// Each organisation's loaded lists.
pub(crate) type Lists = HashMap<OrgId, Vec<Arc<LoadedList>>>;

/// A list as its managers see it (never its names).
#[derive(Debug, Clone)]
pub struct WatchlistSummary {
    pub id: uuid::Uuid,
    pub name: String,
    pub entries: i64,
    pub uploaded_at: Timestamp,
}

/// A hit awaiting (or past) review.
#[derive(Debug, Clone)]
pub struct ScreeningHit {
    pub id: uuid::Uuid,
    pub case_id: uuid::Uuid,
    pub case_number: String,
    pub watchlist: String,
    pub entry_ref: String,
    pub score: f64,
    pub explanation: String,
    pub status: String,
    pub created_at: Timestamp,
}

/// A screening result before it is stored.
pub(crate) struct PendingHit {
    watchlist_id: uuid::Uuid,
    entry_ref: String,
    score: f64,
    explanation: String,
}

fn parse(name: &str, csv: &[u8]) -> Result<Vec<screen::Entry>, ServiceError> {
    let problem = |path: String, reason: String| passage_xlsform::check::Problem { path, reason };
    let loaded = read_entries_from(
        csv,
        Path::new(name),
        &Mapping::default(),
        Limits {
            strict: true,
            max_records: 2_000_000,
        },
    )
    .map_err(|e| match e {
        passage_match::input::InputError::Strict { count, first, .. } => {
            ServiceError::InvalidRecord(vec![problem(
                format!("line {}", first.line),
                format!(
                    "{}{} ({count} row problem(s) in all; the list was not saved)",
                    first.field.map(|f| format!("{f}: ")).unwrap_or_default(),
                    first.reason
                ),
            )])
        }
        other => ServiceError::InvalidRecord(vec![problem("file".into(), other.to_string())]),
    })?;
    if loaded.items.is_empty() {
        return Err(ServiceError::InvalidRecord(vec![problem(
            "file".into(),
            "the list has no entries".into(),
        )]));
    }
    Ok(loaded.items)
}

fn load(master: &MasterKey, stored: &StoredWatchlist) -> Result<LoadedList, ServiceError> {
    let key = DataKey::unwrap(&stored.wrapped_key, master, stored.id.as_bytes())?;
    let csv = key.open(stored.id.as_bytes(), "watchlist", &stored.body)?;
    Ok(LoadedList::new(stored.id, &parse(&stored.name, &csv)?))
}

/// Loads every stored list (at start).
pub(crate) async fn load_all(conn: &mut Conn<'_>, master: &MasterKey) -> Result<Lists, ServiceError> {
    let mut lists = Lists::new();
    for stored in screening::watchlists(conn).await? {
        match load(master, &stored) {
            Ok(list) => lists.entry(stored.owner_org).or_default().push(Arc::new(list)),
            // One unreadable list must not keep Passage from starting; it is named (by id) so
            // that it can be uploaded again.
            Err(e) => {
                tracing::error!(watchlist = %stored.id, error = %e, "watchlist not loaded; crossings are not screened against it")
            }
        }
    }
    Ok(lists)
}

impl Passage {
    /// Uploads (or replaces, by name) one of the organisation's watchlists. The CSV is checked
    /// whole first: a bad row refuses the upload, named by line and column.
    pub async fn upload_watchlist(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        name: &str,
        csv: &[u8],
    ) -> Result<WatchlistSummary, ServiceError> {
        authorize(actor, Permission::WatchlistsManage, Scope::Org(org))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::InvalidRecord(vec![
                passage_xlsform::check::Problem {
                    path: "name".into(),
                    reason: "give the list a name of 1 to 100 characters".into(),
                },
            ]));
        }
        if csv.len() > MAX_WATCHLIST_BYTES {
            return Err(ServiceError::InvalidRecord(vec![
                passage_xlsform::check::Problem {
                    path: "file".into(),
                    reason: format!("larger than {} MiB", MAX_WATCHLIST_BYTES >> 20),
                },
            ]));
        }
        let entries = parse(name, csv)?;
        // A list uploaded again under its name keeps its id (hits refer to it).
        let existing = {
            let mut pooled = self.db.acquire().await?;
            screening::watchlist_id(&mut pooled.conn(), org, name).await?
        };
        let id = existing.unwrap_or_else(uuid::Uuid::now_v7);
        let key = DataKey::generate()?;
        let now = self.now();
        let stored = StoredWatchlist {
            id,
            owner_org: org,
            name: name.to_owned(),
            entries: entries.len() as i64,
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            body: key.seal(id.as_bytes(), "watchlist", csv)?,
            uploaded_by: actor.user_id(),
            uploaded_at: now,
        };
        let mut tx = self.begin().await?;
        screening::put_watchlist(&mut tx.conn(), &stored, existing.is_some())
            .await
            .map_err(crate::error::conflict_as("a list with this name"))?;
        let event = self
            .event(ctx, AuditAction::WatchlistUploaded, actor.user_id())
            .org(Some(org))
            .target("watchlist", id)
            .detail("entries", entries.len());
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        let loaded = Arc::new(LoadedList::new(id, &entries));
        {
            let mut lists = self
                .screening
                .write()
                .map_err(|_| ServiceError::Internal("screening index poisoned".into()))?;
            let of_org = lists.entry(org).or_default();
            of_org.retain(|l| l.id != id);
            of_org.push(loaded);
        }
        Ok(WatchlistSummary {
            id,
            name: stored.name,
            entries: stored.entries,
            uploaded_at: now,
        })
    }

    /// The organisation's lists (names of lists and counts, never listed names).
    pub async fn watchlists(&self, actor: &Actor, org: OrgId) -> Result<Vec<WatchlistSummary>, ServiceError> {
        authorize(actor, Permission::CrossingsView, Scope::Org(org))
            .or_else(|_| authorize(actor, Permission::WatchlistsManage, Scope::Org(org)))?;
        let mut pooled = self.db.acquire().await?;
        Ok(screening::watchlist_infos(&mut pooled.conn(), org)
            .await?
            .into_iter()
            .map(|w| WatchlistSummary {
                id: w.id,
                name: w.name,
                entries: w.entries,
                uploaded_at: Timestamp::from_micros(w.uploaded_at),
            })
            .collect())
    }

    /// Screens a traveller against the organisation's lists (no database access: the index is
    /// in memory).
    pub(crate) fn screen_traveller(&self, org: OrgId, identity: &Identity) -> Vec<PendingHit> {
        let query = crate::persons::match_record(identity);
        let Ok(lists) = self.screening.read() else {
            return Vec::new();
        };
        let Some(of_org) = lists.get(&org) else {
            return Vec::new();
        };
        of_org
            .iter()
            .flat_map(|list| {
                list.index
                    .screen(&query, screen::DEFAULT_THRESHOLD)
                    .into_iter()
                    .map(move |hit| PendingHit {
                        watchlist_id: list.id,
                        entry_ref: list.entry_refs.get(hit.entry).cloned().unwrap_or_default(),
                        score: hit.score,
                        explanation: hit.explanation,
                    })
            })
            .collect()
    }

    /// Stores a crossing's hits (inside the registration's transaction).
    pub(crate) async fn store_hits(
        &self,
        conn: &mut Conn<'_>,
        case_id: uuid::Uuid,
        hits: Vec<PendingHit>,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        for h in hits {
            screening::add_hit(
                conn,
                &screening::Hit {
                    id: uuid::Uuid::now_v7(),
                    case_id,
                    watchlist_id: h.watchlist_id,
                    entry_ref: h.entry_ref,
                    score: h.score,
                    explanation: h.explanation,
                    status: "open".into(),
                    created_at: at,
                    reviewed_by: None,
                    reviewed_at: None,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The organisation's screening hits, newest first (open ones only if asked). Audited.
    pub async fn screening_hits(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        open_only: bool,
    ) -> Result<Vec<ScreeningHit>, ServiceError> {
        authorize(actor, Permission::CrossingsView, Scope::Org(org))?;
        let hits = {
            let mut pooled = self.db.acquire().await?;
            screening::hits(&mut pooled.conn(), org, open_only).await?
        };
        self.audit_read(
            &self
                .event(ctx, AuditAction::ScreeningHitsListed, actor.user_id())
                .org(Some(org))
                .detail("count", hits.len()),
        )
        .await?;
        Ok(hits
            .into_iter()
            .map(|(h, case_number, watchlist)| ScreeningHit {
                id: h.id,
                case_id: h.case_id,
                case_number,
                watchlist,
                entry_ref: h.entry_ref,
                score: h.score,
                explanation: h.explanation,
                status: h.status,
                created_at: h.created_at,
            })
            .collect())
    }

    /// Confirms (the traveller is the listed person) or dismisses a hit. Audited; a hit
    /// already decided answers a conflict.
    pub async fn review_hit(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        id: uuid::Uuid,
        confirm: bool,
    ) -> Result<(), ServiceError> {
        let hit = {
            let mut pooled = self.db.acquire().await?;
            screening::get_hit(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        let case = self.readable_case(actor, hit.case_id).await?;
        authorize(actor, Permission::CrossingsRecord, Scope::Org(case.owner_org))?;
        let status = if confirm { "confirmed" } else { "dismissed" };
        let event = self
            .event(ctx, AuditAction::ScreeningHitReviewed, actor.user_id())
            .org(Some(case.owner_org))
            .target("screening_hit", id)
            .detail("case", hit.case_id)
            .detail("decision", status);
        let mut tx = self.begin().await?;
        screening::review_hit(&mut tx.conn(), id, status, actor.user_id(), self.now())
            .await
            .map_err(crate::error::conflict_as("a decision on this hit"))?;
        passage_store::audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
