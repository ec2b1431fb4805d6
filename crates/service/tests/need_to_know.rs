//! Need to know on counter-trafficking cases: the team (who registered the case, its
//! caseworker, supervisors) sees who it is about; another caseworker of the organisation sees it
//! masked everywhere — the case, lists, name search, history, documents, the person, likely
//! duplicates, exports — and may not change it, until they break the glass with a reason. The
//! grant expires, is highlighted in the audit trail and is reviewed by the focal point.
//! Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::{Denied, SystemClock};
use passage_service::{
    AuditQuery, Authenticated, CaseQuery, MasterKey, NewUser, Passage, ServiceError, Settings, SheetFormat,
};
use std::sync::Arc;
use support::{World, answers, web};

async fn colleague(w: &World, svc: &Passage) -> Authenticated {
    let admin = w.sign_in("admin").await;
    let password = "river-lantern-44-cassava";
    let new = NewUser {
        username: "colleague".into(),
        display_name: "Demo Colleague (fictional)".into(),
        email: None,
        password: password.into(),
        org: w.iom,
        role: "caseworker".into(),
    };
    svc.create_user(&admin.actor, &web(), &new).await.unwrap();
    let s = svc.login(&web(), "colleague", password, "x").await.unwrap();
    support::finish_sign_in(svc, &w.phones, &s).await;
    svc.authenticate_session(&s.token).await.unwrap()
}

/// A generated AVRR record (it names a fictional person).
async fn avrr_answers(w: &World) -> passage_service::Instance {
    let (_, form) = w.svc.current_form("avrr").await.unwrap();
    passage_xlsform::fill::fill(&form, &mut passage_xlsform::fill::Seed::new(3), w.svc.today()).unwrap()
}

fn need_to_know<T: std::fmt::Debug>(r: Result<T, ServiceError>) {
    assert!(
        matches!(r, Err(ServiceError::Denied(Denied::NeedToKnow))),
        "{r:?}"
    );
}

#[tokio::test]
async fn counter_trafficking_identities_are_for_the_case_team_or_behind_the_glass() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let edited = answers().with("family_name", "Kollie-Changed");
    w.svc
        .update_case(&caseworker.actor, &web(), case.id, &edited, case.revision)
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
    let other = colleague(&w, &w.svc).await;

    // The team: the caseworker who registered it and the supervisor see the identity.
    let manager = w.sign_in("manager").await;
    for who in [&caseworker, &manager] {
        let read = w.svc.case(&who.actor, &web(), case.id).await.unwrap();
        assert!(!read.identity_hidden);
        assert_eq!(read.answers.values["given_name"], "Musu");
    }

    // Another caseworker: masked case (the story stays: it is case work, not identity).
    let masked = w.svc.case(&other.actor, &web(), case.id).await.unwrap();
    assert!(masked.identity_hidden && masked.person_name.is_none());
    assert!(
        !masked.answers.values.contains_key("given_name")
            && !masked.answers.values.contains_key("family_name")
    );
    assert!(masked.answers.values.contains_key("story"));
    let listed = |who: &Authenticated, name: Option<&str>| {
        let q = CaseQuery {
            org: Some(w.iom),
            programme: Some("ct".into()),
            name: name.map(str::to_owned),
            page_size: 50,
            ..Default::default()
        };
        let svc = w.svc.clone();
        let actor = who.actor.clone();
        async move { svc.search_cases(&actor, &web(), &q).await.unwrap() }
    };
    let page = listed(&other, None).await;
    let row = page.cases.iter().find(|c| c.id == case.id).unwrap();
    assert!(
        row.person_name.is_none(),
        "the list shows the case, not who it is about"
    );
    assert!(
        listed(&other, Some("Musu")).await.cases.is_empty(),
        "a name does not lead to the case"
    );
    assert_eq!(listed(&caseworker, Some("Musu")).await.cases.len(), 1);
    let history = w.svc.case_versions(&other.actor, case.id).await.unwrap();
    assert_eq!(
        history[0].changes,
        [("family_name".to_owned(), Some("(restricted)".to_owned()))]
    );
    need_to_know(w.svc.documents(&other.actor, case.id).await);
    need_to_know(w.svc.person(&other.actor, &web(), case.person_id.unwrap()).await);
    need_to_know(
        w.svc
            .update_case(&other.actor, &web(), case.id, &answers(), case.revision + 1)
            .await,
    );
    let similar = w
        .svc
        .similar_persons_for_answers(&other.actor, &web(), w.iom, &edited)
        .await
        .unwrap();
    assert!(
        similar.is_empty(),
        "likely duplicates do not reveal a victim: {}",
        similar.len()
    );
    assert_eq!(
        w.svc
            .similar_persons_for_answers(&caseworker.actor, &web(), w.iom, &edited)
            .await
            .unwrap()
            .len(),
        1
    );
    // Nor can they merge the person into someone else (that would reveal them).
    let avrr = w
        .svc
        .register_case(&other.actor, &web(), "avrr", w.iom, &avrr_answers(&w).await)
        .await
        .unwrap();
    need_to_know(
        w.svc
            .merge_persons(
                &other.actor,
                &web(),
                avrr.person_id.unwrap(),
                case.person_id.unwrap(),
                None,
            )
            .await,
    );
    let (_, _, csv) = w
        .svc
        .export_cases(&other.actor, &web(), w.iom, "ct", None, SheetFormat::Csv)
        .await
        .unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains(&case.number) && !csv.contains("Musu") && !csv.contains("Kollie"));

    // Breaking the glass needs a reason; then the identity is there, audited and highlighted.
    assert!(matches!(
        w.svc.break_glass(&other.actor, &web(), case.id, "need it").await,
        Err(ServiceError::Invalid(_))
    ));
    assert!(matches!(
        w.svc
            .break_glass(&caseworker.actor, &web(), case.id, "I am already on this case")
            .await,
        Err(ServiceError::Invalid(_))
    ));
    let reason = "Survivor called the hotline at night; her caseworker is unreachable";
    let until = w
        .svc
        .break_glass(&other.actor, &web(), case.id, reason)
        .await
        .unwrap();
    assert_eq!(
        w.svc.break_glass_until(&other.actor, case.id).await.unwrap(),
        Some(until)
    );
    let open = w.svc.case(&other.actor, &web(), case.id).await.unwrap();
    assert!(!open.identity_hidden && open.answers.values["given_name"] == "Musu");
    assert_eq!(w.svc.documents(&other.actor, case.id).await.unwrap().len(), 1);
    let auditor = w.sign_in("auditor").await;
    let events = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &AuditQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    let glass = events.iter().find(|e| e.action == "case.break_glass").unwrap();
    assert_eq!(glass.actor, Some(other.user.id));
    assert!(
        !format!("{glass:?}").contains("hotline"),
        "the reason is not in the audit trail"
    );

    // The focal point sees it waiting, with the reason, and reviews it.
    let dpo = w.sign_in("dpo").await;
    assert_eq!(w.svc.break_glass_to_review(&dpo.actor).await.unwrap(), 1);
    assert_eq!(w.svc.break_glass_to_review(&other.actor).await.unwrap(), 0);
    let grants = w.svc.break_glass_grants(&dpo.actor, &web()).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].reason.as_str(), grants[0].active), (reason, true));
    assert_eq!(grants[0].case_number, case.number);
    assert!(w.svc.break_glass_grants(&other.actor, &web()).await.is_err());
    w.svc
        .review_break_glass(&dpo.actor, &web(), grants[0].id)
        .await
        .unwrap();
    assert_eq!(w.svc.break_glass_to_review(&dpo.actor).await.unwrap(), 0);
    assert!(matches!(
        w.svc.review_break_glass(&dpo.actor, &web(), grants[0].id).await,
        Err(ServiceError::Conflict(_))
    ));
}

#[tokio::test]
async fn an_expired_grant_ends_access_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    MasterKey::generate().unwrap().write_new(&key).unwrap();
    let w = World::with_key(MasterKey::read(&key).unwrap()).await;
    let short = Passage::new(
        w.t.db.clone(),
        Arc::new(SystemClock),
        passage_crypto::PasswordHasher::fast_for_tests().unwrap(),
        Settings {
            break_glass_secs: 1,
            ..Settings::default()
        },
        MasterKey::read(&key).unwrap(),
    )
    .await
    .unwrap();
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let other = colleague(&w, &short).await;
    short
        .break_glass(
            &other.actor,
            &web(),
            case.id,
            "Urgent protection referral tonight",
        )
        .await
        .unwrap();
    assert!(
        !short
            .case(&other.actor, &web(), case.id)
            .await
            .unwrap()
            .identity_hidden
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(
        short
            .case(&other.actor, &web(), case.id)
            .await
            .unwrap()
            .identity_hidden
    );
    assert_eq!(
        short.break_glass_until(&other.actor, case.id).await.unwrap(),
        None
    );
    need_to_know(short.documents(&other.actor, case.id).await);
}
