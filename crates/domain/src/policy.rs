//! The one place where access is decided. Roles are data (stored with their permissions);
//! permissions are the vocabulary the code asks about. Every route and CLI command goes through
//! [`Actor::authorize`].

use crate::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

macro_rules! permissions {
    ($($variant:ident => $name:literal, $read:literal, $doc:literal;)+) => {
        /// Something a role may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Permission { $(#[doc = $doc] $variant,)+ }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)+ }
            }
            /// Whether the permission only reads; a read-only API token may use only these.
            pub fn is_read(self) -> bool {
                match self { $(Permission::$variant => $read,)+ }
            }
            pub fn describe(self) -> &'static str {
                match self { $(Permission::$variant => $doc,)+ }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($name => Some(Permission::$variant),)+ _ => None }
            }
        }
    };
}

permissions! {
    InstallationManage => "installation.manage", false, "Create organisations and user accounts for the whole installation (host organisation only)";
    OrgView => "org.view", true, "See the organisation and its members";
    MembersManage => "members.manage", false, "Add and remove members, reset their passwords";
    AuditView => "audit.view", true, "Read the audit trail";
    CasesView => "cases.view", true, "Read case records";
    CasesEdit => "cases.edit", false, "Register and update case records";
    CasesApprove => "cases.approve", false, "Approve case stage transitions";
    CrossingsView => "crossings.view", true, "Read border crossings";
    CrossingsRecord => "crossings.record", false, "Record border crossings";
    IndicatorsView => "indicators.view", true, "Read indicators and dashboards";
    IndicatorsManage => "indicators.manage", false, "Define indicators and enter manual values";
    IndicatorsExact => "indicators.exact", true, "See and export exact small counts (others see them suppressed)";
    ReportsView => "reports.view", true, "Produce and download reports";
    FormsManage => "forms.manage", false, "Upload programme forms and workflows";
    DataProtectionOversee => "data_protection.oversee", true, "Review break-glass access, consent and retention";
    WatchlistsManage => "watchlists.manage", false, "Upload the watchlists border crossings are screened against";
    DevicesManage => "devices.manage", false, "Issue and revoke ODK collection devices; see and re-process quarantined submissions";
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role's name as stored in the `roles` table (e.g. "caseworker").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub const ADMINISTRATOR: &'static str = "administrator";
    pub const PROGRAMME_MANAGER: &'static str = "programme_manager";
    pub const CASEWORKER: &'static str = "caseworker";
    pub const BORDER_OFFICER: &'static str = "border_officer";
    pub const ME_OFFICER: &'static str = "me_officer";
    pub const PARTNER_VIEWER: &'static str = "partner_viewer";
    pub const AUDITOR: &'static str = "auditor";
    pub const DATA_PROTECTION_FOCAL_POINT: &'static str = "data_protection_focal_point";

    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A membership as the policy sees it: a role in one organisation, with that role's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub org: OrgId,
    pub role: Role,
    pub permissions: BTreeSet<Permission>,
}

/// What an API token may do on its owner's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Read,
    Write,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone at the server's own shell (the `passage` CLI). Whoever can run it can already
    /// read the data directory, so the CLI may administer; it is audited as the operator.
    Operator,
    User {
        id: UserId,
        /// The organisation that hosts the installation, if this user is a member of it.
        host_org: Option<OrgId>,
        grants: Vec<Grant>,
        /// Set when the request came with an API token rather than a browser session.
        token_scope: Option<TokenScope>,
    },
}

/// What the caller is told when access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The resource belongs to an organisation the actor is not part of: answer as if it did
    /// not exist, so nothing leaks about other organisations' records.
    #[error("not found")]
    NotFound,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("this API token is read-only")]
    ReadOnlyToken,
    /// A need-to-know record outside the actor's cases.
    #[error(
        "only this case's team (who registered it, its caseworker and supervisors) may see who it is about or change it; break the glass, with your reason, if you must"
    )]
    NeedToKnow,
}

/// Where an action applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Installation,
    Org(OrgId),
}

impl Actor {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::Operator => None,
            Self::User { id, .. } => Some(*id),
        }
    }

    pub fn grants(&self) -> &[Grant] {
        match self {
            Self::Operator => &[],
            Self::User { grants, .. } => grants,
        }
    }

    fn grant_in(&self, org: OrgId) -> Option<&Grant> {
        self.grants().iter().find(|g| g.org == org)
    }

    fn host_grant_has(&self, permission: Permission) -> bool {
        match self {
            Self::Operator => true,
            Self::User {
                host_org: Some(host), ..
            } => self
                .grant_in(*host)
                .is_some_and(|g| g.permissions.contains(&permission)),
            Self::User { host_org: None, .. } => false,
        }
    }

    /// Decide whether this actor may use `permission` in `scope`.
    pub fn authorize(&self, permission: Permission, scope: Scope) -> Result<(), Denied> {
        let token_scope = match self {
            Self::Operator => return Ok(()),
            Self::User { token_scope, .. } => *token_scope,
        };
        if token_scope == Some(TokenScope::Read) && !permission.is_read() {
            return Err(Denied::ReadOnlyToken);
        }
        match scope {
            Scope::Installation => {
                if self.host_grant_has(permission) {
                    Ok(())
                } else {
                    Err(Denied::Forbidden)
                }
            }
            Scope::Org(org) => {
                let own = self.grant_in(org);
                if own.is_some_and(|g| g.permissions.contains(&permission)) {
                    return Ok(());
                }
                // The host organisation's administrators look after every organisation's
                // membership and collection devices; its auditors may read every
                // organisation's audit trail.
                let reach_from_host = match permission {
                    Permission::OrgView | Permission::MembersManage | Permission::DevicesManage => {
                        self.host_grant_has(Permission::InstallationManage)
                    }
                    Permission::AuditView => self.host_grant_has(Permission::AuditView),
                    _ => false,
                };
                if reach_from_host {
                    Ok(())
                } else if own.is_some() {
                    Err(Denied::Forbidden)
                } else {
                    Err(Denied::NotFound)
                }
            }
        }
    }

    /// Whether the actor may use `permission` somewhere (to decide what the menu shows).
    pub fn has_anywhere(&self, permission: Permission) -> bool {
        match self {
            Self::Operator => true,
            Self::User { token_scope, .. } => {
                (token_scope != &Some(TokenScope::Read) || permission.is_read())
                    && self.grants().iter().any(|g| g.permissions.contains(&permission))
            }
        }
    }

    /// Organisations whose `permission`-guarded data this actor can reach; `None` means all.
    pub fn orgs_with(&self, permission: Permission) -> Option<Vec<OrgId>> {
        let everywhere = match permission {
            Permission::OrgView | Permission::MembersManage => {
                self.host_grant_has(Permission::InstallationManage)
            }
            Permission::AuditView => self.host_grant_has(Permission::AuditView),
            // The host organisation's M&E compiles the mission's figures across organisations.
            Permission::IndicatorsView => self.host_grant_has(Permission::IndicatorsView),
            _ => matches!(self, Self::Operator),
        };
        if everywhere && (permission.is_read() || !self.is_read_only_token()) {
            return None;
        }
        Some(
            self.grants()
                .iter()
                .filter(|g| g.permissions.contains(&permission))
                .filter(|_| permission.is_read() || !self.is_read_only_token())
                .map(|g| g.org)
                .collect(),
        )
    }

    fn is_read_only_token(&self) -> bool {
        matches!(
            self,
            Self::User {
                token_scope: Some(TokenScope::Read),
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn org(n: u8) -> OrgId {
        OrgId::from_uuid(Uuid::from_bytes([n; 16]))
    }

    fn grant(o: OrgId, perms: &[Permission]) -> Grant {
        Grant {
            org: o,
            role: Role::new("test"),
            permissions: perms.iter().copied().collect(),
        }
    }

    fn user(host: Option<OrgId>, grants: Vec<Grant>, token_scope: Option<TokenScope>) -> Actor {
        Actor::User {
            id: UserId::from_uuid(Uuid::from_bytes([9; 16])),
            host_org: host,
            grants,
            token_scope,
        }
    }

    #[test]
    fn member_with_permission_is_allowed_in_own_org_only() {
        let a = user(None, vec![grant(org(1), &[Permission::CasesView])], None);
        assert_eq!(a.authorize(Permission::CasesView, Scope::Org(org(1))), Ok(()));
        assert_eq!(
            a.authorize(Permission::CasesEdit, Scope::Org(org(1))),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            a.authorize(Permission::CasesView, Scope::Org(org(2))),
            Err(Denied::NotFound)
        );
        assert_eq!(
            a.authorize(Permission::InstallationManage, Scope::Installation),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn host_administrators_manage_every_organisations_members_but_not_its_cases() {
        let admin = user(
            Some(org(1)),
            vec![grant(
                org(1),
                &[Permission::InstallationManage, Permission::MembersManage],
            )],
            None,
        );
        assert_eq!(
            admin.authorize(Permission::InstallationManage, Scope::Installation),
            Ok(())
        );
        assert_eq!(
            admin.authorize(Permission::MembersManage, Scope::Org(org(7))),
            Ok(())
        );
        assert_eq!(admin.authorize(Permission::OrgView, Scope::Org(org(7))), Ok(()));
        assert_eq!(
            admin.authorize(Permission::CasesView, Scope::Org(org(7))),
            Err(Denied::NotFound)
        );
        assert_eq!(admin.orgs_with(Permission::OrgView), None);
    }

    #[test]
    fn installation_permissions_count_only_in_the_host_organisation() {
        let outsider = user(
            Some(org(1)),
            vec![grant(org(2), &[Permission::InstallationManage])],
            None,
        );
        assert_eq!(
            outsider.authorize(Permission::InstallationManage, Scope::Installation),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn read_only_tokens_cannot_write() {
        let a = user(
            None,
            vec![grant(org(1), &[Permission::CasesView, Permission::CasesEdit])],
            Some(TokenScope::Read),
        );
        assert_eq!(a.authorize(Permission::CasesView, Scope::Org(org(1))), Ok(()));
        assert_eq!(
            a.authorize(Permission::CasesEdit, Scope::Org(org(1))),
            Err(Denied::ReadOnlyToken)
        );
        assert!(!a.has_anywhere(Permission::CasesEdit));
    }

    #[test]
    fn permission_names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Permission::parse("cases.delete_everything"), None);
    }

    proptest! {
        /// Whatever roles a user holds elsewhere, another organisation's data is "not found",
        /// except membership and audit views for the host's administrators and auditors.
        #[test]
        fn other_organisations_are_invisible(
            own in proptest::collection::vec(1u8..50, 0..5),
            perms in proptest::collection::vec(0usize..Permission::ALL.len(), 0..8),
            target in 50u8..100,
            asked in 0usize..Permission::ALL.len(),
        ) {
            let perms: Vec<Permission> = perms.into_iter().map(|i| Permission::ALL[i]).collect();
            let grants = own.iter().map(|o| grant(org(*o), &perms)).collect();
            let actor = user(None, grants, None);
            prop_assert_eq!(
                actor.authorize(Permission::ALL[asked], Scope::Org(org(target))),
                Err(Denied::NotFound)
            );
        }
    }
}
