//! Narrative text of reports, per report, section and year.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, UserId};

/// (section, body) of every narrative of a report's year.
pub async fn narratives(
    conn: &mut Conn<'_>,
    report: &str,
    year: i32,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (String, String)>(
            "select section, body from report_narratives where report = $1 and year = $2 order by section"
        )
        .bind(report)
        .bind(year),
        fetch_all
    )?)
}

/// Write (or replace) one section's narrative; an empty body removes it.
pub async fn put_narrative(
    conn: &mut Conn<'_>,
    report: &str,
    section: &str,
    year: i32,
    body: &str,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<(), StoreError> {
    if body.is_empty() {
        exec!(
            conn,
            sqlx::query("delete from report_narratives where report = $1 and section = $2 and year = $3")
                .bind(report)
                .bind(section)
                .bind(year)
        )?;
        return Ok(());
    }
    exec!(
        conn,
        sqlx::query(
            "insert into report_narratives (report, section, year, body, updated_by, updated_at) \
             values ($1, $2, $3, $4, $5, $6) on conflict (report, section, year) do update \
             set body = excluded.body, updated_by = excluded.updated_by, updated_at = excluded.updated_at"
        )
        .bind(report)
        .bind(section)
        .bind(year)
        .bind(body)
        .bind(by.map(|u| u.as_uuid()))
        .bind(at.micros())
    )?;
    Ok(())
}
