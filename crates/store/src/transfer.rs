//! Reads for exporting case records: every case of one organisation and programme made with one
//! form version. Like the rest of the store, this sees ciphertext only.

use crate::cases::StoredCase;
use crate::{Conn, StoreError, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: String,
    programme: String,
    owner_org: Uuid,
    form_version: Uuid,
    stage: String,
    wrapped_key: Option<Vec<u8>>,
    reporting: String,
    identifying: Option<Vec<u8>>,
    sensitive: Option<Vec<u8>>,
    created_by: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    revision: i64,
    person_id: Option<Uuid>,
    assigned_to: Option<Uuid>,
    due_on: Option<String>,
    county: Option<String>,
    closed: bool,
}

impl From<Row> for StoredCase {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            number: r.number,
            programme: r.programme,
            owner_org: OrgId::from_uuid(r.owner_org),
            form_version: r.form_version,
            stage: r.stage,
            wrapped_key: r.wrapped_key,
            reporting: r.reporting,
            identifying: r.identifying,
            sensitive: r.sensitive,
            created_by: r.created_by.map(UserId::from_uuid),
            created_at: Timestamp::from_micros(r.created_at),
            updated_at: Timestamp::from_micros(r.updated_at),
            revision: r.revision,
            person_id: r.person_id,
            assigned_to: r.assigned_to.map(UserId::from_uuid),
            due_on: r.due_on,
            county: r.county,
            closed: r.closed,
        }
    }
}

/// The cases of `org` in `programme` made with `form_version`, oldest first (then by number,
/// for cases registered in the same instant, e.g. by one import).
pub async fn cases_for_export(
    conn: &mut Conn<'_>,
    org: OrgId,
    programme: &str,
    form_version: Uuid,
) -> Result<Vec<StoredCase>, StoreError> {
    let rows: Vec<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select id, number, programme, owner_org, form_version, stage, wrapped_key, reporting, identifying, \
             sensitive, created_by, created_at, updated_at, revision, person_id, assigned_to, due_on, county, \
             closed from cases where owner_org = $1 and programme = $2 and form_version = $3 \
             order by created_at, number"
        )
        .bind(org.as_uuid())
        .bind(programme)
        .bind(form_version),
        fetch_all
    )?;
    Ok(rows.into_iter().map(StoredCase::from).collect())
}
