//! Likely duplicates at registration: found through keyed hashes, scored by the matcher,
//! shown with reasons, limited to what the organisation may see. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_service::{Instance, NewCase, ServiceError};
use support::{World, answers, web};

#[tokio::test]
async fn registering_someone_again_shows_who_they_may_be_and_why() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let first = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let person = w
        .svc
        .case(&caseworker.actor, &web(), first.id)
        .await
        .unwrap()
        .person_id
        .unwrap();
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
    let merge = w.svc.merge_persons(cw, &web(), p1, p2).await.unwrap();
    assert_eq!(merge.cases_moved, 1);
    assert_eq!(person_of(second.id).await, p1);
    assert!(w.svc.duplicate_pairs(cw, &web(), w.iom).await.unwrap().is_empty());
    let person = w.svc.person(cw, &web(), p1).await.unwrap();
    assert_eq!(person.cases.len(), 2);
    assert!(
        matches!(
            w.svc.merge_persons(cw, &web(), p1, p2).await,
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
        w.svc.merge_persons(&shelter.actor, &web(), p1, p2).await,
        Err(ServiceError::NotFound)
    ));
}
