//! Programme keys of encrypted collection, sealed under their holder's passphrase.

use super::*;

/// A programme's collection key as its holder sees it (never the private key).
#[derive(Debug, Clone)]
pub struct CollectionKeyInfo {
    pub programme: String,
    /// Base64 SubjectPublicKeyInfo: the value of the XLSForm's `public_key` setting.
    pub public_key: String,
    pub created_at: Timestamp,
    pub unlocked: bool,
    /// Encrypted submissions waiting for the key.
    pub waiting: usize,
}

/// Shortest passphrase accepted for a collection key.
const MIN_PASSPHRASE_CHARS: usize = 12;
const KEY_PURPOSE: &str = "collection-key";

impl Passage {
    pub(crate) fn unlocked_key(
        &self,
        programme: &str,
    ) -> Option<Arc<passage_openrosa::encryption::PrivateKeyHandle>> {
        self.unlocked.read().ok()?.get(programme).cloned()
    }

    /// Every programme's collection key (for the data protection focal point).
    pub async fn collection_keys(&self, actor: &Actor) -> Result<Vec<CollectionKeyInfo>, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let keys = collection::collection_keys(&mut c).await?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let waiting = collection::waiting_for_key(&mut c, &k.programme).await?.len();
            out.push(CollectionKeyInfo {
                unlocked: self.unlocked_key(&k.programme).is_some(),
                programme: k.programme,
                public_key: k.public_key,
                created_at: k.created_at,
                waiting,
            });
        }
        Ok(out)
    }

    /// Make (or import, from PEM) the key pair of a programme's encrypted collection. The
    /// private key is kept only sealed under `passphrase`; the public key goes into the
    /// form's `public_key` setting. A programme's key is never replaced: records encrypted
    /// for it would become unreadable.
    pub async fn create_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        passphrase: &str,
        import_pem: Option<&str>,
    ) -> Result<String, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        if !self
            .programmes()
            .await?
            .iter()
            .any(|p| p.programme.code == programme)
        {
            return Err(ServiceError::NotFound);
        }
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(InvalidValue::new(
                "passphrase",
                format!("must be at least {MIN_PASSPHRASE_CHARS} characters"),
            )
            .into());
        }
        use passage_openrosa::encryption as enc;
        let key = match import_pem {
            Some(pem) => {
                enc::private_key_from_pem(pem).map_err(|e| InvalidValue::new("private_key", e.to_string()))?
            }
            None => tokio::task::spawn_blocking(enc::generate)
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
        };
        let public_key = enc::public_key_base64(&key).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let der = zeroize::Zeroizing::new(
            enc::private_key_der(&key).map_err(|e| ServiceError::Internal(e.to_string()))?,
        );
        let purpose = format!("{KEY_PURPOSE}:{programme}");
        let sealed = passage_crypto::envelope::seal_with_passphrase(passphrase, &purpose, &der)?;
        let stored = collection::CollectionKey {
            programme: programme.to_owned(),
            public_key: public_key.clone(),
            private_key: sealed,
            created_by: actor.user_id(),
            created_at: self.now(),
        };
        let mut tx = self.begin().await?;
        collection::insert_collection_key(&mut tx.conn(), &stored)
            .await
            .map_err(crate::error::conflict_as("a collection key for this programme"))?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyCreated, actor.user_id())
            .target("programme", programme)
            .detail("imported", import_pem.is_some());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(public_key)
    }

    /// Unlock a programme's key with its passphrase (held in memory only, until locked or
    /// the process stops) and register every encrypted submission waiting for it. Returns
    /// how many were read.
    pub async fn unlock_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        passphrase: &str,
    ) -> Result<usize, ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        let stored = {
            let mut pooled = self.db.acquire().await?;
            collection::collection_keys(&mut pooled.conn()).await?
        }
        .into_iter()
        .find(|k| k.programme == programme)
        .ok_or(ServiceError::NotFound)?;
        let purpose = format!("{KEY_PURPOSE}:{programme}");
        let der = passage_crypto::envelope::open_with_passphrase(passphrase, &purpose, &stored.private_key)
            .map_err(|_| InvalidValue::new("passphrase", "does not open this programme's key"))?;
        let key = passage_openrosa::encryption::private_key_from_der(&der)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let Ok(mut unlocked) = self.unlocked.write() {
            unlocked.insert(
                programme.to_owned(),
                Arc::new(passage_openrosa::encryption::PrivateKeyHandle::new(key)),
            );
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyUnlocked, actor.user_id())
            .target("programme", programme);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        let waiting = {
            let mut pooled = self.db.acquire().await?;
            collection::waiting_for_key(&mut pooled.conn(), programme).await?
        };
        for id in &waiting {
            let s = {
                let mut pooled = self.db.acquire().await?;
                collection::submission(&mut pooled.conn(), *id).await?
            };
            let Some(s) = s else { continue };
            let ready = Submission {
                state: State::Received,
                updated_at: self.now(),
                ..s
            };
            let mut tx = self.begin().await?;
            collection::set_outcome(&mut tx.conn(), &ready, State::Encrypted).await?;
            tx.commit().await?;
            self.process_submission(*id, ctx).await?;
        }
        Ok(waiting.len())
    }

    /// Forget a programme's unlocked key: encrypted submissions wait again.
    pub async fn lock_collection_key(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::DataProtectionOversee, Scope::Installation)?;
        if let Ok(mut unlocked) = self.unlocked.write() {
            unlocked.remove(programme);
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(ctx, AuditAction::CollectionKeyLocked, actor.user_id())
            .target("programme", programme);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}
