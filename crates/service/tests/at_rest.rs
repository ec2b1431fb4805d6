//! Personal data at rest: after the demo's generated records (with a document) are stored, the
//! raw database — the SQLite file with its write-ahead log and document files, or a `pg_dump`
//! of PostgreSQL — holds none of their names, document numbers, phone numbers, narratives or the document's
//! text. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::Actor;
use passage_service::Ctx;
use passage_store::DbTarget;
use passage_xlsform::{FieldKind, Sensitivity};
use support::World;

/// Every byte the database holds, as an operator with file access would see it.
fn raw_database(target: &DbTarget) -> Vec<u8> {
    match target {
        DbTarget::SqliteFile(path) => {
            let mut bytes = std::fs::read(path).unwrap();
            let wal = format!("{}-wal", path.display());
            if let Ok(more) = std::fs::read(wal) {
                bytes.extend(more);
            }
            let packs = passage_store::DocumentFiles::beside(path).packs().unwrap();
            assert!(
                !packs.is_empty(),
                "SQLite keeps document bodies in packs beside it"
            );
            for (_, pack) in packs {
                bytes.extend(std::fs::read(pack).unwrap());
            }
            bytes
        }
        DbTarget::Postgres(url) => {
            let out = std::process::Command::new("pg_dump")
                .arg("--dbname")
                .arg(url)
                .output()
                .expect("pg_dump runs (PostgreSQL client tools are installed with the server)");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

#[tokio::test]
async fn no_identifying_or_sensitive_value_is_stored_in_plain_text() {
    let w = World::shipped().await;
    w.svc.seed_demo_cases(15).await.unwrap();
    let ids: Vec<(uuid::Uuid,)> = {
        let mut pooled = w.t.db.acquire().await.unwrap();
        match pooled.conn() {
            passage_store::Conn::Sqlite(c) => sqlx::query_as("select id from cases")
                .fetch_all(&mut *c)
                .await
                .unwrap(),
            passage_store::Conn::Postgres(c) => sqlx::query_as("select id from cases")
                .fetch_all(&mut *c)
                .await
                .unwrap(),
        }
    };
    assert!(ids.len() >= 60, "{}", ids.len());
    let document = "Fictional statement by Demo Witness Sumo-4471";
    w.svc
        .add_document(
            &Actor::Operator,
            &Ctx::cli(),
            ids[0].0,
            "statement.txt",
            document.as_bytes(),
        )
        .await
        .unwrap();

    // What must not be readable: free-text answers of identifying and sensitive fields, the
    // persons' names and the document. (Choices are codes the form itself lists.)
    let mut secrets = vec![document.to_owned()];
    // Generated text that is also the answer of a reporting field somewhere is plain there.
    let mut reported = std::collections::BTreeSet::new();
    let mut numbers = Vec::new();
    for (id,) in &ids {
        let case = w.svc.case(&Actor::Operator, &Ctx::cli(), *id).await.unwrap();
        numbers.push(case.number.clone());
        secrets.extend(case.person_name.clone());
        let form = w.svc.form_model(case.form_version).await.unwrap();
        let mut instances = vec![&case.answers];
        while let Some(i) = instances.pop() {
            instances.extend(i.repeats.values().flatten());
            for (name, value) in &i.values {
                let Some(field) = form.field(name) else { continue };
                let protected = matches!(
                    field.sensitivity,
                    Some(Sensitivity::Identifying | Sensitivity::Sensitive)
                );
                if !protected {
                    reported.insert(value.clone());
                } else if matches!(field.kind, FieldKind::Text | FieldKind::Barcode) && value.len() >= 6 {
                    secrets.push(value.clone());
                }
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    secrets.retain(|s| !reported.contains(s));
    assert!(
        secrets.len() > 100,
        "the demo's records give many values to look for: {}",
        secrets.len()
    );

    let raw = raw_database(&w.t.target);
    // The search works: case numbers are stored plainly and are found.
    assert!(numbers.iter().all(|n| contains(&raw, n)));
    let exposed: Vec<&String> = secrets.iter().filter(|s| contains(&raw, s)).collect();
    assert!(
        exposed.is_empty(),
        "{} values stored in plain text",
        exposed.len()
    );
}

#[tokio::test]
async fn pack_space_no_record_names_is_given_back_and_what_records_name_stays() {
    let w = World::shipped().await;
    w.svc.seed_demo_cases(1).await.unwrap();
    let DbTarget::SqliteFile(path) = &w.t.target else {
        // PostgreSQL keeps bodies in its rows: there is nothing beside it to sweep.
        assert_eq!(w.svc.sweep_document_files().await.unwrap(), 0);
        return;
    };
    let case: (uuid::Uuid,) = {
        let mut pooled = w.t.db.acquire().await.unwrap();
        let passage_store::Conn::Sqlite(c) = pooled.conn() else {
            unreachable!("a SQLite target")
        };
        sqlx::query_as("select id from cases limit 1")
            .fetch_one(&mut *c)
            .await
            .unwrap()
    };
    let named = w
        .svc
        .add_document(
            &Actor::Operator,
            &Ctx::cli(),
            case.0,
            "scan.txt",
            b"Fictional scan",
        )
        .await
        .unwrap();
    // Another process appended a body and stopped before its row committed.
    let orphan = {
        let other = passage_store::DocumentFiles::beside(path);
        other.append(b"sealed, never committed").unwrap()
    };
    assert_eq!(w.svc.sweep_document_files().await.unwrap(), orphan.len as u64);
    let other = passage_store::DocumentFiles::beside(path);
    assert_eq!(other.read(orphan).unwrap(), vec![0; orphan.len as usize]);
    let (_, body) = w
        .svc
        .document(&Actor::Operator, &Ctx::cli(), case.0, named)
        .await
        .unwrap();
    assert_eq!(body, b"Fictional scan");
}
