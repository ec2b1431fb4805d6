//! Likely duplicates at registration: found through keyed hashes, scored by the matcher,
//! shown with reasons, limited to what the organisation may see. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_service::{Instance, NewCase};
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
            .is_err()
    );
}
