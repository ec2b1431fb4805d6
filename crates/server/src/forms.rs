//! The forms page: the programmes' current XLSForms, download, and upload of a new version.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passage_domain::{Permission, Scope};
use passage_service::{Authenticated, FormMedia, MAX_FORM_MEDIA_BYTES, ProgrammeForm, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/forms", get(forms))
        .route("/forms/upload", post(upload))
        .route(
            "/forms/media",
            post(upload_media).layer(DefaultBodyLimit::max(MAX_FORM_MEDIA_BYTES + 64 * 1024)),
        )
        .route("/forms/versions/{id}/{file}", get(download))
}

#[derive(Template)]
#[template(path = "forms.html")]
struct FormsPage {
    c: Chrome,
    programmes: Vec<ProgrammeForm>,
    /// Per programme whose form shows media: the files, uploaded or missing.
    media: Vec<(ProgrammeForm, Vec<FormMedia>)>,
    can_upload: bool,
    notice: Option<String>,
    problems: Vec<String>,
}

impl FormsPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

async fn page(
    state: &AppState,
    who: &Authenticated,
    status: StatusCode,
    notice: Option<String>,
    problems: Vec<String>,
) -> Result<Response, PageError> {
    let programmes = state.svc.programmes().await?;
    let mut media = Vec::new();
    for p in &programmes {
        let files = state.svc.form_media(&p.programme.code).await?;
        if !files.is_empty() {
            media.push((p.clone(), files));
        }
    }
    let can_upload = who
        .actor
        .authorize(Permission::FormsManage, Scope::Installation)
        .is_ok();
    render_with(
        status,
        &FormsPage {
            c: Chrome::of(who),
            programmes,
            media,
            can_upload,
            notice,
            problems,
        },
    )
}

async fn forms(State(state): State<AppState>, WebUser(who): WebUser) -> Result<Response, PageError> {
    page(&state, &who, StatusCode::OK, None, Vec::new()).await
}

async fn upload(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut programme = None;
    let mut file = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("programme") => programme = field.text().await.ok(),
            Some("file") => file = field.bytes().await.ok(),
            _ => {}
        }
    }
    let (Some(programme), Some(file)) = (programme, file.filter(|f| !f.is_empty())) else {
        let problem = "Choose a programme and an .xlsx file.".to_owned();
        return page(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            vec![problem],
        )
        .await;
    };
    match state.svc.upload_form(&who.actor, &ctx, &programme, &file).await {
        Ok(v) => {
            let mut notice = format!("Version {} of {} is now the current form.", v.version, v.title);
            let unavailable = &state.svc.indicator_catalogue().await?.unavailable;
            let theirs: Vec<String> = unavailable.iter().filter_map(|e| e.indicator.clone()).collect();
            if !theirs.is_empty() {
                notice.push_str(&format!(
                    " With the current forms these indicators cannot be computed (the Indicators page says why): {}.",
                    theirs.join(", ")
                ));
            }
            page(&state, &who, StatusCode::CREATED, Some(notice), Vec::new()).await
        }
        Err(ServiceError::InvalidForm(problems)) => {
            let lines = problems.iter().map(ToString::to_string).collect();
            page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, None, lines).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn upload_media(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let (mut programme, mut name, mut file) = (None, None, None);
    let unreadable =
        || vec!["The upload could not be read whole (the largest media file is 10 MiB).".to_owned()];
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("programme") => programme = field.text().await.ok(),
                Some("name") => name = field.text().await.ok(),
                Some("file") => match field.bytes().await {
                    Ok(b) => file = Some(b),
                    Err(_) => {
                        return page(&state, &who, StatusCode::PAYLOAD_TOO_LARGE, None, unreadable()).await;
                    }
                },
                _ => {}
            },
            Ok(None) => break,
            Err(_) => return page(&state, &who, StatusCode::PAYLOAD_TOO_LARGE, None, unreadable()).await,
        }
    }
    let (Some(programme), Some(name), Some(file)) = (programme, name, file.filter(|f| !f.is_empty())) else {
        let problem = "Choose a media file to upload.".to_owned();
        return page(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            vec![problem],
        )
        .await;
    };
    match state
        .svc
        .upload_form_media(&who.actor, &ctx, &programme, &name, &file)
        .await
    {
        Ok(m) => {
            let notice = format!("{} is uploaded; devices download it with the form.", m.name);
            page(&state, &who, StatusCode::CREATED, Some(notice), Vec::new()).await
        }
        Err(ServiceError::Invalid(e)) => {
            page(
                &state,
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                vec![e.to_string()],
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn download(
    State(state): State<AppState>,
    WebUser(_): WebUser,
    Path((id, _file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    let (meta, xlsx) = state.svc.form_workbook(id).await?;
    let disposition = format!(
        "attachment; filename=\"{}-{}.xlsx\"",
        meta.programme, meta.version
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xlsx,
    )
        .into_response())
}
