//! Subject access: everything Passage holds about one person, and who looked at it — for the
//! data protection focal point answering the person's request. Both are audited.

use crate::{Ctx, Passage, ServiceError, authorize};
use passage_domain::{Actor, AuditAction, ChainedEvent, Permission, Scope};
use passage_store::{activity, audit, cases, persons};
use serde_json::{Value, json};

/// Events per target read for an access report.
const REPORT_EVENTS: i64 = 1000;

impl Passage {
    /// The person a case is about, by the case's number (how a request usually arrives).
    pub async fn person_of_case_number(&self, number: &str) -> Result<uuid::Uuid, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        cases::by_number(&mut pooled.conn(), &number.trim().to_uppercase())
            .await?
            .and_then(|c| c.person_id)
            .ok_or(ServiceError::NotFound)
    }

    async fn overseen_person(
        &self,
        actor: &Actor,
        person: uuid::Uuid,
    ) -> Result<(persons::StoredPerson, Vec<cases::StoredCase>), ServiceError> {
        let mut pooled = self.db.acquire().await?;
        let p = persons::get(&mut pooled.conn(), person)
            .await?
            .ok_or(ServiceError::NotFound)?;
        authorize(actor, Permission::DataProtectionOversee, Scope::Org(p.owner_org))?;
        let their = cases::of_person(&mut pooled.conn(), person).await?;
        Ok((p, their))
    }

    /// Who read or changed the person and their cases, newest first (audited).
    pub async fn person_access_report(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        person: uuid::Uuid,
    ) -> Result<Vec<ChainedEvent>, ServiceError> {
        let (p, their) = self.overseen_person(actor, person).await?;
        let mut events = Vec::new();
        {
            let mut pooled = self.db.acquire().await?;
            events.extend(
                audit::for_target(&mut pooled.conn(), "person", &person.to_string(), REPORT_EVENTS).await?,
            );
            for c in &their {
                events.extend(
                    audit::for_target(&mut pooled.conn(), "case", &c.id.to_string(), REPORT_EVENTS).await?,
                );
            }
        }
        events.sort_by_key(|e| std::cmp::Reverse(e.seq));
        let event = self
            .event(ctx, AuditAction::PersonAccessReport, actor.user_id())
            .org(Some(p.owner_org))
            .target("person", person)
            .detail("events", events.len());
        self.audit_read(&event).await?;
        Ok(events)
    }

    /// Everything held about the person, decrypted, as one JSON document (audited): identity,
    /// consents, every case with its answers, services, notes, documents (base64), referrals,
    /// and the access report.
    pub async fn subject_access_export(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        person: uuid::Uuid,
    ) -> Result<Value, ServiceError> {
        let (p, their) = self.overseen_person(actor, person).await?;
        let identity = self.open_identity(&p)?;
        let consents: Vec<Value> = {
            let stored = {
                let mut pooled = self.db.acquire().await?;
                passage_store::consent::of_person(&mut pooled.conn(), person).await?
            };
            let key =
                passage_crypto::envelope::DataKey::unwrap(&p.wrapped_key, &self.master, person.as_bytes())?;
            let mut out = Vec::new();
            for c in stored {
                let evidence = match &c.evidence {
                    Some(sealed) => Some(
                        String::from_utf8_lossy(&key.open(
                            person.as_bytes(),
                            &format!("consent-evidence:{}", c.id),
                            sealed,
                        )?)
                        .into_owned(),
                    ),
                    None => None,
                };
                out.push(json!({
                    "scope": c.scope, "purpose": c.purpose, "given_on": c.given_on, "withdrawn_on": c.withdrawn_on,
                    "recipients": c.recipients.iter().map(ToString::to_string).collect::<Vec<_>>(), "evidence": evidence,
                }));
            }
            out
        };
        let mut case_docs = Vec::new();
        for c in &their {
            let answers = self.open_answers(c)?;
            let mut pooled = self.db.acquire().await?;
            let services = activity::services(&mut pooled.conn(), c.id).await?;
            let notes = activity::notes(&mut pooled.conn(), c.id).await?;
            let documents = activity::documents(&mut pooled.conn(), c.id).await?;
            let referrals = activity::referrals(&mut pooled.conn(), None, Some(c.id)).await?;
            let mut opened_notes = Vec::new();
            let mut opened_docs = Vec::new();
            if !notes.is_empty() || !documents.is_empty() {
                let key = self.case_key(c)?;
                for n in notes {
                    let body = key.open(c.id.as_bytes(), &format!("note:{}", n.id), &n.body)?;
                    opened_notes
                        .push(json!({ "at": n.at.to_string(), "text": String::from_utf8_lossy(&body) }));
                }
                for d in documents {
                    let name = key.open(c.id.as_bytes(), &format!("document-name:{}", d.id), &d.name)?;
                    let body = match activity::document_body(&mut pooled.conn(), d.id).await? {
                        Some((_, sealed)) => {
                            let sealed = self.sealed_body(sealed).await?;
                            key.open(c.id.as_bytes(), &format!("document:{}", d.id), &sealed)?
                        }
                        None => Vec::new(),
                    };
                    opened_docs.push(json!({
                        "name": String::from_utf8_lossy(&name), "content_type": d.content_type, "size": d.size,
                        "at": d.at.to_string(), "content_base64": data_encoding::BASE64.encode(&body),
                    }));
                }
            }
            case_docs.push(json!({
                "number": c.number, "programme": c.programme, "stage": c.stage, "closed": c.closed,
                "registered_at": c.created_at.to_string(), "shredded": c.wrapped_key.is_none(),
                "answers": crate::instance_to_json(&answers),
                "services": services.iter().map(|s| json!({
                    "type": s.service_type, "delivered_on": s.delivered_on, "value": s.value, "currency": s.currency,
                })).collect::<Vec<_>>(),
                "notes": opened_notes,
                "documents": opened_docs,
                "referrals": referrals.iter().map(|r| json!({
                    "to_organisation": r.to_org.to_string(), "service_type": r.service_type, "status": r.status,
                    "shared_fields": serde_json::from_str::<Value>(&r.shared_fields).unwrap_or(Value::Null),
                    "requested_at": r.requested_at.to_string(),
                })).collect::<Vec<_>>(),
            }));
        }
        let access: Vec<Value> = self
            .person_access_report(actor, ctx, person)
            .await?
            .into_iter()
            .map(|e| json!({
                "at": e.at.to_string(), "action": e.action, "by": e.actor.map(|u| u.to_string()),
                "target": e.target_type.zip(e.target_id).map(|(t, i)| format!("{t} {i}")), "via": e.channel,
            }))
            .collect();
        let event = self
            .event(ctx, AuditAction::SubjectAccessExported, actor.user_id())
            .org(Some(p.owner_org))
            .target("person", person)
            .detail("cases", their.len());
        self.audit_read(&event).await?;
        Ok(json!({
            "about": "Everything Passage holds about one person, for their subject access request.",
            "exported_at": self.now().to_string(),
            "person": { "id": person.to_string(), "registered_at": p.created_at.to_string(), "identity": identity },
            "consents": consents,
            "cases": case_docs,
            "access": access,
        }))
    }
}

/// The subject access export as a report (for its PDF): the same content, in reading order.
/// Documents are listed by name, type and size; their contents travel in the JSON export.
pub fn subject_access_report(export: &Value) -> passage_reports::Report {
    use passage_reports::{Block, Report, Table};
    fn text(v: &Value) -> String {
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        }
    }
    fn pairs(v: &Value) -> Table {
        Table {
            header: vec!["Field".into(), "Value".into()],
            rows: v
                .as_object()
                .map(|o| o.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect())
                .unwrap_or_default(),
        }
    }
    fn rows(items: &Value, columns: &[(&str, &str)]) -> Table {
        Table {
            header: columns.iter().map(|(_, h)| (*h).to_owned()).collect(),
            rows: items
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|item| columns.iter().map(|(k, _)| text(&item[*k])).collect())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
    fn table_or_none(t: Table) -> Block {
        if t.rows.is_empty() {
            Block::Note("None recorded.".to_owned())
        } else {
            Block::Table(t)
        }
    }
    let heading = |level: u8, text: &str, anchor: &str| Block::Heading {
        level,
        text: text.to_owned(),
        anchor: anchor.to_owned(),
    };
    let mut blocks = vec![
        Block::Paragraph(text(&export["about"])),
        Block::Note(format!(
            "Exported {}. Person {} registered {}.",
            text(&export["exported_at"]),
            text(&export["person"]["id"]),
            text(&export["person"]["registered_at"])
        )),
        heading(1, "Identity", "identity"),
        Block::Table(pairs(&export["person"]["identity"])),
        heading(1, "Consents", "consents"),
        table_or_none(rows(
            &export["consents"],
            &[
                ("scope", "Scope"),
                ("purpose", "Purpose"),
                ("recipients", "Recipients"),
                ("given_on", "Given"),
                ("withdrawn_on", "Withdrawn"),
                ("evidence", "Evidence"),
            ],
        )),
        heading(1, "Cases", "cases"),
    ];
    for (i, case) in export["cases"].as_array().into_iter().flatten().enumerate() {
        blocks.push(heading(
            2,
            &format!("{} ({})", text(&case["number"]), text(&case["programme"])),
            &format!("case-{i}"),
        ));
        blocks.push(Block::Note(format!(
            "Stage {}; registered {}{}{}",
            text(&case["stage"]),
            text(&case["registered_at"]),
            if case["closed"].as_bool() == Some(true) {
                "; closed"
            } else {
                ""
            },
            if case["shredded"].as_bool() == Some(true) {
                "; past its retention period: its identifying answers were destroyed"
            } else {
                ""
            },
        )));
        blocks.push(Block::Table(pairs(&case["answers"])));
        for (key, title, columns) in [
            (
                "services",
                "Services",
                &[
                    ("type", "Service"),
                    ("delivered_on", "Delivered"),
                    ("value", "Value"),
                    ("currency", "Currency"),
                ][..],
            ),
            ("notes", "Notes", &[("at", "At"), ("text", "Note")][..]),
            (
                "documents",
                "Documents",
                &[
                    ("name", "Name"),
                    ("content_type", "Type"),
                    ("size", "Bytes"),
                    ("at", "Added"),
                ][..],
            ),
            (
                "referrals",
                "Referrals",
                &[
                    ("to_organisation", "To organisation"),
                    ("service_type", "Service"),
                    ("status", "Status"),
                    ("shared_fields", "Answers shared"),
                    ("requested_at", "Requested"),
                ][..],
            ),
        ] {
            if case[key].as_array().is_some_and(|a| !a.is_empty()) {
                blocks.push(Block::Paragraph(title.to_owned()));
                blocks.push(Block::Table(rows(&case[key], columns)));
            }
        }
    }
    blocks.push(heading(1, "Who accessed this person's records", "access"));
    blocks.push(table_or_none(rows(
        &export["access"],
        &[
            ("at", "At"),
            ("action", "Action"),
            ("by", "By (user id)"),
            ("target", "Record"),
            ("via", "Via"),
        ],
    )));
    Report {
        title: "Subject access: everything held about one person".to_owned(),
        subtitle: "Confidential: for the person and the data protection focal point only".to_owned(),
        file_stem: format!("subject-access-{}", text(&export["person"]["id"])),
        blocks,
    }
}
