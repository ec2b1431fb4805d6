//! Retention: a counter-trafficking case closed longer ago than its programme's schedule is
//! crypto-shredded — identity, narrative, documents, history and notes gone, its person too
//! when no case of theirs is left — while its reporting answers still count. Runs on
//! PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::{Actor, Clock, SystemClock, Timestamp};
use passage_service::{AuditQuery, Ctx, MasterKey, Passage, ServiceError, Settings};
use std::sync::Arc;
use support::{World, answers, web};

/// The clock `years` years from now.
#[derive(Debug)]
struct Later(i64);

impl Clock for Later {
    fn now(&self) -> Timestamp {
        SystemClock.now().plus_seconds(self.0 * 366 * 24 * 3600)
    }
}

#[tokio::test]
async fn closed_cases_past_their_schedule_lose_their_identity_but_keep_their_figures() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    MasterKey::generate().unwrap().write_new(&key).unwrap();
    let w = World::with_key(MasterKey::read(&key).unwrap()).await;
    let caseworker = w.sign_in("caseworker").await;
    let closed = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let document = w
        .svc
        .add_document(
            &caseworker.actor,
            &web(),
            closed.id,
            "statement.txt",
            b"Fictional statement",
        )
        .await
        .unwrap();
    // SQLite keeps document bodies in packs beside the database; PostgreSQL in its rows.
    let packed = || async {
        let mut pooled = w.t.db.acquire().await.unwrap();
        let (_, body) = passage_store::activity::document_body(&mut pooled.conn(), document)
            .await
            .unwrap()
            .unwrap();
        match body {
            passage_store::activity::DocumentBody::Packed(at) => Some(at),
            passage_store::activity::DocumentBody::Inline(_) => None,
        }
    };
    let at = packed().await;
    assert_eq!(at.is_some(), w.t.db.document_files().is_some());
    w.svc
        .add_note(&caseworker.actor, &web(), closed.id, "Fictional note")
        .await
        .unwrap();
    w.svc
        .move_case(
            &caseworker.actor,
            &web(),
            closed.id,
            "closed",
            Some("completed"),
            None,
        )
        .await
        .unwrap();
    let open = w
        .svc
        .register_case(
            &caseworker.actor,
            &web(),
            "ct",
            w.iom,
            &answers().with("given_name", "Kebeh"),
        )
        .await
        .unwrap();

    // The schedule is the focal point's to set.
    assert!(matches!(
        w.svc
            .set_retention(&caseworker.actor, &web(), "ct", Some(3))
            .await,
        Err(ServiceError::Denied(_))
    ));
    assert!(matches!(
        w.svc.set_retention(&Actor::Operator, &web(), "ct", Some(0)).await,
        Err(ServiceError::Invalid(_))
    ));
    w.svc
        .set_retention(&Actor::Operator, &web(), "ct", Some(5))
        .await
        .unwrap();
    // Today nothing is due.
    assert!(
        w.svc
            .run_retention(&Ctx::cli(), false)
            .await
            .unwrap()
            .cases
            .is_empty()
    );

    let later = |years| {
        let db = w.t.db.clone();
        let key = key.clone();
        async move {
            Passage::new(
                db,
                Arc::new(Later(years)),
                passage_crypto::PasswordHasher::fast_for_tests().unwrap(),
                Settings::default(),
                MasterKey::read(&key).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let four = later(4).await;
    assert!(
        four.run_retention(&Ctx::cli(), true)
            .await
            .unwrap()
            .cases
            .is_empty()
    );
    let six = later(6).await;
    let dry = six.run_retention(&Ctx::cli(), true).await.unwrap();
    assert_eq!(dry.cases, [("ct".to_owned(), 1)]);
    let done = six.run_retention(&Ctx::cli(), false).await.unwrap();
    assert_eq!((done.cases, done.persons), (vec![("ct".to_owned(), 1)], 1));
    assert!(
        six.run_retention(&Ctx::cli(), false)
            .await
            .unwrap()
            .cases
            .is_empty(),
        "done once"
    );

    // What is left of the closed case: its reporting answers, nothing else.
    let read = w.svc.case(&caseworker.actor, &web(), closed.id).await.unwrap();
    assert!(read.shredded && read.person_name.is_none());
    assert_eq!(read.answers.values.get("sex").map(String::as_str), Some("female"));
    for gone in ["given_name", "family_name", "story"] {
        assert!(!read.answers.values.contains_key(gone), "{gone}");
    }
    assert!(
        w.svc
            .documents(&caseworker.actor, closed.id)
            .await
            .unwrap()
            .is_empty()
    );
    if let (Some(files), Some(at)) = (w.t.db.document_files(), at) {
        assert_eq!(
            files.read(at).unwrap(),
            vec![0; at.len as usize],
            "its pack space is given back"
        );
    }
    assert!(
        w.svc
            .notes(&caseworker.actor, closed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.svc
            .case_versions(&caseworker.actor, closed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.svc
            .find_cases(&caseworker.actor, &web(), w.iom, "family_name", "kollie-example")
            .await
            .unwrap()
            .iter()
            .all(|c| *c != closed.id),
        "its blind index is gone"
    );
    assert!(matches!(
        w.svc
            .update_case(&caseworker.actor, &web(), closed.id, &answers(), read.revision)
            .await,
        Err(ServiceError::Invalid(_))
    ));
    // The open case (another person) is untouched.
    let still = w.svc.case(&caseworker.actor, &web(), open.id).await.unwrap();
    assert!(!still.shredded && still.answers.values["given_name"] == "Kebeh");

    // The audit trail keeps the fact, not the content; the chain holds.
    let auditor = w.sign_in("auditor").await;
    let events = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &AuditQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    let shred = events.iter().find(|e| e.action == "retention.shred").unwrap();
    assert_eq!(shred.target_id.as_deref(), Some(closed.id.to_string().as_str()));
    assert!(events.iter().any(|e| e.action == "retention.schedule"));
    assert!(
        w.svc
            .verify_audit_chain(&Actor::Operator)
            .await
            .unwrap()
            .first_break
            .is_none()
    );
}
