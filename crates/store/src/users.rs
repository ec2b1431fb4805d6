//! User accounts, roles and memberships.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{DisplayName, Email, Grant, OrgId, Permission, Role, Timestamp, UserId, Username};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: DisplayName,
    pub email: Option<Email>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    username: String,
    display_name: String,
    email: Option<String>,
    disabled: bool,
    created_at: i64,
    password_hash: String,
}

fn corrupt(e: impl ToString) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<(User, String), StoreError> {
        let user = User {
            id: UserId::from_uuid(self.id),
            username: Username::parse(&self.username).map_err(corrupt)?,
            display_name: DisplayName::parse(&self.display_name).map_err(corrupt)?,
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(corrupt)?,
            disabled: self.disabled,
            created_at: Timestamp::from_micros(self.created_at),
        };
        Ok((user, self.password_hash))
    }
}

macro_rules! select_user {
    ($rest:literal) => {
        concat!(
            "select id, username, display_name, email, disabled, created_at, password_hash from users",
            $rest
        )
    };
}

/// Insert; [`StoreError::Conflict`] if the username is taken.
pub async fn insert(conn: &mut Conn<'_>, user: &User, password_hash: &str) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into users (id, username, display_name, email, password_hash, disabled, created_at, \
             password_changed_at) values ($1, $2, $3, $4, $5, $6, $7, $7)"
        )
        .bind(user.id.as_uuid())
        .bind(user.username.as_str())
        .bind(user.display_name.as_str())
        .bind(user.email.as_ref().map(|e| e.as_str().to_owned()))
        .bind(password_hash)
        .bind(user.disabled)
        .bind(user.created_at.micros())
    )?;
    Ok(())
}

/// The user and their password hash, for signing in.
pub async fn by_username(
    conn: &mut Conn<'_>,
    username: &Username,
) -> Result<Option<(User, String)>, StoreError> {
    let row: Option<UserRow> = on_conn!(
        conn,
        sqlx::query_as::<_, UserRow>(select_user!(" where username = $1")).bind(username.as_str()),
        fetch_optional
    )?;
    row.map(UserRow::into_user).transpose()
}

pub async fn get(conn: &mut Conn<'_>, id: UserId) -> Result<Option<User>, StoreError> {
    let row: Option<UserRow> = on_conn!(
        conn,
        sqlx::query_as::<_, UserRow>(select_user!(" where id = $1")).bind(id.as_uuid()),
        fetch_optional
    )?;
    Ok(row.map(UserRow::into_user).transpose()?.map(|(u, _)| u))
}

pub async fn list(conn: &mut Conn<'_>) -> Result<Vec<User>, StoreError> {
    let rows: Vec<UserRow> = on_conn!(
        conn,
        sqlx::query_as::<_, UserRow>(select_user!(" order by username")),
        fetch_all
    )?;
    rows.into_iter().map(|r| r.into_user().map(|(u, _)| u)).collect()
}

pub async fn set_password(
    conn: &mut Conn<'_>,
    id: UserId,
    password_hash: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query("update users set password_hash = $1, password_changed_at = $2 where id = $3")
            .bind(password_hash)
            .bind(at.micros())
            .bind(id.as_uuid())
    )?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn count(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_scalar::<_, i64>("select count(*) from users"),
        fetch_one
    )?)
}

/// A role and what it allows, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub role: Role,
    pub label: String,
    pub description: String,
    pub permissions: Vec<Permission>,
}

pub async fn roles(conn: &mut Conn<'_>) -> Result<Vec<RoleInfo>, StoreError> {
    let rows: Vec<(String, String, String, Option<String>)> = on_conn!(
        conn,
        sqlx::query_as::<_, (String, String, String, Option<String>)>(
            "select r.name, r.label, r.description, p.permission from roles r \
             left join role_permissions p on p.role = r.name order by r.position, p.permission"
        ),
        fetch_all
    )?;
    let mut out: Vec<RoleInfo> = Vec::new();
    for (name, label, description, permission) in rows {
        if out.last().is_none_or(|r| r.role.as_str() != name) {
            out.push(RoleInfo {
                role: Role::new(name),
                label,
                description,
                permissions: Vec::new(),
            });
        }
        if let (Some(p), Some(last)) = (permission, out.last_mut()) {
            last.permissions
                .push(Permission::parse(&p).ok_or_else(|| corrupt(format!("unknown permission {p}")))?);
        }
    }
    Ok(out)
}

/// Give `user` the `role` in `org`, replacing any role they had there.
pub async fn set_membership(
    conn: &mut Conn<'_>,
    user: UserId,
    org: OrgId,
    role: &Role,
    at: Timestamp,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into memberships (user_id, org_id, role, created_at) values ($1, $2, $3, $4) \
             on conflict (user_id, org_id) do update set role = excluded.role"
        )
        .bind(user.as_uuid())
        .bind(org.as_uuid())
        .bind(role.as_str())
        .bind(at.micros())
    )?;
    Ok(())
}

pub async fn remove_membership(conn: &mut Conn<'_>, user: UserId, org: OrgId) -> Result<(), StoreError> {
    let removed = exec!(
        conn,
        sqlx::query("delete from memberships where user_id = $1 and org_id = $2")
            .bind(user.as_uuid())
            .bind(org.as_uuid())
    )?;
    if removed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// The user's memberships with each role's permissions — what the policy decides on — and
/// the host organisation if the user is a member of it. One query, as it runs on every request.
pub async fn grants(conn: &mut Conn<'_>, user: UserId) -> Result<(Vec<Grant>, Option<OrgId>), StoreError> {
    let rows: Vec<(Uuid, String, bool, Option<String>)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid, String, bool, Option<String>)>(
            "select m.org_id, m.role, o.is_host, p.permission from memberships m \
             join organisations o on o.id = m.org_id \
             left join role_permissions p on p.role = m.role where m.user_id = $1 \
             order by m.org_id"
        )
        .bind(user.as_uuid()),
        fetch_all
    )?;
    let mut by_org: BTreeMap<Uuid, Grant> = BTreeMap::new();
    let mut host = None;
    for (org, role, is_host, permission) in rows {
        if is_host {
            host = Some(OrgId::from_uuid(org));
        }
        let grant = by_org.entry(org).or_insert_with(|| Grant {
            org: OrgId::from_uuid(org),
            role: Role::new(role),
            permissions: Default::default(),
        });
        // Unknown permission names (from a newer version) grant nothing here.
        if let Some(p) = permission.as_deref().and_then(Permission::parse) {
            grant.permissions.insert(p);
        }
    }
    Ok((by_org.into_values().collect(), host))
}

/// The session with this token digest and its user, in one query (every request needs both).
pub async fn by_session(
    conn: &mut Conn<'_>,
    token_hash: &[u8],
) -> Result<Option<(crate::auth::Session, User)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        csrf_token: String,
        session_created_at: i64,
        last_seen_at: i64,
        expires_at: i64,
        second_factor: String,
    }
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select u.id, u.username, u.display_name, u.email, u.disabled, u.created_at, u.password_hash, \
             s.csrf_token, s.created_at as session_created_at, s.last_seen_at, s.expires_at, s.second_factor \
             from sessions s join users u on u.id = s.user_id where s.token_hash = $1"
        )
        .bind(token_hash),
        fetch_optional
    )?;
    row.map(|r| {
        let user = r.user.into_user()?.0;
        let session = crate::auth::Session {
            token_hash: token_hash.to_vec(),
            user_id: user.id,
            csrf_token: r.csrf_token,
            created_at: Timestamp::from_micros(r.session_created_at),
            last_seen_at: Timestamp::from_micros(r.last_seen_at),
            expires_at: Timestamp::from_micros(r.expires_at),
            second_factor: crate::auth::FactorState::parse(&r.second_factor)?,
        };
        Ok((session, user))
    })
    .transpose()
}

/// A member of an organisation, as listed to its administrators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub org: OrgId,
    pub role: Role,
}

/// Memberships, optionally of one organisation, ordered by organisation then username.
pub async fn members(conn: &mut Conn<'_>, org: Option<OrgId>) -> Result<Vec<Member>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        org_id: Uuid,
        role: String,
    }
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select u.id, u.username, u.display_name, u.email, u.disabled, u.created_at, u.password_hash, \
             m.org_id, m.role from memberships m join users u on u.id = m.user_id \
             where ($1 is null or m.org_id = $1) order by m.org_id, u.username"
        )
        .bind(org.map(|o| o.as_uuid())),
        fetch_all
    )?;
    rows.into_iter()
        .map(|r| {
            Ok(Member {
                user: r.user.into_user()?.0,
                org: OrgId::from_uuid(r.org_id),
                role: Role::new(r.role),
            })
        })
        .collect()
}
