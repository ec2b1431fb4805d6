//! Organisations, user accounts and memberships.

use crate::error::{ServiceError, conflict_as};
use crate::{Ctx, Passage, authorize};
use passage_domain::{
    Actor, AuditAction, DisplayName, Email, InvalidValue, OrgId, OrgKind, OrgName, Password, Permission,
    Role, Scope, UserId, Username,
};
use passage_store::orgs::{self, Organisation};
use passage_store::places::{County, CrossingPoint};
use passage_store::users::{self, Member, RoleInfo, User};
use passage_store::{Conn, audit};

/// A new account, with its first membership.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password: String,
    pub org: OrgId,
    pub role: String,
}

/// The figures on the home page, counted for what the user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeSummary {
    pub organisations: usize,
    pub colleagues: usize,
    pub counties: usize,
    pub crossing_points: usize,
    pub my_sessions: i64,
    /// Audit events today, for those who may read the audit trail.
    pub audit_events_today: Option<i64>,
    /// (organisation, role label) for each of the user's memberships.
    pub memberships: Vec<(String, String)>,
}

impl Passage {
    /// Create an organisation. Only the host's administrators (or the operator) may; the host
    /// organisation itself is created once, by the operator.
    pub async fn create_org(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        name: &str,
        kind: &str,
        is_host: bool,
    ) -> Result<Organisation, ServiceError> {
        authorize(actor, Permission::InstallationManage, Scope::Installation)?;
        if is_host && actor != &Actor::Operator {
            return Err(ServiceError::Denied(passage_domain::Denied::Forbidden));
        }
        let org = Organisation {
            id: OrgId::generate(),
            name: OrgName::parse(name)?,
            kind: OrgKind::parse(kind)?,
            is_host,
            created_at: self.now(),
        };
        let mut tx = self.begin().await?;
        if is_host && orgs::host(&mut tx.conn()).await?.is_some() {
            return Err(ServiceError::Conflict("a host organisation"));
        }
        orgs::insert(&mut tx.conn(), &org)
            .await
            .map_err(conflict_as("an organisation with this name"))?;
        let event = self
            .event(ctx, AuditAction::OrgCreated, actor.user_id())
            .org(Some(org.id))
            .target("organisation", org.id)
            .detail("kind", org.kind.as_str());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Organisations the actor may see.
    pub async fn organisations(&self, actor: &Actor) -> Result<Vec<Organisation>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let all = orgs::list(&mut pooled.conn()).await?;
        Ok(match actor.orgs_with(Permission::OrgView) {
            None => all,
            Some(visible) => all.into_iter().filter(|o| visible.contains(&o.id)).collect(),
        })
    }

    pub async fn organisation(&self, actor: &Actor, id: OrgId) -> Result<Organisation, ServiceError> {
        authorize(actor, Permission::OrgView, Scope::Org(id))?;
        let mut pooled = self.db.acquire().await?;
        orgs::get(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Find an organisation by name, for the CLI (`--org "IOM Liberia"`).
    pub async fn organisation_named(&self, actor: &Actor, name: &str) -> Result<Organisation, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let org = orgs::by_name(&mut pooled.conn(), &OrgName::parse(name)?)
            .await?
            .ok_or(ServiceError::NotFound)?;
        authorize(actor, Permission::OrgView, Scope::Org(org.id))?;
        Ok(org)
    }

    /// The members of an organisation (names and e-mail addresses of staff: audited).
    pub async fn members(&self, actor: &Actor, ctx: &Ctx, org: OrgId) -> Result<Vec<Member>, ServiceError> {
        authorize(actor, Permission::OrgView, Scope::Org(org))?;
        let mut tx = self.begin().await?;
        let members = users::members(&mut tx.conn(), Some(org)).await?;
        let event = self
            .event(ctx, AuditAction::MembersListed, actor.user_id())
            .org(Some(org))
            .detail("count", members.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(members)
    }

    /// Whether a role registers records (cases or border crossings).
    pub(crate) fn records_cases(&self, role: &passage_domain::Role) -> bool {
        self.reference.roles.iter().any(|r| {
            &r.role == role
                && (r.permissions.contains(&Permission::CasesEdit)
                    || r.permissions.contains(&Permission::CrossingsRecord))
        })
    }

    /// Names of an organisation's members who may work on its case records (for assigning
    /// cases and naming who did what in a case's history), for a reader of its cases.
    pub async fn caseworkers(
        &self,
        actor: &Actor,
        org: OrgId,
    ) -> Result<Vec<(UserId, String)>, ServiceError> {
        if actor.authorize(Permission::CasesView, Scope::Org(org)).is_err() {
            authorize(actor, Permission::CrossingsView, Scope::Org(org))?;
        }
        let mut pooled = self.db.acquire().await?;
        let members = users::members(&mut pooled.conn(), Some(org)).await?;
        Ok(members
            .into_iter()
            .filter(|m| !m.user.disabled && self.records_cases(&m.role))
            .map(|m| (m.user.id, m.user.display_name.to_string()))
            .collect())
    }

    /// Everyone in the organisations whose members the actor may see (audited).
    pub async fn users(&self, actor: &Actor, ctx: &Ctx) -> Result<Vec<Member>, ServiceError> {
        let visible = actor.orgs_with(Permission::OrgView);
        let mut tx = self.begin().await?;
        let mut members = users::members(&mut tx.conn(), None).await?;
        if let Some(visible) = &visible {
            members.retain(|m| visible.contains(&m.org));
        }
        let event = self
            .event(ctx, AuditAction::UsersListed, actor.user_id())
            .detail("count", members.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(members)
    }

    /// The roles and their permissions (loaded at start: they change only with a migration).
    pub fn roles(&self) -> &[RoleInfo] {
        &self.reference.roles
    }

    /// Create an account and its first membership. An organisation's administrators may
    /// create accounts in their own organisation; the host's administrators anywhere.
    pub async fn create_user(&self, actor: &Actor, ctx: &Ctx, new: &NewUser) -> Result<User, ServiceError> {
        authorize(actor, Permission::MembersManage, Scope::Org(new.org))?;
        let username = Username::parse(&new.username)?;
        let password = Password::parse(&new.password, &username)?;
        let user = User {
            id: UserId::generate(),
            username,
            display_name: DisplayName::parse(&new.display_name)?,
            email: new
                .email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .map(Email::parse)
                .transpose()?,
            disabled: false,
            created_at: self.now(),
        };
        let role = self.known_role(&new.role)?;
        let hash = self.hash_password(&password).await?;
        let mut tx = self.begin().await?;
        ensure_org_exists(&mut tx.conn(), new.org).await?;
        users::insert(&mut tx.conn(), &user, &hash)
            .await
            .map_err(conflict_as("a user with this username"))?;
        users::set_membership(&mut tx.conn(), user.id, new.org, &role, user.created_at).await?;
        let created = self
            .event(ctx, AuditAction::UserCreated, actor.user_id())
            .org(Some(new.org))
            .target("user", user.id);
        audit::append(&mut tx.conn(), &created).await?;
        let added = self
            .event(ctx, AuditAction::MemberAdded, actor.user_id())
            .org(Some(new.org))
            .target("user", user.id)
            .detail("role", role.as_str());
        audit::append(&mut tx.conn(), &added).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Give an existing user a role in an organisation (replacing any role they had there).
    pub async fn add_member(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        username: &str,
        org: OrgId,
        role: &str,
    ) -> Result<User, ServiceError> {
        authorize(actor, Permission::MembersManage, Scope::Org(org))?;
        let role = self.known_role(role)?;
        let username = Username::parse(username)?;
        let mut tx = self.begin().await?;
        ensure_org_exists(&mut tx.conn(), org).await?;
        let (user, _) = users::by_username(&mut tx.conn(), &username)
            .await?
            .ok_or(ServiceError::NotFound)?;
        users::set_membership(&mut tx.conn(), user.id, org, &role, self.now()).await?;
        let event = self
            .event(ctx, AuditAction::MemberAdded, actor.user_id())
            .org(Some(org))
            .target("user", user.id)
            .detail("role", role.as_str());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn remove_member(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        user: UserId,
        org: OrgId,
    ) -> Result<(), ServiceError> {
        authorize(actor, Permission::MembersManage, Scope::Org(org))?;
        let mut tx = self.begin().await?;
        users::remove_membership(&mut tx.conn(), user, org).await?;
        let event = self
            .event(ctx, AuditAction::MemberRemoved, actor.user_id())
            .org(Some(org))
            .target("user", user);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Set a new password for a user and end their sessions. Allowed to the user themself and
    /// to administrators of an organisation the user belongs to.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        username: &str,
        new_password: &str,
    ) -> Result<User, ServiceError> {
        let username = Username::parse(username)?;
        let user = self.managed_user(actor, &username).await?;
        let password = Password::parse(new_password, &username)?;
        let hash = self.hash_password(&password).await?;
        let mut tx = self.begin().await?;
        users::set_password(&mut tx.conn(), user.id, &hash, self.now()).await?;
        let ended = passage_store::auth::delete_user_sessions(&mut tx.conn(), user.id).await?;
        let event = self
            .event(ctx, AuditAction::UserPasswordReset, actor.user_id())
            .target("user", user.id)
            .detail("sessions_ended", ended);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The user named, if the actor is that user or an administrator of an organisation the
    /// user belongs to; anyone else is told the user does not exist.
    pub(crate) async fn managed_user(
        &self,
        actor: &Actor,
        username: &Username,
    ) -> Result<User, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let (user, _) = users::by_username(&mut pooled.conn(), username)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let their_orgs: Vec<OrgId> = users::grants(&mut pooled.conn(), user.id)
            .await?
            .0
            .iter()
            .map(|g| g.org)
            .collect();
        let is_self = actor.user_id() == Some(user.id);
        let may_manage = their_orgs
            .iter()
            .any(|o| actor.authorize(Permission::MembersManage, Scope::Org(*o)).is_ok())
            || actor
                .authorize(Permission::InstallationManage, Scope::Installation)
                .is_ok();
        if is_self || may_manage {
            Ok(user)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    pub fn counties(&self) -> &[County] {
        &self.reference.counties
    }

    pub fn crossing_points(&self) -> &[CrossingPoint] {
        &self.reference.crossing_points
    }

    /// Real counts for the home page, limited to what the user may see.
    pub async fn home(&self, actor: &Actor) -> Result<HomeSummary, ServiceError> {
        let visible_orgs = self.organisations(actor).await?;
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let members = users::members(&mut c, None).await?;
        let colleagues: std::collections::BTreeSet<UserId> = members
            .iter()
            .filter(|m| visible_orgs.iter().any(|o| o.id == m.org))
            .map(|m| m.user.id)
            .collect();
        let today = self.now().start_of_day();
        let audit_events_today = match actor.orgs_with(Permission::AuditView) {
            None => Some(audit::count_since(&mut c, None, today).await?),
            Some(orgs) if orgs.is_empty() => None,
            Some(orgs) => {
                let mut total = 0;
                for org in orgs {
                    total += audit::count_since(&mut c, Some(org), today).await?;
                }
                Some(total)
            }
        };
        let my_sessions = match actor.user_id() {
            Some(id) => passage_store::auth::count_user_sessions(&mut c, id, self.now()).await?,
            None => 0,
        };
        let memberships = actor
            .grants()
            .iter()
            .map(|g| {
                let org = visible_orgs
                    .iter()
                    .find(|o| o.id == g.org)
                    .map(|o| o.name.to_string());
                let role = self
                    .roles()
                    .iter()
                    .find(|r| r.role == g.role)
                    .map(|r| r.label.clone());
                (
                    org.unwrap_or_default(),
                    role.unwrap_or_else(|| g.role.to_string()),
                )
            })
            .collect();
        Ok(HomeSummary {
            organisations: visible_orgs.len(),
            colleagues: colleagues.len(),
            counties: self.counties().len(),
            crossing_points: self.crossing_points().len(),
            my_sessions,
            audit_events_today,
            memberships,
        })
    }

    fn known_role(&self, name: &str) -> Result<Role, ServiceError> {
        self.roles()
            .iter()
            .map(|r| r.role.clone())
            .find(|r| r.as_str() == name.trim())
            .ok_or_else(|| {
                InvalidValue::new(
                    "role",
                    "is not a known role (see the roles list: administrator, caseworker, …)",
                )
                .into()
            })
    }

    async fn hash_password(&self, password: &Password) -> Result<String, ServiceError> {
        let hasher = self.hasher.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .map_err(ServiceError::from)
    }
}

async fn ensure_org_exists(conn: &mut Conn<'_>, org: OrgId) -> Result<(), ServiceError> {
    orgs::get(conn, org)
        .await?
        .map(|_| ())
        .ok_or(ServiceError::NotFound)
}
