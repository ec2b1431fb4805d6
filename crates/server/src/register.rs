//! Registering a case in the browser: the page is drawn from the programme's current form
//! (labels, hints, choices, groups, repeats), works without JavaScript, and the answers go
//! through the same check as every other channel. Input names are answer paths
//! (`support[2]/support_type`), so each problem is shown next to its input.

use crate::AppState;
use crate::auth::{RequestCtx, WebUser};
use crate::error::PageError;
use crate::pages::{Chrome, render_with};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use passage_domain::{OrgId, Scope};
use passage_service::{Authenticated, Instance, ServiceError};
use passage_xlsform::{FieldKind, Form, Node};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases/new", get(new_case).post(submit))
        .route("/cases/{id}/edit", get(edit_case).post(submit_edit))
        .route("/collection/submissions/{id}/fix", get(fix_page).post(submit_fix))
}

/// The target of correcting a quarantined submission.
fn fix_target(summary: passage_service::SubmissionSummary) -> Target {
    Target::Fix {
        submission: summary.id,
        programme: summary.programme,
        org: summary.org,
        form_version: summary.form_version,
    }
}

fn submission_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    raw.parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))
}

/// A quarantined ODK submission in the registration page, with the reason it was stopped.
async fn fix_page(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (summary, answers) = state
        .svc
        .submission_answers(&who.actor, &ctx, submission_id(&id)?)
        .await?;
    let errors = BTreeMap::from([(
        String::new(),
        format!(
            "Sent from the field but not registered: {}. Correct it and save to register it.",
            summary.problem.clone().unwrap_or_default()
        ),
    )]);
    let target = fix_target(summary);
    page(&state, &ctx, &who, &target, &answers, &errors, StatusCode::OK).await
}

async fn submit_fix(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    // Saving needs where it goes, not what arrived: nothing is read (or audited) twice.
    let summary = state
        .svc
        .submission_to_fix(&who.actor, submission_id(&id)?)
        .await?;
    save(&state, &ctx, &who, fix_target(summary), parse_posted(&body)).await
}

/// One choice of a select, and whether it is chosen.
struct Option_ {
    value: String,
    label: String,
    chosen: bool,
}

enum Widget {
    GroupStart(String),
    GroupEnd,
    Note(String),
    RepeatInstanceStart {
        label: String,
        remove: String,
    },
    RepeatInstanceEnd,
    AddButton {
        path: String,
        label: String,
    },
    Input {
        name: String,
        label: String,
        hint: String,
        required: bool,
        /// `text`, `number`, `decimal`, `date`, `datetime-local`, `time`, `select`, `checkboxes`,
        /// `acknowledge`, `geopoint`
        kind: &'static str,
        value: String,
        choices: Vec<Option_>,
        error: Option<String>,
    },
    Count {
        path: String,
        n: usize,
    },
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    c: Chrome,
    programme_name: String,
    org: String,
    org_name: String,
    form_version: String,
    /// Where the form posts to, and the hidden fields that say what is being saved.
    action: String,
    /// (case number, revision) when editing an existing case.
    editing: Option<(String, i64)>,
    /// The existing person a new case is registered for, and their name.
    person: Option<(String, String)>,
    widgets: Vec<Widget>,
    /// Set when a submission was refused; `problems` lists those not shown at an input.
    refused: bool,
    problems: Vec<String>,
    /// Existing persons this new case may be about, shown before saving.
    similar: Vec<passage_service::SimilarPerson>,
}

impl RegisterPage {
    pub fn chrome(&self) -> Option<&Chrome> {
        Some(&self.c)
    }
}

#[derive(Deserialize)]
struct Params {
    programme: String,
    org: Option<String>,
    person: Option<String>,
}

/// What the form saves: a new case (perhaps for a known person) or a change to a case.
enum Target {
    New {
        programme: String,
        org: OrgId,
        person: Option<uuid::Uuid>,
    },
    Edit {
        id: uuid::Uuid,
        revision: i64,
    },
    /// Correcting a quarantined ODK submission: the form version it was filled in.
    Fix {
        submission: uuid::Uuid,
        programme: String,
        org: OrgId,
        form_version: uuid::Uuid,
    },
}

/// The organisation to register in: the one asked for, or the first the user may register in.
fn organisation(who: &Authenticated, asked: Option<&str>, programme: &str) -> Result<OrgId, PageError> {
    let (_, edit) = passage_service::record_permissions(programme);
    match asked.filter(|o| !o.is_empty()) {
        Some(raw) => raw
            .parse()
            .map_err(|_| PageError::Service(ServiceError::NotFound)),
        None => who
            .actor
            .grants()
            .iter()
            .find(|g| who.actor.authorize(edit, Scope::Org(g.org)).is_ok())
            .map(|g| g.org)
            .ok_or(PageError::Service(ServiceError::Denied(
                passage_domain::Denied::Forbidden,
            ))),
    }
}

async fn page(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    target: &Target,
    answers: &Instance,
    errors: &BTreeMap<String, String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    page_with_similar(state, ctx, who, target, answers, errors, status, Vec::new()).await
}

#[allow(clippy::too_many_arguments)] // the page's whole state; one caller besides `page`
async fn page_with_similar(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    target: &Target,
    answers: &Instance,
    errors: &BTreeMap<String, String>,
    status: StatusCode,
    similar: Vec<passage_service::SimilarPerson>,
) -> Result<Response, PageError> {
    let (programme, org, version_id, action, editing, person) = match target {
        Target::New {
            programme,
            org,
            person,
        } => {
            let (version, _) = state.svc.current_form(programme).await?;
            let person = match person {
                Some(id) => {
                    let p = state.svc.person(&who.actor, ctx, *id).await?;
                    Some((id.to_string(), passage_service::display_name(&p.identity)))
                }
                None => None,
            };
            (
                programme.clone(),
                *org,
                version,
                format!("/cases/new?programme={programme}"),
                None,
                person,
            )
        }
        Target::Fix {
            submission,
            programme,
            org,
            form_version,
        } => (
            programme.clone(),
            *org,
            *form_version,
            format!("/collection/submissions/{submission}/fix"),
            None,
            None,
        ),
        Target::Edit { id, revision } => {
            let case = state.svc.case(&who.actor, ctx, *id).await?;
            (
                case.programme,
                case.owner_org,
                case.form_version,
                format!("/cases/{id}/edit"),
                Some((case.number, *revision)),
                None,
            )
        }
    };
    let name = state
        .svc
        .programmes()
        .await?
        .into_iter()
        .find(|p| p.programme.code == programme)
        .map(|p| p.programme.name)
        .ok_or(PageError::Service(ServiceError::NotFound))?;
    let version = state
        .svc
        .form_versions(&programme)
        .await?
        .into_iter()
        .find(|v| v.id == version_id)
        .map(|v| v.version)
        .unwrap_or_default();
    let form = state.svc.form_model(version_id).await?;
    let org_name = state.svc.organisation(&who.actor, org).await?.name.to_string();
    let language = form.default_language.clone().unwrap_or_default();
    let mut widgets = Vec::new();
    draw(
        &form,
        &form.children,
        answers,
        "",
        &language,
        errors,
        &mut widgets,
    );
    let problems = errors
        .iter()
        .filter(|(k, _)| k.is_empty() || !errors_shown(&widgets, k))
        .map(|(k, v)| {
            if k.is_empty() {
                v.clone()
            } else {
                format!("{k}: {v}")
            }
        })
        .collect();
    render_with(
        status,
        &RegisterPage {
            c: Chrome::of(who),
            programme_name: name,
            org: org.to_string(),
            org_name,
            form_version: version,
            action,
            editing,
            person,
            widgets,
            refused: !errors.is_empty(),
            problems,
            similar,
        },
    )
}

fn errors_shown(widgets: &[Widget], name: &str) -> bool {
    widgets
        .iter()
        .any(|w| matches!(w, Widget::Input { name: n, .. } if n == name))
}

fn draw(
    form: &Form,
    nodes: &[Node],
    answers: &Instance,
    prefix: &str,
    language: &str,
    errors: &BTreeMap<String, String>,
    out: &mut Vec<Widget>,
) {
    for node in nodes {
        match node {
            Node::Group(g) if g.repeat => {
                let path = format!("{prefix}{}", g.name);
                let label = g.label.get(language).unwrap_or(&g.name).to_owned();
                let instances = answers.repeats.get(&g.name).map(Vec::as_slice).unwrap_or(&[]);
                let blank = [Instance::default()];
                let shown = if instances.is_empty() {
                    &blank[..]
                } else {
                    instances
                };
                out.push(Widget::GroupStart(label.clone()));
                for (i, instance) in shown.iter().enumerate() {
                    let here = format!("{path}[{}]", i + 1);
                    out.push(Widget::RepeatInstanceStart {
                        label: format!("{label} {}", i + 1),
                        remove: here.clone(),
                    });
                    draw(
                        form,
                        &g.children,
                        instance,
                        &format!("{here}/"),
                        language,
                        errors,
                        out,
                    );
                    out.push(Widget::RepeatInstanceEnd);
                }
                out.push(Widget::Count {
                    path: path.clone(),
                    n: shown.len(),
                });
                out.push(Widget::AddButton { path, label });
                out.push(Widget::GroupEnd);
            }
            Node::Group(g) => {
                out.push(Widget::GroupStart(
                    g.label.get(language).unwrap_or(&g.name).to_owned(),
                ));
                draw(form, &g.children, answers, prefix, language, errors, out);
                out.push(Widget::GroupEnd);
            }
            Node::Field(f) => {
                let label = f.label.get(language).unwrap_or(&f.name).replace("**", "");
                let kind = match &f.kind {
                    FieldKind::Note => {
                        out.push(Widget::Note(label));
                        continue;
                    }
                    FieldKind::Calculate | FieldKind::Metadata(_) => continue,
                    // Files come from ODK clients, or as documents on the case page.
                    FieldKind::Media(_) => {
                        out.push(Widget::Note(format!(
                            "{label}: sent from ODK Collect, or added as a document on the case page."
                        )));
                        continue;
                    }
                    FieldKind::Text | FieldKind::Barcode => "text",
                    FieldKind::Integer => "number",
                    FieldKind::Decimal => "decimal",
                    FieldKind::Date => "date",
                    FieldKind::DateTime => "datetime-local",
                    FieldKind::Time => "time",
                    FieldKind::SelectOne { .. } => "select",
                    FieldKind::SelectMultiple { .. } => "checkboxes",
                    FieldKind::Geopoint => "geopoint",
                    FieldKind::Acknowledge => "acknowledge",
                };
                let name = format!("{prefix}{}", f.name);
                let value = answers.values.get(&f.name).cloned().unwrap_or_default();
                let chosen: Vec<&str> = value.split_whitespace().collect();
                let choices = f
                    .kind
                    .choice_list()
                    .and_then(|l| form.choices.get(l))
                    .map(|list| {
                        list.iter()
                            .map(|c| Option_ {
                                value: c.name.clone(),
                                label: c.label.get(language).unwrap_or(&c.name).to_owned(),
                                chosen: chosen.contains(&c.name.as_str()),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let value = if kind == "datetime-local" {
                    value.trim_end_matches('Z').to_owned()
                } else {
                    value
                };
                out.push(Widget::Input {
                    error: errors.get(&name).cloned(),
                    hint: f.hint.get(language).unwrap_or("").to_owned(),
                    required: f.required.is_some(),
                    name,
                    label,
                    kind,
                    value,
                    choices,
                });
            }
        }
    }
}

async fn new_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let org = organisation(&who, p.org.as_deref(), &p.programme)?;
    let (_, edit) = passage_service::record_permissions(&p.programme);
    who.actor.authorize(edit, Scope::Org(org)).map_err(|d| match d {
        passage_domain::Denied::NotFound => PageError::Service(ServiceError::NotFound),
        other => PageError::Service(ServiceError::Denied(other)),
    })?;
    let person = match p.person.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| PageError::Service(ServiceError::NotFound))?,
        ),
        None => None,
    };
    // A new record starts with the form's defaults (repeat instances start blank, so that an
    // untouched one is still recognised as empty).
    let (_, form) = state.svc.current_form(&p.programme).await?;
    let answers = passage_xlsform::check::defaults(&form.children, state.svc.now().to_datetime());
    let target = Target::New {
        programme: p.programme,
        org,
        person,
    };
    page(
        &state,
        &ctx,
        &who,
        &target,
        &answers,
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

async fn edit_case(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    let case = state.svc.case(&who.actor, &ctx, id).await?;
    // The form is offered only to whom may save it: an editor of the programme, on the case's
    // team where the programme is need-to-know.
    let (_, edit) = passage_service::record_permissions(&case.programme);
    who.actor
        .authorize(edit, passage_domain::Scope::Org(case.owner_org))
        .map_err(ServiceError::Denied)?;
    if case.identity_hidden {
        return Err(ServiceError::Denied(passage_domain::Denied::NeedToKnow).into());
    }
    let target = Target::Edit {
        id,
        revision: case.revision,
    };
    page(
        &state,
        &ctx,
        &who,
        &target,
        &case.answers,
        &BTreeMap::new(),
        StatusCode::OK,
    )
    .await
}

/// Set `value` at an answer path (`a`, `rep[2]/b`), creating repeat instances as needed.
fn put(instance: &mut Instance, path: &str, value: &str) {
    match path.split_once('/') {
        None => {
            let entry = instance.values.entry(path.to_owned()).or_default();
            if !entry.is_empty() {
                entry.push(' ');
            }
            entry.push_str(value);
        }
        Some((head, rest)) => {
            let Some((name, index)) = repeat_segment(head) else {
                return;
            };
            let list = instance.repeats.entry(name.to_owned()).or_default();
            while list.len() < index {
                list.push(Instance::default());
            }
            put(&mut list[index - 1], rest, value);
        }
    }
}

/// `rep[2]` → ("rep", 2).
fn repeat_segment(segment: &str) -> Option<(&str, usize)> {
    let (name, rest) = segment.split_once('[')?;
    let index: usize = rest.strip_suffix(']')?.parse().ok()?;
    (1..=200).contains(&index).then_some((name, index))
}

/// The repeat list at `path` (`rep`, `rep[1]/inner`).
fn repeat_at<'a>(instance: &'a mut Instance, path: &str) -> Option<&'a mut Vec<Instance>> {
    match path.split_once('/') {
        None => Some(instance.repeats.entry(path.to_owned()).or_default()),
        Some((head, rest)) => {
            let (name, index) = repeat_segment(head)?;
            let list = instance.repeats.get_mut(name)?;
            repeat_at(list.get_mut(index - 1)?, rest)
        }
    }
}

/// A posted form: the answers, and the page's own controls.
#[derive(Default)]
struct Posted {
    answers: Instance,
    add: Option<String>,
    remove: Option<String>,
    org: Option<String>,
    person: Option<String>,
    revision: Option<i64>,
    /// The user chose to register a new person despite similar ones.
    new_person: bool,
}

fn parse_posted(body: &[u8]) -> Posted {
    let mut posted = Posted::default();
    let mut counts = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "csrf_token" => {}
            "_add" => posted.add = Some(v.into_owned()),
            "_remove" => posted.remove = Some(v.into_owned()),
            "_org" => posted.org = Some(v.into_owned()),
            "_person" => posted.person = Some(v.into_owned()),
            "_new_person" => posted.new_person = true,
            "_revision" => posted.revision = v.parse().ok(),
            key if key.starts_with("_count.") => {
                counts.push((
                    key["_count.".len()..].to_owned(),
                    v.parse::<usize>().unwrap_or(1).min(200),
                ));
            }
            key if !v.trim().is_empty() => put(&mut posted.answers, key, &v),
            _ => {}
        }
    }
    // Keep the instances the page showed, even blank ones, so paths stay aligned.
    for (path, n) in &counts {
        if let Some(list) = repeat_at(&mut posted.answers, path) {
            while list.len() < *n {
                list.push(Instance::default());
            }
        }
    }
    if let Some(path) = &posted.add
        && let Some(list) = repeat_at(&mut posted.answers, path)
    {
        if list.is_empty() {
            list.push(Instance::default());
        }
        list.push(Instance::default());
    }
    if let Some(path) = &posted.remove
        && let Some((list_path, index)) = path
            .rsplit_once('[')
            .and_then(|(l, i)| Some((l, i.strip_suffix(']')?.parse::<usize>().ok()?)))
        && let Some(list) = repeat_at(&mut posted.answers, list_path)
        && index >= 1
        && index <= list.len()
    {
        list.remove(index - 1);
    }
    // Browsers send `datetime-local` without seconds or zone; Liberia keeps GMT all year.
    normalise_datetimes(&mut posted.answers);
    posted
}

/// Save the posted answers, or show the page again: after adding or removing a repeat
/// instance, or with each problem next to its answer.
async fn save(
    state: &AppState,
    ctx: &passage_service::Ctx,
    who: &Authenticated,
    target: Target,
    posted: Posted,
) -> Result<Response, PageError> {
    if posted.add.is_some() || posted.remove.is_some() {
        return page(
            state,
            ctx,
            who,
            &target,
            &posted.answers,
            &BTreeMap::new(),
            StatusCode::OK,
        )
        .await;
    }
    // Before a new person is registered, show who they may already be.
    if let Target::New {
        org, person: None, ..
    } = &target
        && !posted.new_person
    {
        let similar = state
            .svc
            .similar_persons_for_answers(&who.actor, ctx, *org, &posted.answers)
            .await?;
        if !similar.is_empty() {
            return page_with_similar(
                state,
                ctx,
                who,
                &target,
                &posted.answers,
                &BTreeMap::new(),
                StatusCode::OK,
                similar,
            )
            .await;
        }
    }
    let saved = match &target {
        Target::New {
            programme,
            org,
            person,
        } => {
            let new = passage_service::NewCase {
                answers: posted.answers.clone(),
                person: *person,
            };
            state
                .svc
                .register_cases(&who.actor, ctx, programme, *org, std::slice::from_ref(&new))
                .await
                .map(|mut cases| cases.pop().map(|c| c.id))
        }
        Target::Edit { id, revision } => state
            .svc
            .update_case(&who.actor, ctx, *id, &posted.answers, *revision)
            .await
            .map(|c| Some(c.id)),
        Target::Fix { submission, .. } => state
            .svc
            .fix_submission(&who.actor, ctx, *submission, &posted.answers)
            .await
            .map(Some),
    };
    match saved {
        Ok(Some(id)) => Ok(Redirect::to(&format!("/cases/{id}")).into_response()),
        Ok(None) => Err(PageError::Service(ServiceError::NotFound)),
        Err(ServiceError::InvalidRecord(problems)) => {
            let errors = problems.into_iter().map(|p| (p.path, p.reason)).collect();
            page(
                state,
                ctx,
                who,
                &target,
                &posted.answers,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e @ ServiceError::Stale { .. }) => {
            // Keep what the user typed and say what changed; they save again on top of the
            // newer revision only after reading it.
            let (status, message) = crate::error::correctable(e)?;
            let errors = BTreeMap::from([(String::new(), message)]);
            let target = match target {
                Target::Edit { id, .. } => Target::Edit {
                    id,
                    revision: state.svc.case(&who.actor, ctx, id).await?.revision,
                },
                other => other,
            };
            page(state, ctx, who, &target, &posted.answers, &errors, status).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn submit(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Query(p): Query<Params>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let posted = parse_posted(&body);
    let org = organisation(&who, posted.org.as_deref().or(p.org.as_deref()), &p.programme)?;
    let person = match posted.person.as_deref().filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| PageError::Service(ServiceError::NotFound))?,
        ),
        None => None,
    };
    let target = Target::New {
        programme: p.programme,
        org,
        person,
    };
    save(&state, &ctx, &who, target, posted).await
}

async fn submit_edit(
    State(state): State<AppState>,
    RequestCtx(ctx): RequestCtx,
    WebUser(who): WebUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| PageError::Service(ServiceError::NotFound))?;
    let posted = parse_posted(&body);
    let revision = posted
        .revision
        .ok_or(PageError::Service(ServiceError::NotFound))?;
    save(&state, &ctx, &who, Target::Edit { id, revision }, posted).await
}

fn normalise_datetimes(i: &mut Instance) {
    for v in i.values.values_mut() {
        let b = v.as_bytes();
        if v.len() == 16 && b.get(10) == Some(&b'T') && b.get(13) == Some(&b':') {
            v.push_str(":00Z");
        }
    }
    for list in i.repeats.values_mut() {
        list.iter_mut().for_each(normalise_datetimes);
    }
}
