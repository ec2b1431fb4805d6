//! The master key: a wrong key is refused before anything is written, and rotation re-wraps
//! every record's data key so that records, their search and the audit chain survive it.
//! Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::Actor;
use passage_service::{Ctx, MasterKey, ServiceError};
use support::{World, answers, web};

fn key_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    MasterKey::generate().unwrap().write_new(&path).unwrap();
    path
}

#[tokio::test]
async fn rotating_the_master_key_keeps_records_readable_and_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (key_file(dir.path(), "old.key"), key_file(dir.path(), "new.key"));
    let w = World::with_key(MasterKey::read(&old).unwrap()).await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    let devices = w.svc.seed_demo_devices().await.unwrap();

    // Another key file is refused at start, naming both fingerprints.
    let stranger = MasterKey::generate().unwrap();
    let found = stranger.fingerprint();
    match World::open(&w.t, stranger).await {
        Err(ServiceError::WrongMasterKey { expected, found: f }) => {
            assert_eq!(expected, MasterKey::read(&old).unwrap().fingerprint());
            assert_eq!(f, found);
        }
        other => panic!("a wrong key must be refused: {other:?}"),
    }

    assert!(matches!(
        w.svc
            .rotate_master_key(&Ctx::cli(), &MasterKey::read(&old).unwrap())
            .await,
        Err(ServiceError::Invalid(_))
    ));
    let done = w
        .svc
        .rotate_master_key(&Ctx::cli(), &MasterKey::read(&new).unwrap())
        .await
        .unwrap();
    // The case, its person and the demo devices (the watchlists and submissions of the demo
    // are none here) each had a data key.
    assert!(done.data_keys >= 2 + devices.len() as u64, "{done:?}");
    assert_eq!(done.new_fingerprint, MasterKey::read(&new).unwrap().fingerprint());

    // After a restart with the new key: records open, blind-index search still finds them,
    // and the chain holds the rotation.
    let after = World::open(&w.t, MasterKey::read(&new).unwrap()).await.unwrap();
    let caseworker = {
        let s = after
            .login(
                &web(),
                "caseworker",
                &w.passwords.iter().find(|(u, _)| u == "caseworker").unwrap().1,
                "x",
            )
            .await
            .unwrap();
        support::finish_sign_in(&after, &w.phones, &s).await;
        after.authenticate_session(&s.token).await.unwrap()
    };
    let read = after.case(&caseworker.actor, &web(), case.id).await.unwrap();
    assert_eq!(read.answers.values["given_name"], "Musu");
    let found = after
        .find_cases(&caseworker.actor, &web(), w.iom, "family_name", "kollie-example")
        .await
        .unwrap();
    assert_eq!(found, [case.id]);
    let chain = after.verify_audit_chain(&Actor::Operator).await.unwrap();
    assert!(chain.first_break.is_none());
    // The old key opens nothing any more.
    assert!(matches!(
        World::open(&w.t, MasterKey::read(&old).unwrap()).await,
        Err(ServiceError::WrongMasterKey { .. })
    ));
}
