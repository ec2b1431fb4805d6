//! Programmes and the versions of their forms.

use crate::{Conn, StoreError, exec, on_conn};
use passage_domain::{Timestamp, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Programme {
    pub code: String,
    pub name: String,
    /// The XLSForm `form_id` every version of this programme's form must carry.
    pub form_id: String,
    /// Case identities are shown to the case's team only (counter-trafficking).
    pub need_to_know: bool,
}

/// A stored form version, without its workbook and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormVersion {
    pub id: Uuid,
    pub programme: String,
    pub version: String,
    pub title: String,
    pub sha256: Vec<u8>,
    pub uploaded_by: Option<UserId>,
    pub uploaded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: Uuid,
    programme: String,
    version: String,
    title: String,
    sha256: Vec<u8>,
    uploaded_by: Option<Uuid>,
    uploaded_at: i64,
}

impl From<VersionRow> for FormVersion {
    fn from(r: VersionRow) -> Self {
        Self {
            id: r.id,
            programme: r.programme,
            version: r.version,
            title: r.title,
            sha256: r.sha256,
            uploaded_by: r.uploaded_by.map(UserId::from_uuid),
            uploaded_at: Timestamp::from_micros(r.uploaded_at),
        }
    }
}

macro_rules! select_version {
    ($rest:literal) => {
        concat!(
            "select id, programme, version, title, sha256, uploaded_by, uploaded_at from form_versions",
            $rest
        )
    };
}

pub async fn programmes(conn: &mut Conn<'_>) -> Result<Vec<Programme>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, Programme>(
            "select code, name, form_id, need_to_know from programmes order by position"
        ),
        fetch_all
    )?)
}

/// Store a new version; [`StoreError::Conflict`] if the programme already has this version.
pub async fn insert_version(
    conn: &mut Conn<'_>,
    v: &FormVersion,
    xlsx: &[u8],
    model_json: &str,
) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into form_versions (id, programme, version, title, xlsx, sha256, model, uploaded_by, \
             uploaded_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )
        .bind(v.id)
        .bind(&v.programme)
        .bind(&v.version)
        .bind(&v.title)
        .bind(xlsx)
        .bind(&v.sha256)
        .bind(model_json)
        .bind(v.uploaded_by.map(|u| u.as_uuid()))
        .bind(v.uploaded_at.micros())
    )?;
    Ok(())
}

/// Every version of a programme's form, newest first.
pub async fn versions(conn: &mut Conn<'_>, programme: &str) -> Result<Vec<FormVersion>, StoreError> {
    let rows: Vec<VersionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, VersionRow>(select_version!(
            " where programme = $1 order by uploaded_at desc, version desc"
        ))
        .bind(programme),
        fetch_all
    )?;
    Ok(rows.into_iter().map(FormVersion::from).collect())
}

/// The newest version of every programme's form.
pub async fn current_versions(conn: &mut Conn<'_>) -> Result<Vec<FormVersion>, StoreError> {
    let rows: Vec<VersionRow> = on_conn!(
        conn,
        sqlx::query_as::<_, VersionRow>(select_version!(
            " v where uploaded_at = (select max(uploaded_at) from form_versions w where w.programme = v.programme) \
              order by programme"
        )),
        fetch_all
    )?;
    Ok(rows.into_iter().map(FormVersion::from).collect())
}

/// The workbook and the parsed model (JSON) of one version.
pub async fn content(
    conn: &mut Conn<'_>,
    id: Uuid,
) -> Result<Option<(FormVersion, Vec<u8>, String)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        meta: VersionRow,
        xlsx: Vec<u8>,
        model: String,
    }
    let row: Option<Row> = on_conn!(
        conn,
        sqlx::query_as::<_, Row>(
            "select id, programme, version, title, sha256, uploaded_by, uploaded_at, xlsx, model \
             from form_versions where id = $1"
        )
        .bind(id),
        fetch_optional
    )?;
    Ok(row.map(|r| (r.meta.into(), r.xlsx, r.model)))
}

/// A media file a programme's form shows, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub programme: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Hex MD5 of the bytes: the hash OpenRosa manifests carry.
    pub md5: String,
    pub uploaded_by: Option<UserId>,
    pub uploaded_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct MediaRow {
    programme: String,
    name: String,
    content_type: String,
    size: i64,
    md5: String,
    uploaded_by: Option<Uuid>,
    uploaded_at: i64,
}

impl From<MediaRow> for MediaFile {
    fn from(r: MediaRow) -> Self {
        Self {
            programme: r.programme,
            name: r.name,
            content_type: r.content_type,
            size: r.size,
            md5: r.md5,
            uploaded_by: r.uploaded_by.map(UserId::from_uuid),
            uploaded_at: Timestamp::from_micros(r.uploaded_at),
        }
    }
}

/// Store a media file, replacing one of the same programme and name.
pub async fn put_media(conn: &mut Conn<'_>, m: &MediaFile, body: &[u8]) -> Result<(), StoreError> {
    exec!(
        conn,
        sqlx::query(
            "insert into form_media (programme, name, content_type, size, md5, body, uploaded_by, uploaded_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (programme, name) do update set \
             content_type = excluded.content_type, size = excluded.size, md5 = excluded.md5, \
             body = excluded.body, uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at"
        )
        .bind(&m.programme)
        .bind(&m.name)
        .bind(&m.content_type)
        .bind(m.size)
        .bind(&m.md5)
        .bind(body)
        .bind(m.uploaded_by.map(|u| u.as_uuid()))
        .bind(m.uploaded_at.micros())
    )?;
    Ok(())
}

/// The media files stored for a programme, by name.
pub async fn media(conn: &mut Conn<'_>, programme: &str) -> Result<Vec<MediaFile>, StoreError> {
    let rows: Vec<MediaRow> = on_conn!(
        conn,
        sqlx::query_as::<_, MediaRow>(
            "select programme, name, content_type, size, md5, uploaded_by, uploaded_at from form_media \
             where programme = $1 order by name"
        )
        .bind(programme),
        fetch_all
    )?;
    Ok(rows.into_iter().map(MediaFile::from).collect())
}

/// One media file's content type and bytes.
pub async fn media_body(
    conn: &mut Conn<'_>,
    programme: &str,
    name: &str,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(on_conn!(
        conn,
        sqlx::query_as::<_, (String, Vec<u8>)>(
            "select content_type, body from form_media where programme = $1 and name = $2"
        )
        .bind(programme)
        .bind(name),
        fetch_optional
    )?)
}
