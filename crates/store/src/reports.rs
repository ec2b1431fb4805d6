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
    /// The name of the attached evidence file, if any.
    pub evidence_name: Option<String>,
}

/// A file attached as a manual value's evidence.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EvidenceFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Every manual value, by indicator and year.
pub async fn manual_values(conn: &mut Conn<'_>) -> Result<Vec<ManualValue>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, ManualValue>(
            "select indicator, year, value, source, evidence, entered_at, evidence_name \
             from indicator_values order by indicator, year"
        ),
        fetch_all
    )?)
}

/// Enter (or correct) a manual indicator's value for a year, with its evidence file if one is
/// given (without one, a file attached before stays).
pub async fn put_manual_value(
    conn: &mut Conn<'_>,
    v: &ManualValue,
    file: Option<&EvidenceFile>,
    by: Option<UserId>,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into indicator_values (indicator, year, value, source, evidence, entered_by, entered_at, \
             evidence_name, evidence_type, evidence_file) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             on conflict (indicator, year) do update set value = excluded.value, \
             source = excluded.source, evidence = excluded.evidence, entered_by = excluded.entered_by, \
             entered_at = excluded.entered_at, \
             evidence_name = coalesce(excluded.evidence_name, indicator_values.evidence_name), \
             evidence_type = coalesce(excluded.evidence_type, indicator_values.evidence_type), \
             evidence_file = coalesce(excluded.evidence_file, indicator_values.evidence_file)"
        )
        .bind(&v.indicator)
        .bind(v.year)
        .bind(v.value)
        .bind(&v.source)
        .bind(&v.evidence)
        .bind(by.map(|u| u.as_uuid()))
        .bind(v.entered_at)
        .bind(file.map(|f| f.name.as_str()))
        .bind(file.map(|f| f.content_type.as_str()))
        .bind(file.map(|f| f.bytes.as_slice()))
    )?;
    Ok(())
}

/// The evidence file of a manual value, if one is attached.
pub async fn evidence_file(
    conn: &mut Conn<'_>,
    indicator: &str,
    year: i32,
) -> Result<Option<EvidenceFile>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, EvidenceFile>(
            "select evidence_name as name, evidence_type as content_type, evidence_file as bytes \
             from indicator_values where indicator = $1 and year = $2 and evidence_file is not null"
        )
        .bind(indicator)
        .bind(year),
        fetch_optional
    )?)
}
