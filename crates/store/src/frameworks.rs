//! The editable frameworks: the UN Cooperation Framework's results matrix and the national
//! development plan's pillars, as a tree of nodes.

use crate::{Conn, StoreError, exec, on_conn};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Node {
    pub id: Uuid,
    pub framework: String,
    pub parent_id: Option<Uuid>,
    pub level: String,
    pub code: String,
    pub title: String,
    /// Comma-separated.
    pub lead_agencies: String,
    /// Comma-separated SDG target codes.
    pub sdg_targets: String,
    pub gender_marker: Option<i32>,
    pub human_rights_marker: Option<i32>,
    /// Comma-separated indicator codes that measure this node.
    pub indicators: String,
    pub updated_at: i64,
}

/// A framework's nodes, ordered by code (which encodes the hierarchy, e.g. `1`, `1.2`, `1.2.1`).
pub async fn nodes(conn: &mut Conn<'_>, framework: &str) -> Result<Vec<Node>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, Node>(
            "select id, framework, parent_id, level, code, title, lead_agencies, sdg_targets, gender_marker, \
             human_rights_marker, indicators, updated_at from framework_nodes where framework = $1 order by code"
        )
        .bind(framework),
        fetch_all
    )?)
}

/// Insert a node, or replace the one with the same id.
pub async fn put_node(conn: &mut Conn<'_>, n: &Node) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into framework_nodes (id, framework, parent_id, level, code, title, lead_agencies, sdg_targets, \
             gender_marker, human_rights_marker, indicators, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict (id) do update set \
             parent_id = excluded.parent_id, level = excluded.level, code = excluded.code, title = excluded.title, \
             lead_agencies = excluded.lead_agencies, sdg_targets = excluded.sdg_targets, \
             gender_marker = excluded.gender_marker, human_rights_marker = excluded.human_rights_marker, \
             indicators = excluded.indicators, updated_at = excluded.updated_at"
        )
        .bind(n.id)
        .bind(&n.framework)
        .bind(n.parent_id)
        .bind(&n.level)
        .bind(&n.code)
        .bind(&n.title)
        .bind(&n.lead_agencies)
        .bind(&n.sdg_targets)
        .bind(n.gender_marker)
        .bind(n.human_rights_marker)
        .bind(&n.indicators)
        .bind(n.updated_at)
    )?;
    Ok(())
}

/// Remove a node that has no children (the caller checks).
pub async fn delete_node(conn: &mut Conn<'_>, id: Uuid) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("delete from framework_nodes where id = $1").bind(id)
    )?)
}
