//! Reference places: Liberia's counties and its border crossing points.

use crate::{Conn, StoreError, on_conn};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct County {
    pub code: String,
    pub name: String,
    pub capital: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CrossingPoint {
    pub code: String,
    pub name: String,
    pub county_code: String,
    pub kind: String,
    /// ISO 3166-1 alpha-3 of the country across the border, for land and river crossings.
    pub neighbour: Option<String>,
}

pub async fn counties(conn: &mut Conn<'_>) -> Result<Vec<County>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, County>("select code, name, capital from counties order by name"),
        fetch_all
    )?)
}

pub async fn crossing_points(conn: &mut Conn<'_>) -> Result<Vec<CrossingPoint>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, CrossingPoint>(
            "select code, name, county_code, kind, neighbour from crossing_points order by name"
        ),
        fetch_all
    )?)
}
