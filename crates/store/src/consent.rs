//! Consent records of persons.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: Uuid,
    pub person_id: Uuid,
    pub org_id: OrgId,
    /// `processing`, `sharing` or `tracing`.
    pub scope: String,
    pub purpose: String,
    pub recipients: Vec<OrgId>,
    /// ISO dates.
    pub given_on: String,
    pub withdrawn_on: Option<String>,
    /// Sealed under the person's key.
    pub evidence: Option<Vec<u8>>,
    pub recorded_by: Option<UserId>,
    pub recorded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    person_id: Uuid,
    org_id: Uuid,
    scope: String,
    purpose: String,
    recipients: String,
    given_on: String,
    withdrawn_on: Option<String>,
    evidence: Option<Vec<u8>>,
    recorded_by: Option<Uuid>,
    recorded_at: i64,
}

impl TryFrom<Row> for Consent {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let recipients = r
            .recipients
            .split_whitespace()
            .map(|id| {
                Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("consent recipients: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: r.id,
            person_id: r.person_id,
            org_id: OrgId::from_uuid(r.org_id),
            scope: r.scope,
            purpose: r.purpose,
            recipients: recipients.into_iter().map(OrgId::from_uuid).collect(),
            given_on: r.given_on,
            withdrawn_on: r.withdrawn_on,
            evidence: r.evidence,
            recorded_by: r.recorded_by.map(UserId::from_uuid),
            recorded_at: Timestamp::from_micros(r.recorded_at),
        })
    }
}

pub async fn insert(conn: &mut Conn<'_>, c: &Consent) -> Result<(), StoreError> {
    let recipients: Vec<String> = c.recipients.iter().map(|o| o.as_uuid().to_string()).collect();
    let recipients = recipients.join(" ");
    exec!(
        conn,
        sqlx::query(
            "insert into consents (id, person_id, org_id, scope, purpose, recipients, given_on, evidence, \
             recorded_by, recorded_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(c.id)
        .bind(c.person_id)
        .bind(c.org_id.as_uuid())
        .bind(&c.scope)
        .bind(&c.purpose)
        .bind(recipients)
        .bind(&c.given_on)
        .bind(&c.evidence)
        .bind(c.recorded_by.map(|u| u.as_uuid()))
        .bind(c.recorded_at.micros())
    )?;
    Ok(())
}

/// A person's consents, oldest first.
pub async fn of_person(conn: &mut Conn<'_>, person: Uuid) -> Result<Vec<Consent>, StoreError> {
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select id, person_id, org_id, scope, purpose, recipients, given_on, withdrawn_on, evidence, \
             recorded_by, recorded_at from consents where person_id = $1 order by given_on, recorded_at"
        )
        .bind(person),
        fetch_all
    )?;
    rows.into_iter().map(Consent::try_from).collect()
}

/// Record a withdrawal; false if the consent was withdrawn already (or is not the person's).
pub async fn withdraw(
    conn: &mut Conn<'_>,
    id: Uuid,
    person: Uuid,
    on: &str,
    by: Option<UserId>,
) -> Result<bool, StoreError> {
    let n = exec!(
        conn,
        sqlx::query(
            "update consents set withdrawn_on = $3, withdrawn_by = $4 where id = $1 and person_id = $2 and withdrawn_on is null"
        )
        .bind(id)
        .bind(person)
        .bind(on)
        .bind(by.map(|u| u.as_uuid()))
    )?;
    Ok(n == 1)
}
