//! ODK collection devices and the submissions they send (kept sealed, as received).

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub name: String,
    pub digest_username: String,
    pub wrapped_key: Vec<u8>,
    /// HA1 of the Digest credentials, sealed under the device's data key.
    pub digest_ha1: Vec<u8>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
}

type DeviceRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    Option<Uuid>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn device_of(r: DeviceRow) -> Device {
    Device {
        id: r.0,
        org_id: OrgId::from_uuid(r.1),
        user_id: UserId::from_uuid(r.2),
        name: r.3,
        digest_username: r.4,
        wrapped_key: r.5,
        digest_ha1: r.6,
        created_by: r.7.map(UserId::from_uuid),
        created_at: Timestamp::from_micros(r.8),
        revoked_at: r.9.map(Timestamp::from_micros),
        last_seen_at: r.10.map(Timestamp::from_micros),
    }
}

macro_rules! select_device {
    ($rest:literal) => {
        concat!(
            "select id, org_id, user_id, name, digest_username, wrapped_key, digest_ha1, created_by, \
             created_at, revoked_at, last_seen_at from devices",
            $rest
        )
    };
}

pub async fn insert_device(conn: &mut Conn<'_>, d: &Device, token_hash: &[u8]) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into devices (id, org_id, user_id, name, token_hash, digest_username, wrapped_key, \
             digest_ha1, created_by, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(d.id)
        .bind(d.org_id.as_uuid())
        .bind(d.user_id.as_uuid())
        .bind(&d.name)
        .bind(token_hash)
        .bind(&d.digest_username)
        .bind(&d.wrapped_key)
        .bind(&d.digest_ha1)
        .bind(d.created_by.map(|u| u.as_uuid()))
        .bind(d.created_at.micros())
    )?;
    Ok(())
}

pub async fn device_by_token(conn: &mut Conn<'_>, token_hash: &[u8]) -> Result<Option<Device>, StoreError> {
    let row: Option<DeviceRow> = on_conn!(
        conn,
        sqlx::query_as::<_, DeviceRow>(select_device!(" where token_hash = $1")).bind(token_hash),
        fetch_optional
    )?;
    Ok(row.map(device_of))
}

pub async fn device_by_username(conn: &mut Conn<'_>, username: &str) -> Result<Option<Device>, StoreError> {
    let row: Option<DeviceRow> = on_conn!(
        conn,
        sqlx::query_as::<_, DeviceRow>(select_device!(" where digest_username = $1")).bind(username),
        fetch_optional
    )?;
    Ok(row.map(device_of))
}

pub async fn device(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Device>, StoreError> {
    let row: Option<DeviceRow> = on_conn!(
        conn,
        sqlx::query_as::<_, DeviceRow>(select_device!(" where id = $1")).bind(id),
        fetch_optional
    )?;
    Ok(row.map(device_of))
}

pub async fn devices_of(conn: &mut Conn<'_>, org: OrgId) -> Result<Vec<Device>, StoreError> {
    let rows: Vec<DeviceRow> = on_conn!(
        conn,
        sqlx::query_as::<_, DeviceRow>(select_device!(" where org_id = $1 order by created_at desc"))
            .bind(org.as_uuid()),
        fetch_all
    )?;
    Ok(rows.into_iter().map(device_of).collect())
}

pub async fn revoke_device(conn: &mut Conn<'_>, id: Uuid, at: Timestamp) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query("update devices set revoked_at = $1 where id = $2 and revoked_at is null")
            .bind(at.micros())
            .bind(id)
    )?)
}

pub async fn touch_device(conn: &mut Conn<'_>, id: Uuid, at: Timestamp) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("update devices set last_seen_at = $1 where id = $2")
            .bind(at.micros())
            .bind(id)
    )?;
    Ok(())
}

/// What happened to a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for attachments announced by the client (`*isIncomplete*`).
    Incomplete,
    /// Complete and stored, not yet made a record (a crash here is recovered at start).
    Received,
    Processed,
    Quarantined,
    /// Encrypted on the device: stored untouched until the key holder unlocks it.
    Encrypted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::Received => "received",
            Self::Processed => "processed",
            Self::Quarantined => "quarantined",
            Self::Encrypted => "encrypted",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Incomplete,
            Self::Received,
            Self::Processed,
            Self::Quarantined,
            Self::Encrypted,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub id: Uuid,
    pub instance_id: String,
    pub org_id: OrgId,
    pub programme: String,
    pub form_version: Uuid,
    pub device_id: Option<Uuid>,
    pub received_by: Option<UserId>,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    pub xml_sha256: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    /// The submitted XML, sealed.
    pub xml: Vec<u8>,
    pub encrypted: bool,
    pub state: State,
    /// Why it was quarantined: field paths and reasons, never values.
    pub problem: Option<String>,
    /// File names the record refers to, JSON array.
    pub expected_files: String,
    pub case_id: Option<Uuid>,
    /// The case's revision right after this submission was applied (edits check it).
    pub case_revision: Option<i64>,
    pub deprecated_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SubmissionRow {
    id: Uuid,
    instance_id: String,
    org_id: Uuid,
    programme: String,
    form_version: Uuid,
    device_id: Option<Uuid>,
    received_by: Option<Uuid>,
    received_at: i64,
    updated_at: i64,
    xml_sha256: Vec<u8>,
    wrapped_key: Vec<u8>,
    xml: Vec<u8>,
    encrypted: bool,
    state: String,
    problem: Option<String>,
    expected_files: String,
    case_id: Option<Uuid>,
    case_revision: Option<i64>,
    deprecated_id: Option<String>,
}

fn submission_of(r: SubmissionRow) -> Result<Submission, StoreError> {
    Ok(Submission {
        id: r.id,
        instance_id: r.instance_id,
        org_id: OrgId::from_uuid(r.org_id),
        programme: r.programme,
        form_version: r.form_version,
        device_id: r.device_id,
        received_by: r.received_by.map(UserId::from_uuid),
        received_at: Timestamp::from_micros(r.received_at),
        updated_at: Timestamp::from_micros(r.updated_at),
        xml_sha256: r.xml_sha256,
        wrapped_key: r.wrapped_key,
        xml: r.xml,
        encrypted: r.encrypted,
        state: State::parse(&r.state)
            .ok_or_else(|| StoreError::Corrupt(format!("submission state {}", r.state)))?,
        problem: r.problem,
        expected_files: r.expected_files,
        case_id: r.case_id,
        case_revision: r.case_revision,
        deprecated_id: r.deprecated_id,
    })
}

macro_rules! select_submission {
    ($rest:literal) => {
        concat!(
            "select id, instance_id, org_id, programme, form_version, device_id, received_by, received_at, \
             updated_at, xml_sha256, wrapped_key, xml, encrypted, state, problem, expected_files, case_id, \
             case_revision, deprecated_id from submissions",
            $rest
        )
    };
}

pub async fn insert_submission(conn: &mut Conn<'_>, s: &Submission) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into submissions (id, instance_id, org_id, programme, form_version, device_id, received_by, \
             received_at, updated_at, xml_sha256, wrapped_key, xml, encrypted, state, problem, expected_files, \
             case_id, case_revision, deprecated_id) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        )
        .bind(s.id)
        .bind(&s.instance_id)
        .bind(s.org_id.as_uuid())
        .bind(&s.programme)
        .bind(s.form_version)
        .bind(s.device_id)
        .bind(s.received_by.map(|u| u.as_uuid()))
        .bind(s.received_at.micros())
        .bind(s.updated_at.micros())
        .bind(&s.xml_sha256)
        .bind(&s.wrapped_key)
        .bind(&s.xml)
        .bind(s.encrypted)
        .bind(s.state.as_str())
        .bind(&s.problem)
        .bind(&s.expected_files)
        .bind(s.case_id)
        .bind(s.case_revision)
        .bind(&s.deprecated_id)
    )?;
    Ok(())
}

pub async fn submission_by_instance(
    conn: &mut Conn<'_>,
    instance_id: &str,
) -> Result<Option<Submission>, StoreError> {
    let row: Option<SubmissionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, SubmissionRow>(select_submission!(" where instance_id = $1")).bind(instance_id),
        fetch_optional
    )?;
    row.map(submission_of).transpose()
}

pub async fn submission(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Submission>, StoreError> {
    let row: Option<SubmissionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, SubmissionRow>(select_submission!(" where id = $1")).bind(id),
        fetch_optional
    )?;
    row.map(submission_of).transpose()
}

/// An organisation's submissions in `states`, newest first.
pub async fn submissions_of(
    conn: &mut Conn<'_>,
    org: OrgId,
    state: Option<State>,
    limit: i64,
) -> Result<Vec<Submission>, StoreError> {
    let rows: Vec<SubmissionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, SubmissionRow>(select_submission!(
            " where org_id = $1 and (cast($2 as text) is null or state = $2) order by received_at desc limit $3"
        ))
        .bind(org.as_uuid())
        .bind(state.map(State::as_str))
        .bind(limit),
        fetch_all
    )?;
    rows.into_iter().map(submission_of).collect()
}

/// Complete submissions never turned into a record (the process stopped in between).
pub async fn unprocessed(conn: &mut Conn<'_>) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>(
            "select id from submissions where state = 'received' order by received_at"
        ),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Record the outcome; `only_if` guards against two processes finishing the same submission.
pub async fn set_outcome(conn: &mut Conn<'_>, s: &Submission, only_if: State) -> Result<u64, StoreError> {
    Ok(exec!(
        conn,
        sqlx::query(
            "update submissions set state = $1, problem = $2, case_id = $3, case_revision = $4, updated_at = $5 \
             where id = $6 and state = $7"
        )
        .bind(s.state.as_str())
        .bind(&s.problem)
        .bind(s.case_id)
        .bind(s.case_revision)
        .bind(s.updated_at.micros())
        .bind(s.id)
        .bind(only_if.as_str())
    )?)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name_key: Vec<u8>,
    /// Sealed file name.
    pub name: Vec<u8>,
    pub content_type: String,
    pub size: i64,
    /// Sealed content.
    pub body: Vec<u8>,
}

/// Adds a file unless one with the same name is already stored; true if it was added.
pub async fn add_file(conn: &mut Conn<'_>, submission: Uuid, f: &StoredFile) -> Result<bool, StoreError> {
    let added = exec!(
        conn,
        sqlx::query(
            "insert into submission_files (submission_id, name_key, name, content_type, size, body) \
             values ($1, $2, $3, $4, $5, $6) on conflict (submission_id, name_key) do nothing"
        )
        .bind(submission)
        .bind(&f.name_key)
        .bind(&f.name)
        .bind(&f.content_type)
        .bind(f.size)
        .bind(&f.body)
    )?;
    Ok(added == 1)
}

pub async fn file_keys(conn: &mut Conn<'_>, submission: Uuid) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows: Vec<(Vec<u8>,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Vec<u8>,)>("select name_key from submission_files where submission_id = $1")
            .bind(submission),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

pub async fn files(conn: &mut Conn<'_>, submission: Uuid) -> Result<Vec<StoredFile>, StoreError> {
    type FileRow = (Vec<u8>, Vec<u8>, String, i64, Vec<u8>);
    let rows: Vec<FileRow> = on_conn!(
        conn,
        sqlx::query_as::<_, FileRow>(
            "select name_key, name, content_type, size, body from submission_files where submission_id = $1"
        )
        .bind(submission),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|r| StoredFile {
            name_key: r.0,
            name: r.1,
            content_type: r.2,
            size: r.3,
            body: r.4,
        })
        .collect())
}

/// A programme's collection key pair, the private half sealed under its holder's passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionKey {
    pub programme: String,
    pub public_key: String,
    pub private_key: Vec<u8>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
}

pub async fn insert_collection_key(conn: &mut Conn<'_>, k: &CollectionKey) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into collection_keys (programme, public_key, private_key, created_by, created_at) \
             values ($1, $2, $3, $4, $5)"
        )
        .bind(&k.programme)
        .bind(&k.public_key)
        .bind(&k.private_key)
        .bind(k.created_by.map(|u| u.as_uuid()))
        .bind(k.created_at.micros())
    )?;
    Ok(())
}

pub async fn collection_keys(conn: &mut Conn<'_>) -> Result<Vec<CollectionKey>, StoreError> {
    type KeyRow = (String, String, Vec<u8>, Option<Uuid>, i64);
    let rows: Vec<KeyRow> = on_conn!(
        conn,
        sqlx::query_as::<_, KeyRow>(
            "select programme, public_key, private_key, created_by, created_at from collection_keys order by programme"
        ),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|r| CollectionKey {
            programme: r.0,
            public_key: r.1,
            private_key: r.2,
            created_by: r.3.map(UserId::from_uuid),
            created_at: Timestamp::from_micros(r.4),
        })
        .collect())
}

/// Encrypted submissions of a programme waiting for its key, oldest first.
pub async fn waiting_for_key(conn: &mut Conn<'_>, programme: &str) -> Result<Vec<Uuid>, StoreError> {
    let rows: Vec<(Uuid,)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid,)>(
            "select id from submissions where programme = $1 and state = 'encrypted' order by received_at"
        )
        .bind(programme),
        fetch_all
    )?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
