//! The installation's keys: the search key kept wrapped by the master key (so that a wrong
//! key file is refused before anything is written), and rotation of the master key, which
//! re-wraps every record's data key and leaves the data they seal untouched.

use crate::{Ctx, Passage, ServiceError};
use passage_crypto::envelope::{DataKey, MasterKey, SearchKey};
use passage_domain::{AuditAction, Timestamp};
use passage_store::keys::{self, KeyMaterial, WRAPPED_KEY_TABLES};
use passage_store::{Conn, Db, StoreError, audit};

const SEARCH_KEY: &str = "search";
/// Rows re-wrapped per query: memory stays flat however many records there are.
const BATCH: i64 = 1000;

/// The search key, checked against the master key. Made (and stored wrapped) at the first
/// start; a key file other than the one it is wrapped by is refused.
pub(crate) async fn search_key(
    conn: &mut Conn<'_>,
    master: &MasterKey,
    now: Timestamp,
) -> Result<SearchKey, ServiceError> {
    let stored = match keys::key_material(conn, SEARCH_KEY).await? {
        Some(stored) => stored,
        None => {
            // Records sealed before keys were stored: the key must open them.
            for table in WRAPPED_KEY_TABLES {
                if let Some((id, wrapped)) =
                    keys::wrapped_keys(conn, table, uuid::Uuid::nil(), 1).await?.pop()
                {
                    if DataKey::unwrap(&wrapped, master, id.as_bytes()).is_err() {
                        return Err(ServiceError::WrongMasterKey {
                            expected: "the one that sealed the existing records".into(),
                            found: master.fingerprint(),
                        });
                    }
                    break;
                }
            }
            // Derived, not random: blind indexes written before keys were stored stay valid.
            let made = KeyMaterial {
                master_fingerprint: master.fingerprint(),
                wrapped: master.derive_search_key().wrap(master)?,
            };
            match keys::insert_key_material(conn, SEARCH_KEY, &made, now).await {
                Ok(()) => made,
                // Another process stored it first: use theirs.
                Err(StoreError::Conflict) => keys::key_material(conn, SEARCH_KEY)
                    .await?
                    .ok_or(ServiceError::NotFound)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let wrong = || ServiceError::WrongMasterKey {
        expected: stored.master_fingerprint.clone(),
        found: master.fingerprint(),
    };
    if stored.master_fingerprint != master.fingerprint() {
        return Err(wrong());
    }
    SearchKey::unwrap(&stored.wrapped, master).map_err(|_| wrong())
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old_fingerprint: String,
    pub new_fingerprint: String,
    /// Data keys re-wrapped, over all records.
    pub data_keys: u64,
}

impl Passage {
    pub(crate) fn search_key(&self) -> &SearchKey {
        &self.search
    }

    /// Whether a database holds sealed data, so that a missing master key file must be
    /// restored rather than replaced by a new key.
    pub async fn holds_sealed_data(db: &Db) -> Result<bool, ServiceError> {
        let mut pooled = db.acquire().await?;
        Ok(keys::holds_sealed_data(&mut pooled.conn()).await?)
    }

    /// Re-wrap every record's data key and the search key under `new`, in one transaction:
    /// all move or none do. Run with Passage stopped (`passage admin rotate-master-key`); the
    /// data itself is not read or written.
    pub async fn rotate_master_key(&self, ctx: &Ctx, new: &MasterKey) -> Result<Rotation, ServiceError> {
        let (old, now) = (&self.master, self.now());
        if old.fingerprint() == new.fingerprint() {
            return Err(passage_domain::InvalidValue::new("new master key", "is the key in use").into());
        }
        let mut tx = self.begin().await?;
        let mut count = 0u64;
        for table in WRAPPED_KEY_TABLES {
            let mut after = uuid::Uuid::nil();
            loop {
                let rows = keys::wrapped_keys(&mut tx.conn(), table, after, BATCH).await?;
                let Some((last, _)) = rows.last() else { break };
                after = *last;
                for (id, wrapped) in rows {
                    let rewrapped = DataKey::rewrap(&wrapped, old, new, id.as_bytes()).map_err(|_| {
                        ServiceError::Internal(format!(
                            "the data key of {table} row {id} does not open under the current master key; nothing was changed"
                        ))
                    })?;
                    keys::set_wrapped_key(&mut tx.conn(), table, id, &rewrapped).await?;
                    count += 1;
                }
            }
        }
        let search = KeyMaterial {
            master_fingerprint: new.fingerprint(),
            wrapped: self.search.wrap(new)?,
        };
        keys::replace_key_material(&mut tx.conn(), SEARCH_KEY, &search, now).await?;
        let event = self
            .event(ctx, AuditAction::MasterKeyRotated, None)
            .target("master_key", new.fingerprint())
            .detail("previous", old.fingerprint())
            .detail("data_keys", count);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(Rotation {
            old_fingerprint: old.fingerprint(),
            new_fingerprint: new.fingerprint(),
            data_keys: count,
        })
    }
}

impl Passage {
    /// Record that the operator wrote a backup (a copy of everything leaves the database).
    pub async fn record_backup(
        &self,
        ctx: &Ctx,
        restored: bool,
        created_at: &str,
        bytes: u64,
    ) -> Result<(), ServiceError> {
        let action = if restored {
            AuditAction::BackupRestored
        } else {
            AuditAction::BackupCreated
        };
        let event = self
            .event(ctx, action, None)
            .detail("created_at", created_at)
            .detail("bytes", bytes)
            .detail("master_key", self.master.fingerprint());
        let mut tx = self.begin().await?;
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
