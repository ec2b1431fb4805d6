//! Altered ciphertext: a case whose sealed answers were changed in the database is not served;
//! it is flagged and the audit trail records the failed read. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_service::{AuditQuery, ServiceError};
use passage_store::Conn;
use support::{World, answers, web};

#[tokio::test]
async fn an_altered_record_is_flagged_not_served_and_audited() {
    let w = World::new().await;
    let caseworker = w.sign_in("caseworker").await;
    let case = w
        .svc
        .register_case(&caseworker.actor, &web(), "ct", w.iom, &answers())
        .await
        .unwrap();
    // Someone with database access flips one bit of the sealed identifying answers.
    {
        let mut pooled = w.t.db.acquire().await.unwrap();
        let select = "select identifying from cases where id = $1";
        let update = "update cases set identifying = $2 where id = $1";
        let (mut sealed,): (Vec<u8>,) = match pooled.conn() {
            Conn::Sqlite(c) => sqlx::query_as(select)
                .bind(case.id)
                .fetch_one(&mut *c)
                .await
                .unwrap(),
            Conn::Postgres(c) => sqlx::query_as(select)
                .bind(case.id)
                .fetch_one(&mut *c)
                .await
                .unwrap(),
        };
        let middle = sealed.len() / 2;
        sealed[middle] ^= 1;
        match pooled.conn() {
            Conn::Sqlite(c) => sqlx::query(update)
                .bind(case.id)
                .bind(&sealed)
                .execute(&mut *c)
                .await
                .unwrap()
                .rows_affected(),
            Conn::Postgres(c) => sqlx::query(update)
                .bind(case.id)
                .bind(&sealed)
                .execute(&mut *c)
                .await
                .unwrap()
                .rows_affected(),
        };
    }
    let read = w.svc.case(&caseworker.actor, &web(), case.id).await;
    assert!(matches!(read, Err(ServiceError::Tampered)), "{read:?}");
    assert!(!format!("{:?}", read).contains("Musu"));

    let flagged: (Option<i64>,) = {
        let mut pooled = w.t.db.acquire().await.unwrap();
        let q = "select integrity_failed_at from cases where id = $1";
        match pooled.conn() {
            Conn::Sqlite(c) => sqlx::query_as(q).bind(case.id).fetch_one(&mut *c).await.unwrap(),
            Conn::Postgres(c) => sqlx::query_as(q).bind(case.id).fetch_one(&mut *c).await.unwrap(),
        }
    };
    assert!(flagged.0.is_some(), "the case is flagged");
    let auditor = w.sign_in("auditor").await;
    let events = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &AuditQuery {
                limit: 20,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events;
    let failed = events
        .iter()
        .find(|e| e.action == "case.integrity_failed")
        .unwrap();
    assert_eq!(
        (failed.outcome.as_str(), failed.target_id.clone()),
        ("failure", Some(case.id.to_string()))
    );
}
