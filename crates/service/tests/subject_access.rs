//! Subject access: the focal point gets everything held about one person — identity, consent,
//! every answer, notes, documents, referrals — and who accessed it; both are audited and
//! nobody else may ask. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_service::ServiceError;
use support::{World, answers, web};

#[tokio::test]
async fn the_focal_point_exports_everything_about_a_person_and_who_saw_it() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    w.svc
        .add_note(
            &caseworker.actor,
            &web(),
            case.id,
            "Fictional note about the first interview",
        )
        .await
        .unwrap();
    w.svc
        .add_document(
            &caseworker.actor,
            &web(),
            case.id,
            "statement.txt",
            b"Fictional statement",
        )
        .await
        .unwrap();
    let manager = w.sign_in("manager").await;
    w.svc.case(&manager.actor, &web(), case.id).await.unwrap();
    let person = w
        .svc
        .person_of_case_number(&case.number.to_lowercase())
        .await
        .unwrap();
    assert_eq!(Some(person), case.person_id);

    // Only the focal point (or the operator) may ask.
    assert!(matches!(
        w.svc
            .subject_access_export(&caseworker.actor, &web(), person)
            .await,
        Err(ServiceError::Denied(_))
    ));
    let dpo = w.sign_in("dpo").await;
    let report = w
        .svc
        .person_access_report(&dpo.actor, &web(), person)
        .await
        .unwrap();
    assert!(
        report
            .iter()
            .any(|e| e.action == "case.view" && e.actor == Some(manager.user.id)),
        "the manager's read is in the report"
    );
    assert!(report.iter().any(|e| e.action == "case.register"));

    let export = w
        .svc
        .subject_access_export(&dpo.actor, &web(), person)
        .await
        .unwrap();
    assert_eq!(export["person"]["identity"]["given_name"], "Musu");
    let held = &export["cases"][0];
    assert_eq!(held["number"], case.number.as_str());
    assert_eq!(
        held["answers"]["story"],
        "Recruited at Ganta market with a false job offer"
    );
    assert_eq!(
        held["notes"][0]["text"],
        "Fictional note about the first interview"
    );
    assert_eq!(held["documents"][0]["name"], "statement.txt");
    assert_eq!(
        held["documents"][0]["content_base64"],
        data_encoding::BASE64.encode(b"Fictional statement")
    );
    assert!(
        export["access"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "case.view")
    );

    // The same content as a report, for its PDF.
    let report = passage_service::subject_access_report(&export);
    let parts: Vec<&str> = report.headings(1).collect();
    assert_eq!(
        parts,
        [
            "Identity",
            "Consents",
            "Cases",
            "Who accessed this person's records"
        ]
    );
    assert_eq!(
        report.headings(2).next(),
        Some(format!("{} (ct)", case.number).as_str())
    );
    let markup = passage_service::report::typst(&report);
    for held in [
        "Musu",
        "Fictional note about the first interview",
        "statement.txt",
        "case.view",
    ] {
        assert!(markup.contains(held), "{held} is in the PDF's text");
    }

    // Both are in the audit trail.
    let auditor = w.sign_in("auditor").await;
    let events = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &passage_service::AuditQuery {
                limit: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    for action in ["person.access_report", "person.subject_access"] {
        assert!(events.iter().any(|e| e.action == action), "{action}");
    }
}
