//! Case work: persons shared across programmes, versioned edits with conflict detection,
//! assignment and overdue lists, search, services, notes, documents and referrals. Runs on
//! PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::Actor;
use passage_service::{CaseQuery, CaseSort, Ctx, NewCase, NewService, ServiceError};
use support::{World, answers, web};

fn query(w: &World) -> CaseQuery {
    CaseQuery {
        org: Some(w.iom),
        page_size: 50,
        ..CaseQuery::default()
    }
}

async fn audit_actions(w: &World) -> Vec<String> {
    let page = w
        .svc
        .audit_events(
            &Actor::Operator,
            &Ctx::cli(),
            &passage_service::AuditQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    page.events.iter().map(|e| e.action.clone()).collect()
}

#[tokio::test]
async fn one_person_has_cases_in_several_programmes_and_is_found_by_name_without_accents() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let ct = w
        .svc
        .register_case(
            &cw.actor,
            &web(),
            "ct",
            w.iom,
            &answers().with("given_name", "Mùsú"),
        )
        .await
        .unwrap();
    let person = ct.person_id.expect("a named case has a person");
    // A second case in another programme for the same person shares the identity.
    let (_, avrr_form) = w.svc.current_form("avrr").await.unwrap();
    let mut seed = passage_xlsform::fill::Seed::new(7);
    let avrr_answers = passage_xlsform::fill::fill(&avrr_form, &mut seed, w.svc.today()).unwrap();
    let new = NewCase {
        answers: avrr_answers,
        person: Some(person),
    };
    let avrr = w
        .svc
        .register_cases(&cw.actor, &web(), "avrr", w.iom, &[new])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(avrr.person_id, Some(person));
    assert!(avrr.number.starts_with("AVRR-"));

    let p = w.svc.person(&cw.actor, &web(), person).await.unwrap();
    assert_eq!(passage_service::display_name(&p.identity), "Mùsú Kollie-Example");
    let mut numbers: Vec<_> = p.cases.iter().map(|c| c.number.clone()).collect();
    numbers.sort();
    assert_eq!(numbers, [avrr.number.clone(), ct.number.clone()]);

    // Name search ignores case, accents and word order, and needs every word.
    for (name, expected) in [
        ("musu", 2),
        ("KOLLIE example musu", 2),
        ("Musu Doe", 0),
        ("kollie", 2),
    ] {
        let page = w
            .svc
            .search_cases(
                &cw.actor,
                &web(),
                &CaseQuery {
                    name: Some(name.into()),
                    ..query(&w)
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, expected, "{name}");
    }
    let page = w
        .svc
        .search_cases(
            &cw.actor,
            &web(),
            &CaseQuery {
                number: Some(ct.number.to_lowercase()),
                ..query(&w)
            },
        )
        .await
        .unwrap();
    assert_eq!(page.cases.len(), 1);
    assert_eq!(page.cases[0].person_name.as_deref(), Some("Mùsú Kollie-Example"));

    // Another organisation cannot read the person, nor link a case to them.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc.person(&shelter.actor, &web(), person).await,
        Err(ServiceError::NotFound)
    ));
    let shelter_org = shelter.actor.grants()[0].org;
    let linked = NewCase {
        answers: answers(),
        person: Some(person),
    };
    assert!(matches!(
        w.svc
            .register_cases(&shelter.actor, &web(), "ct", shelter_org, &[linked])
            .await,
        Err(ServiceError::NotFound)
    ));
    // The searched name is never written to the audit trail.
    let page = w
        .svc
        .audit_events(
            &Actor::Operator,
            &Ctx::cli(),
            &passage_service::AuditQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let all = format!("{:?}", page.events);
    assert!(!all.contains("Musu") && !all.contains("musu") && !all.contains("Kollie"));
}

#[tokio::test]
async fn edits_are_versioned_and_a_stale_edit_is_refused_with_what_changed() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&cw.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let first = answers().with("age", "18").with("story", "Recruited in Ganta");
    let edited = w
        .svc
        .update_case(&cw.actor, &web(), case.id, &first, case.revision)
        .await
        .unwrap();
    assert_eq!(edited.revision, case.revision + 1);

    // A second user still holding the first revision is refused and told what changed.
    let second = answers().with("family_name", "Other");
    match w
        .svc
        .update_case(&cw.actor, &web(), case.id, &second, case.revision)
        .await
    {
        Err(ServiceError::Stale { fields }) => assert_eq!(fields, ["age", "story"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let now = w.svc.case(&cw.actor, &web(), case.id).await.unwrap();
    assert_eq!(
        now.answers.values["story"], "Recruited in Ganta",
        "nothing overwritten"
    );
    assert_eq!(now.answers.values["family_name"], "Kollie-Example");

    // Bad answers are refused whole.
    let bad = answers().with("sex", "unknown");
    assert!(matches!(
        w.svc.update_case(&cw.actor, &web(), case.id, &bad, now.revision).await,
        Err(ServiceError::InvalidRecord(p)) if p[0].path == "sex"
    ));

    // The history names the changed fields, who changed them and the values before.
    let versions = w.svc.case_versions(&cw.actor, case.id).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].actor, Some(cw.user.id));
    assert_eq!(
        versions[0].changes,
        [
            ("age".to_owned(), Some("17".to_owned())),
            (
                "story".to_owned(),
                Some("Recruited at Ganta market with a false job offer".to_owned())
            )
        ]
    );
    assert!(audit_actions(&w).await.contains(&"case.update".to_owned()));
    // The person follows the case's identity.
    let renamed = answers()
        .with("age", "18")
        .with("story", "Recruited in Ganta")
        .with("given_name", "Miatta");
    w.svc
        .update_case(&cw.actor, &web(), case.id, &renamed, now.revision)
        .await
        .unwrap();
    let p = w
        .svc
        .person(&cw.actor, &web(), case.person_id.unwrap())
        .await
        .unwrap();
    assert_eq!(p.identity["given_name"], "Miatta");
    let found = w
        .svc
        .search_cases(
            &cw.actor,
            &web(),
            &CaseQuery {
                name: Some("miatta".into()),
                ..query(&w)
            },
        )
        .await
        .unwrap();
    assert_eq!(found.total, 1);
}

#[tokio::test]
async fn cases_are_assigned_with_due_dates_and_overdue_ones_are_listed() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let a = w
        .svc
        .register_case(&cw.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let b = w
        .svc
        .register_case(&cw.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let yesterday = w.svc.today().previous_day().unwrap();
    let next_week = w.svc.today() + time::Duration::days(7);
    w.svc
        .assign_case(
            &cw.actor,
            &web(),
            a.id,
            Some(cw.user.id),
            Some(yesterday),
            Some(a.revision),
        )
        .await
        .unwrap();
    w.svc
        .assign_case(&cw.actor, &web(), b.id, Some(cw.user.id), Some(next_week), None)
        .await
        .unwrap();
    let overdue = w
        .svc
        .search_cases(
            &cw.actor,
            &web(),
            &CaseQuery {
                overdue: true,
                ..query(&w)
            },
        )
        .await
        .unwrap();
    assert_eq!(overdue.cases.iter().map(|c| c.id).collect::<Vec<_>>(), [a.id]);
    let mine = w
        .svc
        .search_cases(
            &cw.actor,
            &web(),
            &CaseQuery {
                assigned_to: Some(cw.user.id),
                sort: CaseSort::Due,
                ..query(&w)
            },
        )
        .await
        .unwrap();
    assert_eq!(mine.cases.iter().map(|c| c.id).collect::<Vec<_>>(), [a.id, b.id]);

    // A stale revision, or someone outside the organisation, is refused.
    match w
        .svc
        .assign_case(&cw.actor, &web(), a.id, None, None, Some(a.revision))
        .await
    {
        Err(ServiceError::Stale { fields }) => assert_eq!(fields, ["assigned_to", "due_on"]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let history = w.svc.case_versions(&cw.actor, a.id).await.unwrap();
    assert_eq!(
        history[0].changes,
        [("assigned_to".to_owned(), None), ("due_on".to_owned(), None)]
    );
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc
            .assign_case(&cw.actor, &web(), a.id, Some(shelter.user.id), None, None)
            .await,
        Err(ServiceError::Invalid(_))
    ));
    // A closed case is no longer overdue.
    let a_now = w.svc.case(&cw.actor, &web(), a.id).await.unwrap();
    w.svc
        .move_case(
            &cw.actor,
            &web(),
            a.id,
            "closed",
            Some("completed"),
            Some(a_now.revision),
        )
        .await
        .unwrap();
    let overdue = w
        .svc
        .search_cases(
            &cw.actor,
            &web(),
            &CaseQuery {
                overdue: true,
                ..query(&w)
            },
        )
        .await
        .unwrap();
    assert_eq!(overdue.total, 0);
}

#[tokio::test]
async fn services_notes_and_documents_are_checked_and_sealed() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&cw.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let service = NewService {
        service_type: "cash".into(),
        delivered_on: w.svc.today(),
        provider_org: None,
        value: Some("150.50".into()),
        currency: Some("usd".into()),
    };
    w.svc
        .record_service(&cw.actor, &web(), case.id, &service)
        .await
        .unwrap();
    let services = w.svc.services(&cw.actor, case.id).await.unwrap();
    assert_eq!(
        (services[0].value.as_deref(), services[0].currency.as_deref()),
        (Some("150.50"), Some("USD"))
    );
    for (bad, field) in [
        (
            NewService {
                service_type: "bribe".into(),
                ..service.clone()
            },
            "service_type",
        ),
        (
            NewService {
                value: Some("-3".into()),
                ..service.clone()
            },
            "value",
        ),
        (
            NewService {
                currency: None,
                ..service.clone()
            },
            "currency",
        ),
        (
            NewService {
                delivered_on: w.svc.today() + time::Duration::days(2),
                ..service.clone()
            },
            "delivered_on",
        ),
    ] {
        match w.svc.record_service(&cw.actor, &web(), case.id, &bad).await {
            Err(ServiceError::Invalid(v)) => assert_eq!(v.field, field),
            other => panic!("{field}: {other:?}"),
        }
    }

    w.svc
        .add_note(&cw.actor, &web(), case.id, "Called the family in Ganta")
        .await
        .unwrap();
    assert_eq!(
        w.svc.notes(&cw.actor, case.id).await.unwrap()[0].body,
        "Called the family in Ganta"
    );

    let pdf = b"%PDF-1.4 fictional test document".to_vec();
    let doc = w
        .svc
        .add_document(&cw.actor, &web(), case.id, "C:\\scans\\travel-letter.pdf", &pdf)
        .await
        .unwrap();
    let (info, bytes) = w.svc.document(&cw.actor, &web(), case.id, doc).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.content_type.as_str(), bytes),
        ("travel-letter.pdf", "application/pdf", pdf)
    );
    // Disguised, unsupported, empty and oversized files are refused.
    for (name, content) in [
        ("photo.png", b"%PDF-1.4".to_vec()),
        ("script.exe", b"MZ".to_vec()),
        ("empty.pdf", Vec::new()),
        ("notes.txt", vec![0u8, 1, 2]),
        (
            "huge.pdf",
            [
                b"%PDF-".as_slice(),
                &vec![b'x'; passage_service::MAX_DOCUMENT_BYTES],
            ]
            .concat(),
        ),
    ] {
        assert!(
            matches!(
                w.svc
                    .add_document(&cw.actor, &web(), case.id, name, &content)
                    .await,
                Err(ServiceError::Invalid(_))
            ),
            "{name} accepted"
        );
    }

    // Nothing personal is stored in the clear.
    let mut c = w.svc.db().acquire().await.unwrap();
    let notes = passage_store::activity::notes(&mut c.conn(), case.id)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&notes[0].body).contains("Ganta"));
    let docs = passage_store::activity::documents(&mut c.conn(), case.id)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&docs[0].name).contains("travel"));
    // Another organisation sees none of it.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc.notes(&shelter.actor, case.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        w.svc.document(&shelter.actor, &web(), case.id, doc).await,
        Err(ServiceError::NotFound)
    ));
    let actions = audit_actions(&w).await;
    for a in [
        "case.service",
        "case.note",
        "case.document_add",
        "case.document_view",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} not audited");
    }
}

#[tokio::test]
async fn a_referral_shares_only_what_was_chosen_and_the_receiver_answers_it() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let shelter = w.sign_in("shelter.caseworker").await;
    let shelter_org = shelter.actor.grants()[0].org;
    let case = w
        .svc
        .register_case(&cw.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let fields = vec!["given_name".to_owned(), "sex".to_owned()];
    // Who the person is is shared only with their consent to share with the shelter.
    let refused = w
        .svc
        .refer_case(&cw.actor, &web(), case.id, shelter_org, "shelter", &fields)
        .await;
    assert!(
        matches!(&refused, Err(ServiceError::Invalid(e)) if e.to_string().contains("consented")),
        "{refused:?}"
    );
    let person = case.person_id.unwrap();
    let consent = passage_service::NewConsent {
        scope: "sharing".into(),
        purpose: "Shelter and protection services".into(),
        recipients: vec![shelter_org],
        given_on: w.svc.today(),
        evidence: Some("Signed consent form, witnessed by the caseworker".into()),
    };
    let consent_id = w
        .svc
        .record_consent(&cw.actor, &web(), person, &consent)
        .await
        .unwrap();
    let id = w
        .svc
        .refer_case(&cw.actor, &web(), case.id, shelter_org, "shelter", &fields)
        .await
        .unwrap();

    // The shelter sees the referral and exactly the shared answers, never the case.
    let incoming = w
        .svc
        .referrals(&shelter.actor, Some(shelter_org), None)
        .await
        .unwrap();
    assert_eq!(incoming.len(), 1);
    let r = w.svc.referral(&shelter.actor, &web(), id).await.unwrap();
    let shared: Vec<_> = r
        .shared
        .iter()
        .map(|a| (a.label.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(
        shared,
        [("Given name", "Musu"), ("Sex", "Female")],
        "labelled as the form labels them"
    );
    assert!(!r.identity_withheld);
    assert!(matches!(
        w.svc.case(&shelter.actor, &web(), case.id).await,
        Err(ServiceError::NotFound)
    ));
    // A withdrawal stops the sharing at once: the shelter no longer sees the name; the
    // referring organisation still sees what it shared.
    w.svc
        .withdraw_consent(&cw.actor, &web(), person, consent_id, w.svc.today())
        .await
        .unwrap();
    let r = w.svc.referral(&shelter.actor, &web(), id).await.unwrap();
    assert!(r.identity_withheld);
    assert_eq!(
        r.shared.iter().map(|a| a.label.as_str()).collect::<Vec<_>>(),
        ["Sex"]
    );
    assert_eq!(
        w.svc.referral(&cw.actor, &web(), id).await.unwrap().shared.len(),
        2
    );
    let listed = w.svc.consents(&cw.actor, person).await.unwrap();
    assert_eq!(listed[0].withdrawn_on, Some(w.svc.today().to_string()));
    assert_eq!(
        listed[0].evidence.as_deref(),
        Some("Signed consent form, witnessed by the caseworker")
    );
    assert!(matches!(
        w.svc
            .withdraw_consent(&cw.actor, &web(), person, consent_id, w.svc.today())
            .await,
        Err(ServiceError::Conflict(_))
    ));
    // Non-identifying answers need no consent.
    w.svc
        .refer_case(
            &cw.actor,
            &web(),
            case.id,
            shelter_org,
            "medical",
            &["sex".to_owned()],
        )
        .await
        .unwrap();
    // An organisation party to nothing sees nothing.
    let partner = w.sign_in("partner").await;
    assert!(w.svc.referral(&partner.actor, &web(), id).await.is_err());

    // Only the receiver answers; a decline needs a reason; an answer is given once.
    assert!(
        w.svc
            .answer_referral(&cw.actor, &web(), id, true, None)
            .await
            .is_err()
    );
    assert!(matches!(
        w.svc
            .answer_referral(&shelter.actor, &web(), id, false, None)
            .await,
        Err(ServiceError::Invalid(_))
    ));
    w.svc
        .answer_referral(&shelter.actor, &web(), id, true, None)
        .await
        .unwrap();
    assert!(
        w.svc
            .answer_referral(&shelter.actor, &web(), id, false, Some("no_capacity"))
            .await
            .is_err()
    );
    w.svc.complete_referral(&shelter.actor, &web(), id).await.unwrap();
    let r = w.svc.referral(&cw.actor, &web(), id).await.unwrap();
    assert_eq!(r.status, "completed");

    // Fields not on the form, or referring to oneself, are refused.
    assert!(matches!(
        w.svc
            .refer_case(
                &cw.actor,
                &web(),
                case.id,
                shelter_org,
                "shelter",
                &["secret".to_owned()]
            )
            .await,
        Err(ServiceError::Invalid(_))
    ));
    assert!(matches!(
        w.svc
            .refer_case(&cw.actor, &web(), case.id, w.iom, "shelter", &fields)
            .await,
        Err(ServiceError::Invalid(_))
    ));
    let actions = audit_actions(&w).await;
    for a in [
        "consent.record",
        "consent.withdraw",
        "referral.request",
        "referral.respond",
        "referral.complete",
        "referral.view",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a} not audited");
    }
}

#[tokio::test]
async fn saved_filters_belong_to_their_user() {
    let w = World::new().await;
    let cw = w.sign_in("caseworker").await;
    let manager = w.sign_in("manager").await;
    w.svc
        .save_filter(&cw.actor, &web(), "My overdue CT", "programme=ct&overdue=1")
        .await
        .unwrap();
    w.svc
        .save_filter(
            &cw.actor,
            &web(),
            "My overdue CT",
            "programme=ct&overdue=1&sort=due",
        )
        .await
        .unwrap();
    let mine = w.svc.saved_filters(&cw.actor).await.unwrap();
    assert_eq!(mine.len(), 1, "saving under the same name replaces");
    assert_eq!(mine[0].query, "programme=ct&overdue=1&sort=due");
    assert!(w.svc.saved_filters(&manager.actor).await.unwrap().is_empty());
    w.svc.delete_filter(&manager.actor, mine[0].id).await.unwrap();
    assert_eq!(
        w.svc.saved_filters(&cw.actor).await.unwrap().len(),
        1,
        "others cannot delete it"
    );
    assert!(matches!(
        w.svc.save_filter(&cw.actor, &web(), " ", "x").await,
        Err(ServiceError::Invalid(_))
    ));
}
