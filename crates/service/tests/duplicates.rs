//! Likely duplicates at registration: found through keyed hashes, scored by the matcher,
//! shown with reasons, limited to what the organisation may see. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_service::{Instance, NewCase, ServiceError};
use support::{World, answers, web};

/// Register the sample CT answers; returns the person the case was filed under.
async fn register_sample(w: &World, actor: &passage_domain::Actor) -> uuid::Uuid {
    let case = w
        .svc
        .register_case(actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    w.svc
        .case(actor, &web(), case.id)
        .await
        .unwrap()
        .person_id
        .unwrap()
}

#[tokio::test]
async fn registering_someone_again_shows_who_they_may_be_and_why() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let person = register_sample(&w, &caseworker.actor).await;
    // Someone else entirely, to be sure only the right person comes back.
    let other = Instance::default()
        .with("given_name", "Fatu")
        .with("family_name", "Sirleaf-Example")
        .with("sex", "female")
        .with("age", "30")
        .with("exploitation", "forced_labour");
    w.svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &other)
        .await
        .unwrap();

    // The same person written another way: another spelling of the family name.
    let again = answers().with("family_name", "Kolie-Example");
    let similar = w
        .svc
        .similar_persons_for_answers(&caseworker.actor, &web(), w.iom, &again)
        .await
        .unwrap();
    assert_eq!(
        similar.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![person],
        "{similar:?}"
    );
    let s = &similar[0];
    assert!(s.probability >= 0.9, "{s:?}");
    assert!(s.name.contains("Musu"));
    assert!(
        s.explanation.contains("given_name exact")
            && s.explanation.contains("surname same name in another spelling"),
        "{}",
        s.explanation
    );
    assert!(!s.explanation.contains("Musu") && !s.explanation.contains("Kollie"));

    // A namesake by given name only is not offered.
    let stranger = answers().with("family_name", "Dolo-Example");
    assert!(
        w.svc
            .similar_persons_for_answers(&caseworker.actor, &web(), w.iom, &stranger)
            .await
            .unwrap()
            .is_empty()
    );

    // Registering for the person found links the new case to them.
    let linked = w
        .svc
        .register_cases(
            &caseworker.actor,
            &web(),
            "ct",
            w.iom,
            &[NewCase {
                answers: again,
                person: Some(person),
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        w.svc
            .case(&caseworker.actor, &web(), linked[0].id)
            .await
            .unwrap()
            .person_id,
        Some(person)
    );

    // Another organisation sees nothing of IOM's persons.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(
        w.svc
            .similar_persons_for_answers(&shelter.actor, &web(), w.iom, &answers())
            .await
            .unwrap()
            .is_empty()
    );
    let identity = passage_service::identity_of(&answers()).unwrap();
    assert!(matches!(
        w.svc
            .similar_persons(&shelter.actor, &web(), w.iom, &identity)
            .await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test]
async fn persons_registered_twice_are_merged_and_unmerged_without_losing_anything() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let cw = &caseworker.actor;
    // Registered twice as two persons (as before duplicates were checked, or by an import).
    let first = w
        .svc
        .register_case(cw, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let second = w
        .svc
        .register_case(
            cw,
            &web(),
            "ct",
            w.iom,
            &answers().with("family_name", "Kolie-Example"),
        )
        .await
        .unwrap();
    let person_of = |id| {
        let w = &w;
        async move { w.svc.case(cw, &web(), id).await.unwrap().person_id.unwrap() }
    };
    let (p1, p2) = (person_of(first.id).await, person_of(second.id).await);
    assert_ne!(p1, p2);

    let queue = w.svc.duplicate_pairs(cw, &web(), w.iom).await.unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    let pair = &queue[0];
    let mut ids = [pair.first, pair.second];
    ids.sort();
    let mut expected = [p1, p2];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        pair.probability >= 0.9 && pair.explanation.contains("surname"),
        "{pair:?}"
    );

    // Merge: the second person's case now belongs to the first; nothing else changes.
    let merge = w.svc.merge_persons(cw, &web(), p1, p2, None).await.unwrap();
    assert_eq!(merge.cases_moved, 1);
    assert_eq!(person_of(second.id).await, p1);
    assert!(w.svc.duplicate_pairs(cw, &web(), w.iom).await.unwrap().is_empty());
    let person = w.svc.person(cw, &web(), p1).await.unwrap();
    assert_eq!(person.cases.len(), 2);
    assert!(
        matches!(
            w.svc.merge_persons(cw, &web(), p1, p2, None).await,
            Err(ServiceError::Conflict(_))
        ),
        "merged once only"
    );
    let similar = w
        .svc
        .similar_persons_for_answers(cw, &web(), w.iom, &answers())
        .await
        .unwrap();
    assert_eq!(
        similar.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![p1],
        "a merged person is not offered again"
    );

    // Unmerge: exactly the moved case goes back.
    w.svc.unmerge_persons(cw, &web(), merge.id).await.unwrap();
    assert_eq!(person_of(second.id).await, p2);
    assert_eq!(person_of(first.id).await, p1);
    assert!(matches!(
        w.svc.unmerge_persons(cw, &web(), merge.id).await,
        Err(ServiceError::Conflict(_))
    ));
    let merges = w.svc.person_merges(cw, w.iom).await.unwrap();
    assert!(merges.len() == 1 && merges[0].undone);

    // "Not the same person" takes the pair out of the queue for good.
    assert_eq!(w.svc.duplicate_pairs(cw, &web(), w.iom).await.unwrap().len(), 1);
    w.svc.mark_distinct(cw, &web(), p2, p1).await.unwrap();
    assert!(w.svc.duplicate_pairs(cw, &web(), w.iom).await.unwrap().is_empty());

    // Another organisation can neither see the queue nor merge IOM's persons.
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(
        w.svc
            .duplicate_pairs(&shelter.actor, &web(), w.iom)
            .await
            .is_err()
    );
    assert!(matches!(
        w.svc.merge_persons(&shelter.actor, &web(), p1, p2, None).await,
        Err(ServiceError::NotFound)
    ));
}

#[tokio::test]
async fn linking_records_across_programmes_needs_consent_or_a_legal_basis() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let cw = &caseworker.actor;
    let ct = w
        .svc
        .register_case(cw, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let (_, avrr_form) = w.svc.current_form("avrr").await.unwrap();
    let avrr_answers = passage_xlsform::fill::fill(
        &avrr_form,
        &mut passage_xlsform::fill::Seed::new(8),
        w.svc.today(),
    )
    .unwrap();
    let avrr = w
        .svc
        .register_case(cw, &web(), "avrr", w.iom, &avrr_answers)
        .await
        .unwrap();
    let (kept, merged) = (ct.person_id.unwrap(), avrr.person_id.unwrap());

    let refused = w.svc.merge_persons(cw, &web(), kept, merged, None).await;
    assert!(
        matches!(&refused, Err(ServiceError::Invalid(v)) if v.to_string().contains("across programmes")),
        "{refused:?}"
    );
    let too_short = w
        .svc
        .merge_persons(cw, &web(), kept, merged, Some("because"))
        .await;
    assert!(matches!(too_short, Err(ServiceError::Invalid(_))));
    assert_eq!(
        w.svc.person(cw, &web(), kept).await.unwrap().cases.len(),
        1,
        "nothing moved"
    );

    // A recorded legal basis allows it; the text is sealed, the audit says only which basis.
    const BASIS: &str = "Vital interests: confirming the identity of a victim of trafficking";
    let merge = w
        .svc
        .merge_persons(cw, &web(), kept, merged, Some(BASIS))
        .await
        .unwrap();
    assert_eq!(w.svc.person(cw, &web(), kept).await.unwrap().cases.len(), 2);
    let trail = w
        .svc
        .audit_events(
            &passage_domain::Actor::Operator,
            &web(),
            &passage_service::AuditQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    let event = trail.iter().find(|e| e.action == "person.merge").unwrap();
    assert!(event.details.contains("legal_basis"), "{}", event.details);
    assert!(trail.iter().all(|e| !e.details.contains("Vital interests")));
    w.svc.unmerge_persons(cw, &web(), merge.id).await.unwrap();

    // The person's consent to linking allows it too, until they withdraw it.
    let consent = w
        .svc
        .record_consent(
            cw,
            &web(),
            merged,
            &passage_service::NewConsent {
                scope: "linking".into(),
                purpose: "Reintegration support across programmes".into(),
                recipients: vec![],
                given_on: w.svc.today(),
                evidence: None,
            },
        )
        .await
        .unwrap();
    let merge = w.svc.merge_persons(cw, &web(), kept, merged, None).await.unwrap();
    w.svc.unmerge_persons(cw, &web(), merge.id).await.unwrap();
    w.svc
        .withdraw_consent(cw, &web(), merged, consent, w.svc.today())
        .await
        .unwrap();
    assert!(matches!(
        w.svc.merge_persons(cw, &web(), kept, merged, None).await,
        Err(ServiceError::Invalid(_))
    ));
}

#[tokio::test]
async fn persons_indexed_before_duplicate_finding_are_found_again_after_a_reindex() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let person = register_sample(&w, &caseworker.actor).await;
    let again = answers().with("family_name", "Kolie-Example");
    let similar = || async {
        w.svc
            .similar_persons_for_answers(&caseworker.actor, &web(), w.iom, &again)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(similar().await, vec![person]);

    // As if registered before the matcher's keys existed: no blocking keys in the index.
    let mut tx = w.svc.db().begin().await.unwrap();
    let forget = "delete from person_index where field = 'match'";
    match tx.conn() {
        passage_store::Conn::Sqlite(c) => sqlx::query(forget).execute(&mut *c).await.map(drop),
        passage_store::Conn::Postgres(c) => sqlx::query(forget).execute(&mut *c).await.map(drop),
    }
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        similar().await.is_empty(),
        "without its keys the person is not found"
    );

    assert!(matches!(
        w.svc.reindex_persons(&caseworker.actor, &web()).await,
        Err(ServiceError::Denied(_))
    ));
    let (done, unreadable) = w
        .svc
        .reindex_persons(&passage_domain::Actor::Operator, &web())
        .await
        .unwrap();
    assert!(done >= 1 && unreadable == 0, "{done} {unreadable}");
    assert_eq!(
        similar().await,
        vec![person],
        "found again through the rebuilt keys"
    );
    // Name search keys are rebuilt too, not doubled.
    let (again_done, _) = w
        .svc
        .reindex_persons(&passage_domain::Actor::Operator, &web())
        .await
        .unwrap();
    assert_eq!(again_done, done);
    assert_eq!(similar().await, vec![person]);
}

/// `n` fictional AVRR returnees with generated names (dates of birth and the rest filled in
/// by the form's generator); every tenth registered a second time with two
/// letters of the family name exchanged (the duplicates EM learns from).
fn registry(form: &passage_xlsform::Form, today: time::Date, n: usize) -> Vec<NewCase> {
    const GIVEN: [&str; 24] = [
        "Musu", "Fatu", "Kebeh", "Mamie", "Satta", "Hawa", "Comfort", "Esther", "Yatta", "Massa", "Korto",
        "Nyemah", "Sia", "Jartu", "Finda", "Oretha", "Kou", "Yei", "Bendu", "Wokie", "Garmai", "Lorpu",
        "Tenneh", "Zoe",
    ];
    const FAMILY: [&str; 30] = [
        "Kollie",
        "Flomo",
        "Kpoto",
        "Zinnah",
        "Gbassie",
        "Sumo",
        "Kamara",
        "Dolo",
        "Tokpa",
        "Wesseh",
        "Karmo",
        "Boakai",
        "Togba",
        "Kiazolu",
        "Gaye",
        "Mulbah",
        "Toe",
        "Yekeh",
        "Saah",
        "Kpadeh",
        "Zubah",
        "Nyumah",
        "Gonkarnue",
        "Barclay",
        "Johnson",
        "Dennis",
        "Wolo",
        "Sackie",
        "Fahnbulleh",
        "Gbowee",
    ];
    let mut seed = passage_xlsform::fill::Seed::new(11);
    let mut out = Vec::with_capacity(n + n / 10);
    for i in 0..n {
        let family = format!("Demo {}", FAMILY[(i * 7 + i / 30) % FAMILY.len()]);
        let given = format!("Demo {}", GIVEN[(i * 13 + i / 24) % GIVEN.len()]);
        let base = passage_xlsform::fill::fill(form, &mut seed, today).unwrap();
        let person = |family: &str| NewCase {
            answers: base.clone().with("first_name", &given).with("last_name", family),
            person: None,
        };
        out.push(person(&family));
        if i % 10 == 0 {
            let mut typo: Vec<char> = family.chars().collect();
            typo.swap(6, 7);
            out.push(person(&typo.into_iter().collect::<String>()));
        }
    }
    out
}

#[tokio::test]
async fn an_organisation_with_enough_persons_gets_a_model_learned_from_them() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    // Few persons: nothing to learn from; the standard model scores.
    register_sample(&w, &caseworker.actor).await;
    assert!(w.svc.learn_match_models(&web()).await.unwrap().is_empty());
    assert_eq!(w.svc.match_model(w.iom).learned_from, None);

    let (_, form) = w.svc.current_form("avrr").await.unwrap();
    let records = registry(&form, w.svc.today(), 600);
    for chunk in records.chunks(100) {
        w.svc
            .register_cases(&caseworker.actor, &web(), "avrr", w.iom, chunk)
            .await
            .unwrap();
    }
    // A re-registration keeps the given and middle names; a pair that differs there is two
    // people who share a family name and more.
    let same_person = |d: &passage_service::DuplicatePair| {
        let start = |n: &str| n.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
        start(&d.first_name) == start(&d.second_name)
    };
    let pairs = |list: &[passage_service::DuplicatePair]| {
        let mut p: Vec<_> = list
            .iter()
            .filter(|d| same_person(d))
            .map(|d| (d.first, d.second))
            .collect();
        p.sort();
        p
    };
    let before = w
        .svc
        .duplicate_pairs(&caseworker.actor, &web(), w.iom)
        .await
        .unwrap();
    assert!(
        before.iter().any(|d| !same_person(d)),
        "the standard model also lists people who only look alike"
    );
    let learned = w.svc.learn_match_models(&web()).await.unwrap();
    let persons = learned
        .iter()
        .find(|(org, _)| *org == w.iom)
        .map(|(_, n)| *n)
        .expect("learned for the organisation");
    assert!(persons > 600, "{persons}");
    let model = w.svc.match_model(w.iom);
    assert_eq!(model.learned_from, Some(persons));
    assert_ne!(
        model.model.m,
        passage_match::Model::standard().m,
        "m comes from the organisation's records"
    );

    // The learned model still finds a re-registration, with its reasons.
    let again = records[0].answers.clone();
    let similar = w
        .svc
        .similar_persons_for_answers(&caseworker.actor, &web(), w.iom, &again)
        .await
        .unwrap();
    assert!(
        !similar.is_empty() && similar[0].probability >= 0.5,
        "{similar:?}"
    );
    assert!(similar[0].explanation.contains("given_name"), "{similar:?}");
    let duplicates = w
        .svc
        .duplicate_pairs(&caseworker.actor, &web(), w.iom)
        .await
        .unwrap();
    assert!(
        duplicates.iter().all(same_person),
        "the learned model lists re-registrations only"
    );
    assert_eq!(
        pairs(&duplicates),
        pairs(&before),
        "and all of them that the standard one found"
    );
    assert!(duplicates.len() >= 20, "{}", duplicates.len());

    // Learning is on the audit trail, with the count only.
    let auditor = w.sign_in("auditor").await;
    let events = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &passage_service::AuditQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    let event = events.iter().find(|e| e.action == "person.match_model").unwrap();
    assert!(event.details.contains(&persons.to_string()), "{}", event.details);
}
