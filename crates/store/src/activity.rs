//! What happens around a case: services delivered, notes, documents, referrals to other
//! organisations, and users' saved case filters. Personal content arrives already sealed.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{OrgId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Service {
    pub id: Uuid,
    pub case_id: Uuid,
    pub service_type: String,
    pub delivered_on: String,
    pub provider_org: Option<Uuid>,
    pub value: Option<String>,
    pub currency: Option<String>,
    pub recorded_by: Option<Uuid>,
    pub recorded_at: i64,
}

pub async fn add_service(conn: &mut Conn<'_>, s: &Service) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into case_services (id, case_id, service_type, delivered_on, provider_org, value, currency, \
             recorded_by, recorded_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(s.id)
        .bind(s.case_id)
        .bind(&s.service_type)
        .bind(&s.delivered_on)
        .bind(s.provider_org)
        .bind(&s.value)
        .bind(&s.currency)
        .bind(s.recorded_by)
        .bind(s.recorded_at)
    )?;
    Ok(())
}

pub async fn services(conn: &mut Conn<'_>, case: Uuid) -> Result<Vec<Service>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, Service>(
            "select id, case_id, service_type, delivered_on, provider_org, value, currency, recorded_by, \
             recorded_at from case_services where case_id = $1 order by delivered_on, recorded_at"
        )
        .bind(case),
        fetch_all
    )?)
}

/// A note, or a document when `content_type` is set. Body (and a document's name) are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: Uuid,
    pub case_id: Uuid,
    pub body: Vec<u8>,
    pub author: Option<UserId>,
    pub at: Timestamp,
}

pub async fn add_note(conn: &mut Conn<'_>, n: &Attachment) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("insert into case_notes (id, case_id, body, author, at) values ($1, $2, $3, $4, $5)")
            .bind(n.id)
            .bind(n.case_id)
            .bind(&n.body)
            .bind(n.author.map(|a| a.as_uuid()))
            .bind(n.at.micros())
    )?;
    Ok(())
}

type NoteRow = (Uuid, Uuid, Vec<u8>, Option<Uuid>, i64);

pub async fn notes(conn: &mut Conn<'_>, case: Uuid) -> Result<Vec<Attachment>, StoreError> {
    let rows: Vec<NoteRow> = on_conn!(
        conn,
        sqlx::query_as::<_, NoteRow>(
            "select id, case_id, body, author, at from case_notes where case_id = $1 order by at"
        )
        .bind(case),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, case_id, body, author, at)| Attachment {
            id,
            case_id,
            body,
            author: author.map(UserId::from_uuid),
            at: Timestamp::from_micros(at),
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: Uuid,
    pub case_id: Uuid,
    /// Sealed file name.
    pub name: Vec<u8>,
    pub content_type: String,
    pub size: i64,
    pub uploaded_by: Option<UserId>,
    pub at: Timestamp,
}

/// A document's sealed body as stored: in its row, or in the database's document packs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentBody {
    Inline(Vec<u8>),
    Packed(crate::BodyAt),
}

pub async fn add_document(conn: &mut Conn<'_>, d: &Document, body: &DocumentBody) -> Result<(), StoreError> {
    let (inline, at) = match body {
        DocumentBody::Inline(b) => (b.as_slice(), None),
        DocumentBody::Packed(at) => (&[][..], Some(at)),
    };
    exec!(
        conn,
        sqlx::query(
            "insert into case_documents (id, case_id, name, content_type, size, body, body_pack, body_offset, \
             body_len, uploaded_by, at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
        .bind(d.id)
        .bind(d.case_id)
        .bind(&d.name)
        .bind(&d.content_type)
        .bind(d.size)
        .bind(inline)
        .bind(at.map(|a| a.pack))
        .bind(at.map(|a| a.offset))
        .bind(at.map(|a| a.len))
        .bind(d.uploaded_by.map(|a| a.as_uuid()))
        .bind(d.at.micros())
    )?;
    Ok(())
}

type DocumentRow = (Uuid, Uuid, Vec<u8>, String, i64, Option<Uuid>, i64);
type DocumentWithBody = (
    Uuid,
    Uuid,
    Vec<u8>,
    String,
    i64,
    Option<Uuid>,
    i64,
    Vec<u8>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn document(r: DocumentRow) -> Document {
    Document {
        id: r.0,
        case_id: r.1,
        name: r.2,
        content_type: r.3,
        size: r.4,
        uploaded_by: r.5.map(UserId::from_uuid),
        at: Timestamp::from_micros(r.6),
    }
}

/// A case's documents without their bodies.
pub async fn documents(conn: &mut Conn<'_>, case: Uuid) -> Result<Vec<Document>, StoreError> {
    let rows: Vec<DocumentRow> = on_conn!(
        conn,
        sqlx::query_as::<_, DocumentRow>(
            "select id, case_id, name, content_type, size, uploaded_by, at from case_documents \
             where case_id = $1 order by at"
        )
        .bind(case),
        fetch_all
    )?;
    Ok(rows.into_iter().map(document).collect())
}

/// One document with its sealed body.
pub async fn document_body(
    conn: &mut Conn<'_>,
    id: Uuid,
) -> Result<Option<(Document, DocumentBody)>, StoreError> {
    let row: Option<DocumentWithBody> = on_conn!(
        conn,
        sqlx::query_as::<_, DocumentWithBody>(
            "select id, case_id, name, content_type, size, uploaded_by, at, body, body_pack, body_offset, body_len \
             from case_documents where id = $1"
        )
        .bind(id),
        fetch_optional
    )?;
    Ok(row.map(|r| {
        let body = match (r.8, r.9, r.10) {
            (Some(pack), Some(offset), Some(len)) => {
                DocumentBody::Packed(crate::BodyAt { pack, offset, len })
            }
            _ => DocumentBody::Inline(r.7),
        };
        (document((r.0, r.1, r.2, r.3, r.4, r.5, r.6)), body)
    }))
}

type PackedRow = (i64, i64, i64);

fn packed((pack, offset, len): PackedRow) -> crate::BodyAt {
    crate::BodyAt { pack, offset, len }
}

/// Where every packed body is (to tell kept ranges from dead ones, and to back them up).
pub async fn packed_bodies(conn: &mut Conn<'_>) -> Result<Vec<crate::BodyAt>, StoreError> {
    let rows: Vec<PackedRow> = on_conn!(
        conn,
        sqlx::query_as::<_, PackedRow>(
            "select body_pack, body_offset, body_len from case_documents where body_pack is not null"
        ),
        fetch_all
    )?;
    Ok(rows.into_iter().map(packed).collect())
}

/// Where a case's packed bodies are.
pub(crate) async fn packed_bodies_of(
    conn: &mut Conn<'_>,
    case: Uuid,
) -> Result<Vec<crate::BodyAt>, StoreError> {
    let rows: Vec<PackedRow> = on_conn!(
        conn,
        sqlx::query_as::<_, PackedRow>(
            "select body_pack, body_offset, body_len from case_documents where case_id = $1 and body_pack is not null"
        )
        .bind(case),
        fetch_all
    )?;
    Ok(rows.into_iter().map(packed).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: Uuid,
    pub case_id: Uuid,
    pub from_org: OrgId,
    pub to_org: OrgId,
    pub status: String,
    pub service_type: String,
    /// JSON list of the shared field names.
    pub shared_fields: String,
    pub wrapped_key: Vec<u8>,
    pub shared: Vec<u8>,
    pub requested_by: Option<UserId>,
    pub requested_at: Timestamp,
    pub responded_by: Option<UserId>,
    pub responded_at: Option<Timestamp>,
    pub decline_reason: Option<String>,
    pub completed_at: Option<Timestamp>,
    pub revision: i64,
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    id: Uuid,
    case_id: Uuid,
    from_org: Uuid,
    to_org: Uuid,
    status: String,
    service_type: String,
    shared_fields: String,
    wrapped_key: Vec<u8>,
    shared: Vec<u8>,
    requested_by: Option<Uuid>,
    requested_at: i64,
    responded_by: Option<Uuid>,
    responded_at: Option<i64>,
    decline_reason: Option<String>,
    completed_at: Option<i64>,
    revision: i64,
}

impl From<ReferralRow> for Referral {
    fn from(r: ReferralRow) -> Self {
        Self {
            id: r.id,
            case_id: r.case_id,
            from_org: OrgId::from_uuid(r.from_org),
            to_org: OrgId::from_uuid(r.to_org),
            status: r.status,
            service_type: r.service_type,
            shared_fields: r.shared_fields,
            wrapped_key: r.wrapped_key,
            shared: r.shared,
            requested_by: r.requested_by.map(UserId::from_uuid),
            requested_at: Timestamp::from_micros(r.requested_at),
            responded_by: r.responded_by.map(UserId::from_uuid),
            responded_at: r.responded_at.map(Timestamp::from_micros),
            decline_reason: r.decline_reason,
            completed_at: r.completed_at.map(Timestamp::from_micros),
            revision: r.revision,
        }
    }
}

macro_rules! select_referral {
    ($rest:literal) => {
        concat!(
            "select id, case_id, from_org, to_org, status, service_type, shared_fields, wrapped_key, shared, \
             requested_by, requested_at, responded_by, responded_at, decline_reason, completed_at, revision \
             from referrals",
            $rest
        )
    };
}

pub async fn add_referral(conn: &mut Conn<'_>, r: &Referral) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into referrals (id, case_id, from_org, to_org, status, service_type, shared_fields, \
             wrapped_key, shared, requested_by, requested_at, revision) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )
        .bind(r.id)
        .bind(r.case_id)
        .bind(r.from_org.as_uuid())
        .bind(r.to_org.as_uuid())
        .bind(&r.status)
        .bind(&r.service_type)
        .bind(&r.shared_fields)
        .bind(&r.wrapped_key)
        .bind(&r.shared)
        .bind(r.requested_by.map(|u| u.as_uuid()))
        .bind(r.requested_at.micros())
        .bind(r.revision)
    )?;
    Ok(())
}

pub async fn referral(conn: &mut Conn<'_>, id: Uuid) -> Result<Option<Referral>, StoreError> {
    let row: Option<ReferralRow> = on_conn!(
        conn,
        sqlx::query_as::<_, ReferralRow>(select_referral!(" where id = $1")).bind(id),
        fetch_optional
    )?;
    Ok(row.map(Referral::from))
}

/// Referrals sent by or to an organisation (newest first), or those of one case.
pub async fn referrals(
    conn: &mut Conn<'_>,
    org: Option<OrgId>,
    case: Option<Uuid>,
) -> Result<Vec<Referral>, StoreError> {
    let rows: Vec<ReferralRow> = on_conn!(
        conn,
        sqlx::query_as::<_, ReferralRow>(select_referral!(
            " where ($1 is null or from_org = $1 or to_org = $1) and ($2 is null or case_id = $2) \
             order by requested_at desc limit 500"
        ))
        .bind(org.map(|o| o.as_uuid()))
        .bind(case),
        fetch_all
    )?;
    Ok(rows.into_iter().map(Referral::from).collect())
}

/// Answer a requested referral (`accepted` or `declined`), recording who answered.
pub async fn respond_referral(
    conn: &mut Conn<'_>,
    id: Uuid,
    status: &str,
    by: Option<UserId>,
    decline_reason: Option<&str>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update referrals set status = $1, responded_by = $2, decline_reason = $3, responded_at = $4, \
             revision = revision + 1 where id = $5 and status = 'requested'"
        )
        .bind(status)
        .bind(by.map(|u| u.as_uuid()))
        .bind(decline_reason)
        .bind(at.micros())
        .bind(id)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

/// Mark an accepted referral completed.
pub async fn complete_referral(conn: &mut Conn<'_>, id: Uuid, at: Timestamp) -> Result<(), StoreError> {
    let changed = exec!(
        conn,
        sqlx::query(
            "update referrals set status = 'completed', completed_at = $1, revision = revision + 1 \
             where id = $2 and status = 'accepted'"
        )
        .bind(at.micros())
        .bind(id)
    )?;
    if changed == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFilter {
    pub id: Uuid,
    pub user: UserId,
    pub name: String,
    /// The list's query string (codes only: never a name or a case number).
    pub query: String,
    pub created_at: Timestamp,
}

pub async fn save_filter(conn: &mut Conn<'_>, f: &SavedFilter) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into saved_filters (id, user_id, name, query, created_at) values ($1, $2, $3, $4, $5) \
             on conflict (user_id, name) do update set query = excluded.query"
        )
        .bind(f.id)
        .bind(f.user.as_uuid())
        .bind(&f.name)
        .bind(&f.query)
        .bind(f.created_at.micros())
    )?;
    Ok(())
}

pub async fn saved_filters(conn: &mut Conn<'_>, user: UserId) -> Result<Vec<SavedFilter>, StoreError> {
    let rows: Vec<(Uuid, String, String, i64)> = on_conn!(
        conn,
        sqlx::query_as::<_, (Uuid, String, String, i64)>(
            "select id, name, query, created_at from saved_filters where user_id = $1 order by name"
        )
        .bind(user.as_uuid()),
        fetch_all
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, name, query, at)| SavedFilter {
            id,
            user,
            name,
            query,
            created_at: Timestamp::from_micros(at),
        })
        .collect())
}

pub async fn delete_filter(conn: &mut Conn<'_>, user: UserId, id: Uuid) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query("delete from saved_filters where id = $1 and user_id = $2")
            .bind(id)
            .bind(user.as_uuid())
    )?;
    Ok(())
}
