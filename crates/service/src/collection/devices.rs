//! ODK devices: issued to members, signing in by secret URL or Digest, revoked at once.

use super::*;

impl Passage {
    /// Issue a device to `user`, a member of `org` who may register records.
    pub async fn issue_device(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        user: UserId,
        name: &str,
    ) -> Result<IssuedDevice, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(InvalidValue::new("name", "must be 1 to 80 characters").into());
        }
        if !self
            .device_members(actor, org)
            .await?
            .iter()
            .any(|(id, _)| *id == user)
        {
            return Err(InvalidValue::new(
                "user",
                "is not a member of this organisation who registers records",
            )
            .into());
        }
        let id = uuid::Uuid::now_v7();
        let token = random_token("")?;
        let password = random_token("")?;
        let digest_username = format!("device-{}", &id.simple().to_string()[20..]);
        let key = DataKey::generate()?;
        let ha1 = digest::ha1(&digest_username, REALM, &password);
        let device = Device {
            id,
            org_id: org,
            user_id: user,
            name: name.to_owned(),
            digest_username,
            wrapped_key: key.wrap(&self.master, id.as_bytes())?,
            digest_ha1: key.seal(id.as_bytes(), "digest_ha1", ha1.as_bytes())?,
            created_by: actor.user_id(),
            created_at: self.now(),
            revoked_at: None,
            last_seen_at: None,
        };
        let mut tx = self.begin().await?;
        collection::insert_device(&mut tx.conn(), &device, &sha256(token.as_bytes())).await?;
        let event = self
            .event(ctx, AuditAction::DeviceIssued, actor.user_id())
            .org(Some(org))
            .target("device", id)
            .detail("for_user", user);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(IssuedDevice {
            device: device_info(&device),
            token,
            password,
        })
    }

    /// [`Self::issue_device`] for a member named by username (the CLI).
    pub async fn issue_device_to(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        org: OrgId,
        username: &str,
        name: &str,
    ) -> Result<IssuedDevice, ServiceError> {
        let username = passage_domain::Username::parse(username)?;
        let user = {
            let mut pooled = self.db.acquire().await?;
            passage_store::users::by_username(&mut pooled.conn(), &username).await?
        }
        .ok_or(ServiceError::NotFound)?;
        self.issue_device(actor, ctx, org, user.0.id, name).await
    }

    /// Members a device may be issued to: those who register records, with their role.
    pub async fn device_members(
        &self,
        actor: &Actor,
        org: OrgId,
    ) -> Result<Vec<(UserId, String)>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let mut pooled = self.db.acquire().await?;
        let members = passage_store::users::members(&mut pooled.conn(), Some(org)).await?;
        Ok(members
            .into_iter()
            .filter(|m| !m.user.disabled && self.records_cases(&m.role))
            .map(|m| {
                let role = self
                    .roles()
                    .iter()
                    .find(|r| r.role == m.role)
                    .map(|r| r.label.clone())
                    .unwrap_or_else(|| m.role.to_string());
                (
                    m.user.id,
                    format!("{} ({}, {role})", m.user.display_name, m.user.username),
                )
            })
            .collect())
    }

    pub async fn devices(&self, actor: &Actor, org: OrgId) -> Result<Vec<DeviceInfo>, ServiceError> {
        authorize(actor, Permission::DevicesManage, Scope::Org(org))?;
        let mut pooled = self.db.acquire().await?;
        Ok(collection::devices_of(&mut pooled.conn(), org)
            .await?
            .iter()
            .map(device_info)
            .collect())
    }

    /// Revoke a device: its URL and password stop working at once.
    pub async fn revoke_device(&self, actor: &Actor, ctx: &Ctx, id: uuid::Uuid) -> Result<(), ServiceError> {
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device(&mut pooled.conn(), id)
                .await?
                .ok_or(ServiceError::NotFound)?
        };
        authorize(actor, Permission::DevicesManage, Scope::Org(device.org_id))?;
        let mut tx = self.begin().await?;
        collection::revoke_device(&mut tx.conn(), id, self.now()).await?;
        let event = self
            .event(ctx, AuditAction::DeviceRevoked, actor.user_id())
            .org(Some(device.org_id))
            .target("device", id);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn collector(&self, device: Option<Device>) -> Result<Collector, ServiceError> {
        let device = device
            .filter(|d| d.revoked_at.is_none())
            .ok_or(ServiceError::BadToken)?;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let user = passage_store::users::get(&mut c, device.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(ServiceError::BadToken)?;
        let (grants, host_org) = passage_store::users::grants(&mut c, user.id).await?;
        drop(pooled);
        let now = self.now();
        if device.last_seen_at.is_none_or(|t| t.seconds_until(now) >= 60) {
            // A write like any other: queued behind the writer lock, not SQLite's busy wait.
            let mut tx = self.begin().await?;
            collection::touch_device(&mut tx.conn(), device.id, now).await?;
            tx.commit().await?;
        }
        // The device works for its own organisation only, whatever else its member may do.
        let grants = grants.into_iter().filter(|g| g.org == device.org_id).collect();
        Ok(Collector {
            device_id: device.id,
            org: device.org_id,
            actor: Actor::User {
                id: user.id,
                host_org: host_org.filter(|h| *h == device.org_id),
                grants,
                token_scope: None,
            },
        })
    }

    /// The device whose URL carries `token`.
    pub async fn collector_by_token(&self, token: &str) -> Result<Collector, ServiceError> {
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device_by_token(&mut pooled.conn(), &sha256(token.as_bytes())).await?
        };
        self.collector(device).await
    }

    /// A fresh Digest nonce: the time, signed, so any process can check it without state.
    pub fn digest_nonce(&self) -> String {
        let at = self.now().micros() / 1_000_000;
        let mac = keyed_hash(&self.throttle_key, format!("nonce:{at}").as_bytes());
        format!("{at:x}.{}", digest::md5_hex(&mac))
    }

    /// Whether a nonce is ours: `Some(fresh)` or `None` when forged.
    pub(super) fn nonce_fresh(&self, nonce: &str) -> Option<bool> {
        let (at, mac) = nonce.split_once('.')?;
        let at_secs = i64::from_str_radix(at, 16).ok()?;
        let expected = keyed_hash(&self.throttle_key, format!("nonce:{at_secs}").as_bytes());
        if !passage_crypto::constant_time_eq(digest::md5_hex(&expected).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let age = self.now().micros() / 1_000_000 - at_secs;
        Some((0..=NONCE_SECS).contains(&age))
    }

    /// A device signing in by Digest. `Err(ServiceError::SessionExpired)` means the nonce is
    /// stale (the client retries with a new one); other failures are `BadToken`.
    pub async fn collector_by_digest(&self, header: &str, method: &str) -> Result<Collector, ServiceError> {
        let creds = digest::parse_authorization(header).ok_or(ServiceError::BadToken)?;
        let fresh = self.nonce_fresh(&creds.nonce).ok_or(ServiceError::BadToken)?;
        let device = {
            let mut pooled = self.db.acquire().await?;
            collection::device_by_username(&mut pooled.conn(), &creds.username).await?
        }
        .filter(|d| d.revoked_at.is_none())
        .ok_or(ServiceError::BadToken)?;
        let key = DataKey::unwrap(&device.wrapped_key, &self.master, device.id.as_bytes())?;
        let ha1 = key.open(device.id.as_bytes(), "digest_ha1", &device.digest_ha1)?;
        let ha1 = String::from_utf8(ha1).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let expected = digest::expected_response(&ha1, method, &creds);
        if !passage_crypto::constant_time_eq(expected.as_bytes(), creds.response.as_bytes()) {
            return Err(ServiceError::BadToken);
        }
        if !fresh {
            return Err(ServiceError::SessionExpired);
        }
        self.collector(Some(device)).await
    }
}
