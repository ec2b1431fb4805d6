//! Registering and reading cases: checked answers, encrypted storage, case numbers, access by
//! organisation, audit, blind-index search. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::{Actor, SystemClock};
use passage_service::ServiceError;
use passage_store::{Backend, DbTarget};
use support::{World, answers, web};

#[tokio::test]
async fn a_case_is_numbered_encrypted_and_read_back_by_its_organisation_only() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let year = passage_domain::Clock::now(&SystemClock).to_datetime().year();
    assert_eq!(case.number, format!("CT-{year}-000001"));
    assert_eq!(case.stage, "identified");
    let second = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    assert_eq!(second.number, format!("CT-{year}-000002"));

    let read = w.svc.case(&caseworker.actor, &web(), case.id).await.unwrap();
    let mut expected = answers().with("family_name", "Kollie-Example");
    expected.repeats.get_mut("support").unwrap()[1].values.clear();
    expected.repeats.get_mut("support").unwrap()[1]
        .values
        .insert("support_type".into(), "medical".into());
    assert_eq!(read.answers, expected);

    // Another organisation's caseworker: not found, for reading, listing and registering.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc.case(&shelter.actor, &web(), case.id).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        w.svc.cases(&shelter.actor, &web(), w.iom, None).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        w.svc
            .register_case(&shelter.actor, &web(), "ct", w.iom, &answers())
            .await,
        Err(ServiceError::NotFound)
    ));
    // The auditor of the same organisation cannot read case files.
    let auditor = w.sign_in("auditor").await;
    assert!(matches!(
        w.svc.case(&auditor.actor, &web(), case.id).await,
        Err(ServiceError::Denied(_))
    ));

    // Lists carry numbers, stages and reporting answers only.
    let list = w
        .svc
        .cases(&caseworker.actor, &web(), w.iom, Some("ct"))
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].reporting["sex"], "female");
    assert!(list[0].reporting.get("given_name").is_none() && list[0].reporting.get("story").is_none());

    // Exact search through the blind index, ignoring case and spaces.
    let found = w
        .svc
        .find_cases(&caseworker.actor, &web(), w.iom, "family_name", "kollie-example")
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(
        w.svc
            .find_cases(&caseworker.actor, &web(), w.iom, "family_name", "Kollie")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn identifying_and_sensitive_answers_never_reach_the_database_in_plain_text() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    w.svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let secrets = ["Musu", "Kollie", "Ganta market", "Placed at the shelter"];

    // Every column of every row, as the database holds it.
    let mut pooled = w.t.db.acquire().await.unwrap();
    let dumped: Vec<String> = match w.t.db.backend() {
        Backend::Sqlite => {
            let sql = "select coalesce(number,'') || coalesce(reporting,'') || coalesce(hex(identifying),'') || \
                       coalesce(hex(sensitive),'') from cases";
            match pooled.conn() {
                passage_store::Conn::Sqlite(c) => sqlx::query_scalar::<_, String>(sql)
                    .fetch_all(&mut *c)
                    .await
                    .unwrap(),
                _ => unreachable!(),
            }
        }
        Backend::Postgres => {
            let sql = "select c::text from cases c union all select a::text from audit_events a \
                       union all select i::text from case_index i";
            match pooled.conn() {
                passage_store::Conn::Postgres(c) => sqlx::query_scalar::<_, String>(sql)
                    .fetch_all(&mut *c)
                    .await
                    .unwrap(),
                _ => unreachable!(),
            }
        }
    };
    let text = dumped.join("\n");
    assert!(text.contains("female"), "reporting answers are plain");
    for s in secrets {
        assert!(!text.contains(s), "{s} in the database");
    }
    drop(pooled);

    // On SQLite, the raw file (with its WAL) holds none of them either.
    if let DbTarget::SqliteFile(path) = &w.t.target {
        w.t.db.close().await;
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(path.with_extension("sqlite3-wal")).unwrap_or_default());
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|win| win == s.as_bytes()),
                "{s} in the SQLite file"
            );
        }
    }
}

#[tokio::test]
async fn wrong_answers_are_refused_and_nothing_is_saved() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let mut bad = answers()
        .with("sex", "f")
        .with("age", "seventeen")
        .with("nickname", "M");
    bad.values.remove("given_name");
    match w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &bad)
        .await
    {
        Err(ServiceError::InvalidRecord(problems)) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert_eq!(
                lines,
                [
                    "nickname: is not a field of this form",
                    "given_name: is required",
                    "sex: `f` is not one of the choices",
                    "age: must be a whole number"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        w.svc
            .cases(&caseworker.actor, &web(), w.iom, None)
            .await
            .unwrap()
            .is_empty()
    );
    let good = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    assert!(
        good.number.ends_with("-000001"),
        "a refused record uses no number"
    );

    let mut c = w.t.db.acquire().await.unwrap();
    let events = passage_store::audit::list(
        &mut c.conn(),
        &passage_store::audit::Filter {
            action_prefix: Some("case.".into()),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["case.register", "case.list"],
        "registration and the list read are audited"
    );
}

#[tokio::test]
async fn demo_cases_are_generated_for_every_programme() {
    let w = World::new().await;
    let created = w.svc.seed_demo_cases(3).await.unwrap();
    assert_eq!(created, 15, "three per programme");
    let caseworker = w.sign_in("caseworker").await;
    let list = w.svc.cases(&caseworker.actor, &web(), w.iom, None).await.unwrap();
    assert_eq!(
        list.len(),
        12,
        "border crossings belong to the immigration service"
    );
    let mut names = Vec::new();
    for summary in &list {
        let case = w.svc.case(&caseworker.actor, &web(), summary.id).await.unwrap();
        names.extend(
            case.answers
                .values
                .into_iter()
                .filter(|(k, _)| k.ends_with("name"))
                .map(|(_, v)| v),
        );
    }
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("Demo")),
        "{names:?}"
    );

    let border = w.sign_in("border").await;
    let lis = w
        .svc
        .organisations(&Actor::Operator)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.as_str() == "Liberia Immigration Service")
        .unwrap()
        .id;
    assert_eq!(
        w.svc
            .cases(&border.actor, &web(), lis, Some("border"))
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn cases_move_along_their_workflow_with_approvals_and_closure_reasons() {
    let w = World::new().await;
    w.svc.seed_demo_cases(1).await.unwrap();
    let caseworker = w.sign_in("caseworker").await;
    let manager = w.sign_in("manager").await;
    let avrr = w
        .svc
        .cases(&caseworker.actor, &web(), w.iom, Some("avrr"))
        .await
        .unwrap()[0]
        .id;
    let flow = w.svc.workflow(&caseworker.actor, avrr).await.unwrap();
    assert_eq!(flow.current, "registered");
    assert_eq!(flow.stages.len(), 10);
    let targets: Vec<&str> = flow.moves.iter().map(|m| m.to.code.as_str()).collect();
    assert_eq!(targets, ["counselling", "closed"]);

    w.svc
        .move_case(&caseworker.actor, &web(), avrr, "counselling", None, None)
        .await
        .unwrap();
    // Skipping stages is refused.
    let skip = w
        .svc
        .move_case(&caseworker.actor, &web(), avrr, "departed", None, None)
        .await;
    assert!(matches!(skip, Err(ServiceError::Invalid(_))), "{skip:?}");
    // Eligibility needs a programme manager's approval; the caseworker does not even see it.
    let flow = w.svc.workflow(&caseworker.actor, avrr).await.unwrap();
    assert!(flow.moves.iter().all(|m| m.to.code != "eligibility_approved"));
    let approval = w
        .svc
        .move_case(
            &caseworker.actor,
            &web(),
            avrr,
            "eligibility_approved",
            None,
            None,
        )
        .await;
    assert!(matches!(approval, Err(ServiceError::Denied(_))), "{approval:?}");
    let seen = w.svc.case(&manager.actor, &web(), avrr).await.unwrap().revision;
    w.svc
        .move_case(
            &manager.actor,
            &web(),
            avrr,
            "eligibility_approved",
            None,
            Some(seen),
        )
        .await
        .unwrap();
    // A change made on a stale view is refused, not applied over the newer one.
    let stale = w
        .svc
        .move_case(&manager.actor, &web(), avrr, "travel_arranged", None, Some(seen))
        .await;
    assert!(matches!(stale, Err(ServiceError::Stale { .. })), "{stale:?}");

    // Closing needs a coded reason.
    let no_reason = w
        .svc
        .move_case(&caseworker.actor, &web(), avrr, "closed", None, None)
        .await;
    assert!(matches!(no_reason, Err(ServiceError::Invalid(v)) if v.field == "reason"));
    let free_text = w
        .svc
        .move_case(
            &caseworker.actor,
            &web(),
            avrr,
            "closed",
            Some("she told me that…"),
            None,
        )
        .await;
    assert!(matches!(free_text, Err(ServiceError::Invalid(_))));
    w.svc
        .move_case(&caseworker.actor, &web(), avrr, "closed", Some("withdrew"), None)
        .await
        .unwrap();
    let flow = w.svc.workflow(&caseworker.actor, avrr).await.unwrap();
    assert_eq!(flow.current, "closed");
    assert!(flow.moves.is_empty(), "a closed case has nowhere to go");
    let steps: Vec<(&str, &str)> = flow
        .history
        .iter()
        .map(|h| (h.from_stage.as_str(), h.to_stage.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("registered", "counselling"),
            ("counselling", "eligibility_approved"),
            ("eligibility_approved", "closed")
        ]
    );
    assert_eq!(flow.history[2].reason.as_deref(), Some("withdrew"));

    // Other organisations cannot see or move it.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc.workflow(&shelter.actor, avrr).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        w.svc
            .move_case(&shelter.actor, &web(), avrr, "closed", Some("duplicate"), None)
            .await,
        Err(ServiceError::NotFound)
    ));
}
