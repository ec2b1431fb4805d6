//! Programme forms: the shipped XLSForms are installed on first start; administrators and
//! M&E officers upload new versions. A bad upload is refused whole, with every problem
//! named by sheet, row and column.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_domain::InvalidValue;
use passage_domain::{Actor, AuditAction, Permission, Scope};
use passage_store::audit;
use passage_store::forms::{self, FormVersion, MediaFile, Programme};
use passage_xlsform::{Form, FormError, read_xlsform};
use std::sync::Arc;

/// The forms shipped with Passage (source of truth: `forms/*.xlsx`), by programme code.
const SHIPPED: [(&str, &[u8]); 5] = [
    ("avrr", include_bytes!("../../../forms/avrr_case.xlsx")),
    ("ct", include_bytes!("../../../forms/ct_victim_case.xlsx")),
    ("rr", include_bytes!("../../../forms/rr_case.xlsx")),
    ("border", include_bytes!("../../../forms/border_crossing.xlsx")),
    (
        "capacity",
        include_bytes!("../../../forms/capacity_activity.xlsx"),
    ),
];

/// A programme with its current form version (if any) and how many versions exist.
#[derive(Debug, Clone)]
pub struct ProgrammeForm {
    pub programme: Programme,
    pub current: Option<FormVersion>,
}

/// A media file the current form shows, and the upload of it if there is one.
#[derive(Debug, Clone)]
pub struct FormMedia {
    pub name: String,
    pub file: Option<MediaFile>,
}

/// Largest media file accepted (a short video or audio prompt).
pub const MAX_FORM_MEDIA_BYTES: usize = 10 * 1024 * 1024;

/// Media types ODK clients show in labels: content type, leading bytes, extensions.
const MEDIA_TYPES: [(&str, &[u8], &[&str]); 7] = [
    ("image/png", b"\x89PNG\r\n\x1a\n", &["png"]),
    ("image/jpeg", b"\xff\xd8\xff", &["jpg", "jpeg"]),
    ("image/gif", b"GIF8", &["gif"]),
    ("audio/mpeg", b"", &["mp3"]),
    ("audio/wav", b"RIFF", &["wav"]),
    ("audio/ogg", b"OggS", &["ogg", "oga"]),
    ("video/mp4", b"", &["mp4", "m4a", "3gp"]),
];

/// The content type of a media file, checked against its first bytes where they are fixed
/// (MP3 and MP4 files have none that every encoder writes).
fn media_type(name: &str, bytes: &[u8]) -> Result<&'static str, ServiceError> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some((content_type, magic, _)) = MEDIA_TYPES
        .iter()
        .find(|(_, _, extensions)| extensions.contains(&extension.as_str()))
    else {
        return Err(InvalidValue::new(
            "media file",
            "must be an image (PNG, JPEG, GIF), audio (MP3, WAV, OGG) or video (MP4, 3GP) file",
        )
        .into());
    };
    if bytes.starts_with(magic) && !bytes.is_empty() {
        Ok(content_type)
    } else {
        Err(InvalidValue::new("media file", format!("is not really a .{extension} file")).into())
    }
}

fn settings_problem(column: &str, reason: String) -> ServiceError {
    ServiceError::InvalidForm(vec![FormError {
        sheet: "settings".into(),
        row: Some(2),
        column: Some(column.into()),
        reason,
    }])
}

impl Passage {
    pub async fn programmes(&self) -> Result<Vec<ProgrammeForm>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let mut c = pooled.conn();
        let programmes = forms::programmes(&mut c).await?;
        let current = forms::current_versions(&mut c).await?;
        Ok(programmes
            .into_iter()
            .map(|p| {
                let current = current.iter().find(|v| v.programme == p.code).cloned();
                ProgrammeForm {
                    programme: p,
                    current,
                }
            })
            .collect())
    }

    pub async fn form_versions(&self, programme: &str) -> Result<Vec<FormVersion>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(forms::versions(&mut pooled.conn(), programme).await?)
    }

    /// A version's workbook, for download and editing.
    pub async fn form_workbook(&self, id: uuid::Uuid) -> Result<(FormVersion, Vec<u8>), ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let (meta, xlsx, _) = forms::content(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok((meta, xlsx))
    }

    /// The parsed form of a version. Versions never change, so each is parsed once.
    pub async fn form_model(&self, id: uuid::Uuid) -> Result<Arc<Form>, ServiceError> {
        if let Some(form) = self.forms.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(form);
        }
        let mut pooled = self.db.acquire().await?;
        let (_, _, model) = forms::content(&mut pooled.conn(), id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let form: Arc<Form> = Arc::new(
            serde_json::from_str(&model)
                .map_err(|e| ServiceError::Internal(format!("stored form model: {e}")))?,
        );
        if let Ok(mut m) = self.forms.write() {
            m.insert(id, form.clone());
        }
        Ok(form)
    }

    /// Upload a new version of a programme's form (host administrators and M&E officers).
    pub async fn upload_form(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        xlsx: &[u8],
    ) -> Result<FormVersion, ServiceError> {
        authorize(actor, Permission::FormsManage, Scope::Installation)?;
        let programme = {
            let mut pooled = self.db.acquire().await?;
            forms::programmes(&mut pooled.conn())
                .await?
                .into_iter()
                .find(|p| p.code == programme)
        }
        .ok_or(ServiceError::NotFound)?;
        let form = read_xlsform(xlsx, &programme.form_id).map_err(|e| ServiceError::InvalidForm(e.0))?;
        if form.id != programme.form_id {
            return Err(settings_problem(
                "form_id",
                format!(
                    "is `{}` but this programme's form is `{}`",
                    form.id, programme.form_id
                ),
            ));
        }
        if form.version.is_empty() {
            return Err(settings_problem(
                "version",
                "is required, so that phones and records can tell versions apart".into(),
            ));
        }
        let model = serde_json::to_string(&form).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let version = FormVersion {
            id: uuid::Uuid::now_v7(),
            programme: programme.code.clone(),
            version: form.version.clone(),
            title: form.title.clone(),
            sha256: passage_crypto::sha256(xlsx).to_vec(),
            uploaded_by: actor.user_id(),
            uploaded_at: self.now(),
        };
        let mut tx = self.begin().await?;
        forms::insert_version(&mut tx.conn(), &version, xlsx, &model)
            .await
            .map_err(|e| match e {
                passage_store::StoreError::Conflict => settings_problem(
                    "version",
                    format!(
                        "version {} of this form is already uploaded; raise the version number",
                        form.version
                    ),
                ),
                other => other.into(),
            })?;
        let event = self
            .event(ctx, AuditAction::FormUploaded, actor.user_id())
            .target("form_version", version.id)
            .detail("programme", &programme.code)
            .detail("version", &version.version);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        self.forget_indicator_catalogue().await;
        Ok(version)
    }

    /// The media files stored for a programme, whichever form version shows them.
    pub(crate) async fn stored_form_media(&self, programme: &str) -> Result<Vec<MediaFile>, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(forms::media(&mut pooled.conn(), programme).await?)
    }

    /// The media files a programme's current form shows, uploaded or still missing.
    pub async fn form_media(&self, programme: &str) -> Result<Vec<FormMedia>, ServiceError> {
        let current = self
            .programmes()
            .await?
            .into_iter()
            .find(|p| p.programme.code == programme)
            .ok_or(ServiceError::NotFound)?
            .current;
        let Some(current) = current else {
            return Ok(Vec::new());
        };
        let form = self.form_model(current.id).await?;
        let mut stored = self.stored_form_media(programme).await?;
        Ok(form
            .media_files()
            .into_iter()
            .map(|name| {
                let file = stored
                    .iter()
                    .position(|m| m.name == name)
                    .map(|i| stored.swap_remove(i));
                FormMedia { name, file }
            })
            .collect())
    }

    /// Upload (or replace) a media file the programme's current form shows.
    pub async fn upload_form_media(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        programme: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<MediaFile, ServiceError> {
        authorize(actor, Permission::FormsManage, Scope::Installation)?;
        let wanted = self.form_media(programme).await?;
        if !wanted.iter().any(|m| m.name == name) {
            return Err(InvalidValue::new(
                "media file",
                "is not a file the current form shows (name it as in the form's media column)",
            )
            .into());
        }
        if bytes.len() > MAX_FORM_MEDIA_BYTES {
            return Err(InvalidValue::new("media file", "is larger than 10 MiB").into());
        }
        let file = MediaFile {
            programme: programme.to_owned(),
            name: name.to_owned(),
            content_type: media_type(name, bytes)?.to_owned(),
            size: bytes.len() as i64,
            md5: passage_openrosa::digest::md5_hex(bytes),
            uploaded_by: actor.user_id(),
            uploaded_at: self.now(),
        };
        let mut tx = self.begin().await?;
        forms::put_media(&mut tx.conn(), &file, bytes).await?;
        let event = self
            .event(ctx, AuditAction::FormMediaUploaded, actor.user_id())
            .target("programme", programme)
            .detail("file", name)
            .detail("md5", &file.md5);
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(file)
    }

    /// Install the shipped form of every programme that has none yet. Safe to run from several
    /// processes at once: a version another process installed first is left as it is.
    pub async fn install_shipped_forms(&self) -> Result<usize, ServiceError> {
        let mut installed = 0;
        for p in self.programmes().await? {
            if p.current.is_some() {
                continue;
            }
            let Some((_, bytes)) = SHIPPED.iter().find(|(code, _)| *code == p.programme.code) else {
                continue;
            };
            match self
                .upload_form(&Actor::Operator, &Ctx::cli(), &p.programme.code, bytes)
                .await
            {
                Ok(_) => installed += 1,
                Err(ServiceError::InvalidForm(problems))
                    if problems.iter().any(|e| e.reason.contains("already uploaded")) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(installed)
    }
}
