//! Watchlist screening of border crossings: upload, screening on registration, the review
//! queue, and the index rebuilt when Passage starts again. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_crypto::PasswordHasher;
use passage_domain::{Actor, OrgId, SystemClock};
use passage_service::{Ctx, MasterKey, Passage, ServiceError, Settings};
use passage_xlsform::fill::{Seed, fill};
use std::sync::Arc;
use support::{World, web};

const LIST: &str = "id,full_name,aliases,date_of_birth,nationality,list,reason\n\
W-001,Demo Zayzay Kpakolo,Demo Z. Kpakolo,,LBR,Demo alert list,fictional entry for tests\n\
W-002,Demo Sumoworo Tarpeh,,,GIN,Demo alert list,fictional entry for tests\n";

async fn immigration(w: &World) -> OrgId {
    w.svc
        .organisations(&Actor::Operator)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.as_str() == "Liberia Immigration Service")
        .unwrap()
        .id
}

/// A valid crossing from the shipped form with the traveller's names set.
async fn crossing(svc: &Passage, seed: u64, given: &str, surname: &str) -> passage_service::Instance {
    let (_, form) = svc.current_form("border").await.unwrap();
    fill(&form, &mut Seed::new(seed), svc.today())
        .unwrap()
        .with("given_names", given)
        .with("surname", surname)
}

async fn passage_on(w: &World, master: MasterKey) -> Passage {
    Passage::new(
        w.t.db.clone(),
        Arc::new(SystemClock),
        PasswordHasher::fast_for_tests().unwrap(),
        Settings::default(),
        master,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn crossings_are_screened_when_recorded_and_hits_are_reviewed() {
    let w = World::new().await;
    let lis = immigration(&w).await;
    let officer = w.sign_in("border").await;
    let list = w
        .svc
        .upload_watchlist(&officer.actor, &web(), lis, "Demo alert list", LIST.as_bytes())
        .await
        .unwrap();
    assert_eq!(list.entries, 2);

    let listed = crossing(&w.svc, 7, "Demo Zayzay", "Kpakolo").await;
    // The registration page asks for likely duplicates first: a border officer, who may not
    // read the organisation's persons, is shown none and registers as usual.
    assert!(
        w.svc
            .similar_persons_for_answers(&officer.actor, &web(), lis, &listed)
            .await
            .unwrap()
            .is_empty()
    );
    let hit_case = w
        .svc
        .register_case(&officer.actor, &web(), "border", lis, &listed)
        .await
        .unwrap();
    let clear = crossing(&w.svc, 8, "Demo Comfort", "Gbessagee").await;
    w.svc
        .register_case(&officer.actor, &web(), "border", lis, &clear)
        .await
        .unwrap();
    // Spelled another way and in another order: still flagged.
    let variant = crossing(&w.svc, 9, "Demo Tarpeh", "Sumaworo").await;
    let variant_case = w
        .svc
        .register_case(&officer.actor, &web(), "border", lis, &variant)
        .await
        .unwrap();

    let hits = w
        .svc
        .screening_hits(&officer.actor, &web(), lis, true)
        .await
        .unwrap();
    let mut flagged: Vec<(uuid::Uuid, &str)> =
        hits.iter().map(|h| (h.case_id, h.entry_ref.as_str())).collect();
    flagged.sort();
    let mut expected = vec![(hit_case.id, "W-001"), (variant_case.id, "W-002")];
    expected.sort();
    assert_eq!(flagged, expected, "{hits:?}");
    let hit = hits.iter().find(|h| h.case_id == hit_case.id).unwrap();
    assert_eq!(hit.watchlist, "Demo alert list");
    assert!(hit.case_number.starts_with("BORDER-"));
    assert!(
        hit.score >= 0.8 && hit.explanation.contains("name parts matched"),
        "{hit:?}"
    );
    assert!(!hit.explanation.contains("Zayzay") && !hit.explanation.contains("Kpakolo"));

    // Another organisation's staff do not see the queue; a caseworker may not decide.
    let caseworker = w.sign_in("caseworker").await;
    assert!(
        w.svc
            .screening_hits(&caseworker.actor, &web(), lis, true)
            .await
            .is_err()
    );
    assert!(
        w.svc
            .review_hit(&caseworker.actor, &web(), hit.id, true)
            .await
            .is_err()
    );

    w.svc
        .review_hit(&officer.actor, &web(), hit.id, true)
        .await
        .unwrap();
    assert!(matches!(
        w.svc.review_hit(&officer.actor, &web(), hit.id, false).await,
        Err(ServiceError::Conflict(_))
    ));
    let open = w
        .svc
        .screening_hits(&officer.actor, &web(), lis, true)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    let all = w
        .svc
        .screening_hits(&officer.actor, &web(), lis, false)
        .await
        .unwrap();
    assert_eq!(all.iter().find(|h| h.id == hit.id).unwrap().status, "confirmed");
}

#[tokio::test]
async fn a_bad_list_is_refused_whole_and_names_the_line() {
    let w = World::new().await;
    let lis = immigration(&w).await;
    let officer = w.sign_in("border").await;
    let ragged = "id,full_name,date_of_birth\nW-1,Demo Listed Person,1980\nW-2,Demo Other\n";
    match w
        .svc
        .upload_watchlist(&officer.actor, &web(), lis, "Broken", ragged.as_bytes())
        .await
    {
        Err(ServiceError::InvalidRecord(problems)) => {
            assert_eq!(problems[0].path, "line 3");
            assert!(
                problems[0].reason.contains("has 2 fields, the header has 3"),
                "{problems:?}"
            );
            assert!(!problems[0].reason.contains("Demo Other"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        w.svc.watchlists(&officer.actor, lis).await.unwrap().is_empty(),
        "nothing half-saved"
    );
    assert!(matches!(
        w.svc
            .upload_watchlist(&officer.actor, &web(), lis, " ", LIST.as_bytes())
            .await,
        Err(ServiceError::InvalidRecord(_))
    ));
    // Only those who manage lists may upload them.
    let caseworker = w.sign_in("caseworker").await;
    assert!(
        w.svc
            .upload_watchlist(&caseworker.actor, &web(), lis, "Demo alert list", LIST.as_bytes())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_index_is_rebuilt_when_passage_starts_again_and_replaced_on_upload() {
    // The same master key for every start, as from a key file.
    let key_file = std::env::temp_dir().join(format!("passage-test-{}.key", uuid::Uuid::now_v7()));
    MasterKey::generate().unwrap().write_new(&key_file).unwrap();
    let w = World::with_key(MasterKey::read(&key_file).unwrap()).await;
    let lis = immigration(&w).await;
    let first = passage_on(&w, MasterKey::read(&key_file).unwrap()).await;
    first
        .upload_watchlist(
            &Actor::Operator,
            &Ctx::cli(),
            lis,
            "Demo alert list",
            LIST.as_bytes(),
        )
        .await
        .unwrap();
    drop(first);

    let restarted = passage_on(&w, MasterKey::read(&key_file).unwrap()).await;
    std::fs::remove_file(&key_file).unwrap();
    let listed = crossing(&restarted, 11, "Demo Zayzay", "Kpakolo").await;
    let case = restarted
        .register_case(&Actor::Operator, &Ctx::cli(), "border", lis, &listed)
        .await
        .unwrap();
    let hits = restarted
        .screening_hits(&Actor::Operator, &Ctx::cli(), lis, true)
        .await
        .unwrap();
    assert_eq!(hits.iter().filter(|h| h.case_id == case.id).count(), 1);

    // Uploading the list again under its name replaces it: the old entries no longer flag.
    let replaced = "id,full_name\nW-009,Demo Someone Else\n";
    let summary = restarted
        .upload_watchlist(
            &Actor::Operator,
            &Ctx::cli(),
            lis,
            "Demo alert list",
            replaced.as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            summary.entries,
            restarted.watchlists(&Actor::Operator, lis).await.unwrap().len()
        ),
        (1, 1)
    );
    let again = crossing(&restarted, 12, "Demo Zayzay", "Kpakolo").await;
    let case = restarted
        .register_case(&Actor::Operator, &Ctx::cli(), "border", lis, &again)
        .await
        .unwrap();
    let hits = restarted
        .screening_hits(&Actor::Operator, &Ctx::cli(), lis, true)
        .await
        .unwrap();
    assert_eq!(hits.iter().filter(|h| h.case_id == case.id).count(), 0);
}
