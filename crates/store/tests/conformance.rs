//! One conformance suite for both backends: always on SQLite, and on PostgreSQL when
//! PASSAGE_TEST_DATABASE_URL is set (each test gets its own database).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use passage_domain::{
    AuditAction, AuditEvent, Channel, DisplayName, OrgId, OrgKind, OrgName, Permission, Role, Timestamp,
    TokenId, TokenScope, UserId, Username,
};
use passage_store::test_support::TestDb;
use passage_store::{StoreError, audit, auth, orgs, places, users};

fn org(name: &str, host: bool) -> orgs::Organisation {
    orgs::Organisation {
        id: OrgId::generate(),
        name: OrgName::parse(name).unwrap(),
        kind: OrgKind::Government,
        is_host: host,
        created_at: Timestamp::from_micros(1_790_000_000_123_456),
    }
}

fn user(name: &str) -> users::User {
    users::User {
        id: UserId::generate(),
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse("Demo Person (fictional)").unwrap(),
        email: None,
        disabled: false,
        created_at: Timestamp::from_micros(1_790_000_000_000_001),
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let [sqlite, postgres] = passage_store::Db::migration_versions();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

#[tokio::test]
async fn migrations_are_idempotent_and_seed_reference_data() {
    let t = TestDb::new().await.unwrap();
    t.db.migrate().await.unwrap();
    let (applied, known) = t.db.migration_status().await.unwrap();
    assert_eq!(applied as usize, known);
    let mut c = t.db.acquire().await.unwrap();
    assert_eq!(places::counties(&mut c.conn()).await.unwrap().len(), 15);
    let points = places::crossing_points(&mut c.conn()).await.unwrap();
    assert!(
        points
            .iter()
            .any(|p| p.name == "Bo Waterside" && p.neighbour.as_deref() == Some("SLE"))
    );
    let roles = users::roles(&mut c.conn()).await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.role.as_str()).collect();
    assert_eq!(
        names,
        [
            Role::ADMINISTRATOR,
            Role::PROGRAMME_MANAGER,
            Role::CASEWORKER,
            Role::BORDER_OFFICER,
            Role::ME_OFFICER,
            Role::PARTNER_VIEWER,
            Role::AUDITOR,
            Role::DATA_PROTECTION_FOCAL_POINT
        ]
    );
    // Every stored permission is one the code knows.
    assert!(roles.iter().all(|r| !r.permissions.is_empty()));
}

#[tokio::test]
async fn every_wrapped_data_key_column_is_known_to_rotation() {
    let t = TestDb::new().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let sql = match t.db.backend() {
        passage_store::Backend::Sqlite => {
            "select m.name from sqlite_master m join pragma_table_info(m.name) p \
             where m.type = 'table' and p.name = 'wrapped_key' order by m.name"
        }
        passage_store::Backend::Postgres => {
            "select table_name::text from information_schema.columns \
             where column_name = 'wrapped_key' and table_schema = current_schema() order by table_name"
        }
    };
    let tables: Vec<(String,)> = match c.conn() {
        passage_store::Conn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await.unwrap(),
        passage_store::Conn::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut *c).await.unwrap(),
    };
    let mut known = passage_store::keys::WRAPPED_KEY_TABLES.to_vec();
    known.sort_unstable();
    assert_eq!(tables.iter().map(|(t,)| t.as_str()).collect::<Vec<_>>(), known);
    assert!(
        !passage_store::keys::holds_sealed_data(&mut c.conn())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn organisations_are_unique_by_name_and_there_is_one_host() {
    let t = TestDb::new().await.unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let host = org("IOM Liberia", true);
    orgs::insert(&mut tx.conn(), &host).await.unwrap();
    tx.commit().await.unwrap();

    let mut c = t.db.acquire().await.unwrap();
    let same_name = org("iom  LIBERIA", false);
    assert!(matches!(
        orgs::insert(&mut c.conn(), &same_name).await,
        Err(StoreError::Conflict)
    ));
    let second_host = org("Another host", true);
    assert!(matches!(
        orgs::insert(&mut c.conn(), &second_host).await,
        Err(StoreError::Conflict)
    ));

    let back = orgs::get(&mut c.conn(), host.id).await.unwrap().unwrap();
    assert_eq!(back, host, "timestamps and ids round-trip exactly");
    assert_eq!(orgs::host(&mut c.conn()).await.unwrap(), Some(host.id));
    assert_eq!(orgs::get(&mut c.conn(), OrgId::generate()).await.unwrap(), None);
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    let t = TestDb::new().await.unwrap();
    let o = org("Ministry of Labour", false);
    {
        let mut tx = t.db.begin().await.unwrap();
        orgs::insert(&mut tx.conn(), &o).await.unwrap();
        audit::append(
            &mut tx.conn(),
            &AuditEvent::new(o.created_at, AuditAction::OrgCreated, Channel::Cli),
        )
        .await
        .unwrap();
        // dropped without commit
    }
    let mut c = t.db.acquire().await.unwrap();
    assert_eq!(orgs::get(&mut c.conn(), o.id).await.unwrap(), None);
    assert_eq!(audit::head(&mut c.conn()).await.unwrap().0, 0);
}

#[tokio::test]
async fn users_memberships_and_grants() {
    let t = TestDb::new().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let o = org("NGO Shelter", false);
    orgs::insert(&mut c.conn(), &o).await.unwrap();
    let u = user("caseworker1");
    users::insert(&mut c.conn(), &u, "$argon2id$fake").await.unwrap();
    assert!(matches!(
        users::insert(&mut c.conn(), &user("caseworker1"), "x").await,
        Err(StoreError::Conflict)
    ));
    let (found, hash) = users::by_username(&mut c.conn(), &u.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, hash.as_str()), (u.clone(), "$argon2id$fake"));

    let at = Timestamp::from_micros(1);
    users::set_membership(&mut c.conn(), u.id, o.id, &Role::new(Role::CASEWORKER), at)
        .await
        .unwrap();
    let (grants, host) = users::grants(&mut c.conn(), u.id).await.unwrap();
    assert_eq!(host, None, "the shelter does not host");
    assert_eq!(grants.len(), 1);
    assert!(grants[0].permissions.contains(&Permission::CasesEdit));
    assert!(!grants[0].permissions.contains(&Permission::AuditView));

    // Changing the role replaces it.
    users::set_membership(&mut c.conn(), u.id, o.id, &Role::new(Role::AUDITOR), at)
        .await
        .unwrap();
    let (grants, host) = users::grants(&mut c.conn(), u.id).await.unwrap();
    assert_eq!(host, None, "the shelter does not host");
    assert_eq!(grants[0].role.as_str(), Role::AUDITOR);
    assert!(grants[0].permissions.contains(&Permission::AuditView));

    // Unknown roles and users are refused by foreign keys.
    assert!(
        users::set_membership(&mut c.conn(), u.id, o.id, &Role::new("wizard"), at)
            .await
            .is_err()
    );
    assert!(
        users::set_membership(
            &mut c.conn(),
            UserId::generate(),
            o.id,
            &Role::new(Role::AUDITOR),
            at
        )
        .await
        .is_err()
    );

    let members = users::members(&mut c.conn(), Some(o.id)).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        users::members(&mut c.conn(), Some(OrgId::generate()))
            .await
            .unwrap()
            .len(),
        0
    );
    users::remove_membership(&mut c.conn(), u.id, o.id).await.unwrap();
    assert!(matches!(
        users::remove_membership(&mut c.conn(), u.id, o.id).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn sessions_tokens_and_login_failures() {
    let t = TestDb::new().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let u = user("border1");
    users::insert(&mut c.conn(), &u, "h").await.unwrap();
    let s = auth::Session {
        token_hash: vec![7; 32],
        user_id: u.id,
        csrf_token: "csrf".into(),
        created_at: Timestamp::from_micros(100),
        last_seen_at: Timestamp::from_micros(100),
        expires_at: Timestamp::from_micros(1_000),
        second_factor: auth::FactorState::Verify,
    };
    auth::insert_session(&mut c.conn(), &s).await.unwrap();
    assert_eq!(
        auth::session(&mut c.conn(), &[7; 32]).await.unwrap(),
        Some(s.clone())
    );
    assert!(
        auth::complete_second_factor(&mut c.conn(), &[7; 32])
            .await
            .unwrap()
    );
    assert_eq!(
        auth::session(&mut c.conn(), &[7; 32])
            .await
            .unwrap()
            .unwrap()
            .second_factor,
        auth::FactorState::Done
    );
    assert_eq!(
        auth::count_user_sessions(&mut c.conn(), u.id, Timestamp::from_micros(500))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        auth::delete_stale_sessions(
            &mut c.conn(),
            Timestamp::from_micros(500),
            Timestamp::from_micros(50)
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(auth::delete_user_sessions(&mut c.conn(), u.id).await.unwrap(), 1);
    assert_eq!(auth::session(&mut c.conn(), &[7; 32]).await.unwrap(), None);

    let tok = auth::ApiToken {
        id: TokenId::generate(),
        user_id: u.id,
        name: "sync script".into(),
        scope: TokenScope::Read,
        created_at: Timestamp::from_micros(5),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    };
    auth::insert_token(&mut c.conn(), &tok, &[9; 32]).await.unwrap();
    assert_eq!(
        auth::token_by_hash(&mut c.conn(), &[9; 32]).await.unwrap(),
        Some(tok.clone())
    );
    assert!(matches!(
        auth::revoke_token(
            &mut c.conn(),
            tok.id,
            UserId::generate(),
            Timestamp::from_micros(6)
        )
        .await,
        Err(StoreError::NotFound)
    ));
    auth::revoke_token(&mut c.conn(), tok.id, u.id, Timestamp::from_micros(6))
        .await
        .unwrap();
    let revoked = auth::token_by_hash(&mut c.conn(), &[9; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp::from_micros(6)));

    for i in 0..3 {
        auth::record_login_failure(&mut c.conn(), b"acct", b"addr", Timestamp::from_micros(10 + i))
            .await
            .unwrap();
    }
    auth::record_login_failure(&mut c.conn(), b"other", b"addr", Timestamp::from_micros(20))
        .await
        .unwrap();
    let counts = auth::login_failures_since(&mut c.conn(), b"acct", b"addr", Timestamp::from_micros(10))
        .await
        .unwrap();
    assert_eq!(counts, (2, 3));
    auth::clear_login_failures(&mut c.conn(), b"acct").await.unwrap();
    let counts = auth::login_failures_since(&mut c.conn(), b"acct", b"addr", Timestamp::from_micros(0))
        .await
        .unwrap();
    assert_eq!(counts, (0, 1));

    let k1 = auth::installation_key(&mut c.conn(), Timestamp::from_micros(1), &[1; 32])
        .await
        .unwrap();
    let k2 = auth::installation_key(&mut c.conn(), Timestamp::from_micros(2), &[2; 32])
        .await
        .unwrap();
    assert_eq!(k1, vec![1; 32]);
    assert_eq!(k2, k1, "the key is created once");
}

#[tokio::test]
async fn audit_events_chain_and_cannot_be_changed() {
    let t = TestDb::new().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let o = org("Liberia Immigration Service", false);
    orgs::insert(&mut c.conn(), &o).await.unwrap();
    for i in 0..3 {
        let e = AuditEvent::new(
            Timestamp::from_micros(1_000 + i),
            AuditAction::OrgCreated,
            Channel::Web,
        )
        .org(Some(o.id))
        .target("organisation", o.id)
        .detail("n", i);
        assert_eq!(audit::append(&mut c.conn(), &e).await.unwrap(), i + 1);
    }
    let events = audit::batch_after(&mut c.conn(), 0, 100).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].prev_hash, vec![0; 32]);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(events[2].prev_hash, events[1].hash);
    assert_eq!(
        audit::head(&mut c.conn()).await.unwrap(),
        (3, events[2].hash.clone())
    );
    for e in &events {
        assert_eq!(
            passage_crypto::chain_hash(&e.prev_hash, &e.canonical_bytes()).to_vec(),
            e.hash
        );
    }

    assert!(
        passage_store::exec!(
            &mut c.conn(),
            sqlx::query("update audit_events set outcome = 'denied'")
        )
        .is_err()
    );
    assert!(passage_store::exec!(&mut c.conn(), sqlx::query("delete from audit_events")).is_err());

    let filter = audit::Filter {
        org: Some(o.id),
        action_prefix: Some("org.".into()),
        limit: 2,
        ..Default::default()
    };
    let page = audit::list(&mut c.conn(), &filter).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2]);
    let older = audit::list(
        &mut c.conn(),
        &audit::Filter {
            before_seq: Some(2),
            ..filter.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    let none = audit::list(
        &mut c.conn(),
        &audit::Filter {
            action_prefix: Some("auth.".into()),
            ..filter
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty());
    assert_eq!(
        audit::count_since(&mut c.conn(), None, Timestamp::from_micros(1_001))
            .await
            .unwrap(),
        2
    );
}

/// Each event links to the one before it, and its hash is that of its own content.
fn assert_chain_is_whole(events: &[passage_domain::ChainedEvent]) {
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    for e in events {
        assert_eq!(
            passage_crypto::chain_hash(&e.prev_hash, &e.canonical_bytes()).to_vec(),
            e.hash
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_never_fork_the_chain() {
    let t = TestDb::new().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let e = AuditEvent::new(Timestamp::from_micros(i), AuditAction::Login, Channel::Web);
            audit::append(&mut tx.conn(), &e).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut c = t.db.acquire().await.unwrap();
    let events = audit::batch_after(&mut c.conn(), 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=24).collect::<Vec<_>>()
    );
    assert_chain_is_whole(&events);
}

#[tokio::test]
async fn forms_cases_and_workflows_round_trip() {
    use passage_store::{cases, forms, workflow};
    let t = TestDb::new().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let o = org("IOM Liberia", true);
    orgs::insert(&mut c.conn(), &o).await.unwrap();
    let programmes = forms::programmes(&mut c.conn()).await.unwrap();
    assert_eq!(
        programmes.iter().map(|p| p.code.as_str()).collect::<Vec<_>>(),
        ["avrr", "ct", "rr", "border", "capacity"]
    );

    let v = forms::FormVersion {
        id: uuid::Uuid::now_v7(),
        programme: "ct".into(),
        version: "1".into(),
        title: "CT".into(),
        sha256: vec![1; 32],
        uploaded_by: None,
        uploaded_at: Timestamp::from_micros(10),
    };
    forms::insert_version(&mut c.conn(), &v, b"xlsx", "{}")
        .await
        .unwrap();
    assert!(matches!(
        forms::insert_version(&mut c.conn(), &v, b"x", "{}").await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        forms::current_versions(&mut c.conn()).await.unwrap(),
        std::slice::from_ref(&v)
    );
    assert_eq!(
        forms::content(&mut c.conn(), v.id).await.unwrap().unwrap().1,
        b"xlsx"
    );

    // Stages and moves are data; positions and flags decode on both backends.
    let stages = workflow::stages(&mut c.conn(), "ct").await.unwrap();
    assert_eq!(
        stages.first().map(|s| (s.code.as_str(), s.position, s.closed)),
        Some(("identified", 1, false))
    );
    assert!(stages.last().unwrap().closed);
    let moves = workflow::moves(&mut c.conn(), "avrr", "counselling")
        .await
        .unwrap();
    assert_eq!(
        moves,
        [
            ("eligibility_approved".to_owned(), true),
            ("closed".to_owned(), false)
        ]
    );

    assert_eq!(cases::next_number(&mut c.conn(), "ct", 2026).await.unwrap(), 1);
    assert_eq!(cases::next_number(&mut c.conn(), "ct", 2026).await.unwrap(), 2);
    assert_eq!(cases::next_number(&mut c.conn(), "ct", 2027).await.unwrap(), 1);
    let case = cases::StoredCase {
        id: uuid::Uuid::now_v7(),
        number: "CT-2026-000001".into(),
        programme: "ct".into(),
        owner_org: o.id,
        form_version: v.id,
        stage: "identified".into(),
        wrapped_key: Some(vec![7; 72]),
        reporting: r#"{"sex":"female"}"#.into(),
        identifying: Some(vec![1, 2, 3]),
        sensitive: None,
        created_by: None,
        created_at: Timestamp::from_micros(20),
        updated_at: Timestamp::from_micros(20),
        revision: 1,
        person_id: None,
        assigned_to: None,
        due_on: Some("2026-01-31".into()),
        county: Some("LR-MO".into()),
        closed: false,
    };
    cases::insert(&mut c.conn(), &case).await.unwrap();
    assert_eq!(
        cases::get(&mut c.conn(), case.id).await.unwrap(),
        Some(case.clone())
    );
    cases::insert_index(&mut c.conn(), case.id, &[("family_name".to_owned(), vec![9; 32])])
        .await
        .unwrap();
    assert_eq!(
        cases::find_by_index(&mut c.conn(), "family_name", &[9; 32])
            .await
            .unwrap(),
        [case.id]
    );
    let filter = |programme: &str| cases::CaseFilter {
        org: Some(o.id),
        programmes: vec![programme.to_owned()],
        limit: 10,
        ..Default::default()
    };
    let (page, total) = cases::search(&mut c.conn(), &filter("ct")).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    assert_eq!(cases::search(&mut c.conn(), &filter("avrr")).await.unwrap().1, 0);
    for (narrowed, expected) in [
        (
            cases::CaseFilter {
                county: Some("LR-MO".into()),
                ..filter("ct")
            },
            1,
        ),
        (
            cases::CaseFilter {
                county: Some("LR-BG".into()),
                ..filter("ct")
            },
            0,
        ),
        (
            cases::CaseFilter {
                stage: Some("identified".into()),
                ..filter("ct")
            },
            1,
        ),
        (
            cases::CaseFilter {
                number: Some("CT-2026-000001".into()),
                ..filter("ct")
            },
            1,
        ),
        (
            cases::CaseFilter {
                due_before: Some("2026-02-01".into()),
                ..filter("ct")
            },
            1,
        ),
        (
            cases::CaseFilter {
                due_before: Some("2026-01-31".into()),
                ..filter("ct")
            },
            0,
        ),
        (
            cases::CaseFilter {
                name_hashes: vec![vec![1; 32]],
                ..filter("ct")
            },
            0,
        ),
    ] {
        assert_eq!(
            cases::search(&mut c.conn(), &narrowed).await.unwrap().1,
            expected,
            "{narrowed:?}"
        );
    }

    // An edit applies only at the revision it was made from.
    let edited = cases::StoredCase {
        reporting: r#"{"sex":"male"}"#.into(),
        ..case.clone()
    };
    assert!(matches!(
        cases::update_answers(&mut c.conn(), &edited, 7).await,
        Err(StoreError::Conflict)
    ));
    cases::update_answers(&mut c.conn(), &edited, 1).await.unwrap();
    let version = cases::Version {
        revision: 2,
        at: Timestamp::from_micros(25),
        actor: None,
        changed: r#"["sex"]"#.into(),
        previous: vec![4, 5, 6],
    };
    cases::add_version(&mut c.conn(), case.id, &version)
        .await
        .unwrap();
    assert_eq!(
        cases::versions(&mut c.conn(), case.id, 1).await.unwrap(),
        [version]
    );
    assert!(
        cases::versions(&mut c.conn(), case.id, 2)
            .await
            .unwrap()
            .is_empty()
    );
    let case = cases::get(&mut c.conn(), case.id).await.unwrap().unwrap();
    assert_eq!((case.revision, case.reporting.as_str()), (2, r#"{"sex":"male"}"#));

    workflow::move_case(
        &mut c.conn(),
        case.id,
        "identified",
        "screened",
        2,
        Timestamp::from_micros(30),
    )
    .await
    .unwrap();
    assert!(matches!(
        workflow::move_case(
            &mut c.conn(),
            case.id,
            "identified",
            "screened",
            2,
            Timestamp::from_micros(31)
        )
        .await,
        Err(StoreError::Conflict)
    ));
    let entry = workflow::HistoryEntry {
        at: Timestamp::from_micros(30),
        actor: None,
        from_stage: "identified".into(),
        to_stage: "screened".into(),
        reason: None,
    };
    workflow::add_history(&mut c.conn(), case.id, &entry)
        .await
        .unwrap();
    assert_eq!(workflow::history(&mut c.conn(), case.id).await.unwrap(), [entry]);
    let moved = cases::get(&mut c.conn(), case.id).await.unwrap().unwrap();
    assert_eq!(
        (moved.stage.as_str(), moved.revision, moved.closed),
        ("screened", 3, false)
    );
    workflow::move_case(
        &mut c.conn(),
        case.id,
        "screened",
        "closed",
        3,
        Timestamp::from_micros(40),
    )
    .await
    .unwrap();
    let closed = cases::get(&mut c.conn(), case.id).await.unwrap().unwrap();
    assert!(closed.closed, "moving to a closing stage marks the case closed");
    let open = cases::CaseFilter {
        open_only: true,
        ..filter("ct")
    };
    assert_eq!(cases::search(&mut c.conn(), &open).await.unwrap().1, 0);
}

/// Writes sent at once share commits on SQLite; one that fails or panics is undone alone, and
/// every write is answered only once it is committed.
#[tokio::test]
async fn grouped_writes_undo_only_the_one_that_fails() {
    let t = TestDb::new().await.unwrap();
    let orgs_made: Vec<_> = (0..24)
        .map(|i| org(&format!("Grouped Org {i:02}"), false))
        .collect();
    let writes: Vec<_> = orgs_made
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (db, o) = (t.db.clone(), o.clone());
            tokio::spawn(async move {
                db.write_grouped(Box::new(move |conn| {
                    Box::pin(async move {
                        orgs::insert(conn, &o).await.unwrap();
                        audit::append(
                            conn,
                            &AuditEvent::new(o.created_at, AuditAction::OrgCreated, Channel::Cli),
                        )
                        .await
                        .unwrap();
                        match i {
                            5 => false,
                            9 => panic!("a bug in one write"),
                            _ => true,
                        }
                    })
                }))
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for write in writes {
        answers.push(write.await.unwrap());
    }
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.is_err(), i == 9, "write {i}: {answer:?}");
    }
    let mut c = t.db.acquire().await.unwrap();
    for (i, o) in orgs_made.iter().enumerate() {
        let stored = orgs::get(&mut c.conn(), o.id).await.unwrap();
        assert_eq!(stored.is_some(), i != 5 && i != 9, "org {i}");
    }
    // 22 kept writes, each with its event: the chain has no gap from the undone ones.
    assert_eq!(audit::head(&mut c.conn()).await.unwrap().0, 22);
    let events = audit::batch_after(&mut c.conn(), 0, 100).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=22).collect::<Vec<_>>());
}

/// A batch of events is chained like single appends: consecutive numbers, each linked to the
/// one before, in one movement of the head.
#[tokio::test]
async fn a_batch_of_audit_events_is_chained_in_order() {
    let t = TestDb::new().await.unwrap();
    let at = Timestamp::from_micros(1_790_000_000_000_000);
    let mut tx = t.db.begin().await.unwrap();
    audit::append(
        &mut tx.conn(),
        &AuditEvent::new(at, AuditAction::OrgCreated, Channel::Cli),
    )
    .await
    .unwrap();
    let batch: Vec<_> = (0..3)
        .map(|_| AuditEvent::new(at, AuditAction::OrgCreated, Channel::Api))
        .collect();
    assert_eq!(audit::append_all(&mut tx.conn(), &batch).await.unwrap(), 4);
    assert_eq!(audit::append_all(&mut tx.conn(), &[]).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let mut c = t.db.acquire().await.unwrap();
    let events = audit::batch_after(&mut c.conn(), 0, 10).await.unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_chain_is_whole(&events);
    assert_eq!(audit::head(&mut c.conn()).await.unwrap().1, events[3].hash);
}
