//! Programme forms: the shipped XLSForms are installed on first start; administrators and
//! M&E officers upload new versions. A bad upload is refused whole, with every problem
//! named by sheet, row and column.

use crate::error::ServiceError;
use crate::{Ctx, Passage, authorize};
use passage_domain::{Actor, AuditAction, Permission, Scope};
use passage_store::audit;
use passage_store::forms::{self, FormVersion, Programme};
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
