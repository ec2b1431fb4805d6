//! Text and figures entered by hand for reports: narratives per report, section and year,
//! and the values of manual indicators with their source and evidence.

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

/// A manual indicator's value for a year.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ManualValue {
    pub indicator: String,
    pub year: i32,
    pub value: f64,
    pub source: String,
    pub evidence: String,
    pub entered_at: i64,
}

/// Every manual value, by indicator and year.
pub async fn manual_values(conn: &mut Conn<'_>) -> Result<Vec<ManualValue>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, ManualValue>(
            "select indicator, year, value, source, evidence, entered_at from indicator_values order by indicator, year"
        ),
        fetch_all
    )?)
}

/// Enter (or correct) a manual indicator's value for a year.
pub async fn put_manual_value(
    conn: &mut Conn<'_>,
    v: &ManualValue,
    by: Option<UserId>,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into indicator_values (indicator, year, value, source, evidence, entered_by, entered_at) \
             values ($1, $2, $3, $4, $5, $6, $7) on conflict (indicator, year) do update set value = excluded.value, \
             source = excluded.source, evidence = excluded.evidence, entered_by = excluded.entered_by, \
             entered_at = excluded.entered_at"
        )
        .bind(&v.indicator)
        .bind(v.year)
        .bind(v.value)
        .bind(&v.source)
        .bind(&v.evidence)
        .bind(by.map(|u| u.as_uuid()))
        .bind(v.entered_at)
    )?;
    Ok(())
}
