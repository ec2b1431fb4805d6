//! Use cases end to end on a real database (SQLite, or PostgreSQL when
//! PASSAGE_TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_crypto::PasswordHasher;
use passage_domain::{Actor, Clock, Denied, OrgId, Timestamp, TokenScope};
use passage_service::{
    AuditQuery, Authenticated, Ctx, FactorState, NewSession, NewUser, Passage, ServiceError, Settings,
};
use passage_store::test_support::{Authenticator, TestDb};
use passage_store::{Backend, exec};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
struct ManualClock(AtomicI64);

impl ManualClock {
    fn advance(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

struct World {
    t: TestDb,
    svc: Passage,
    clock: Arc<ManualClock>,
    iom: OrgId,
    shelter: OrgId,
    passwords: Vec<(String, String)>,
    phones: Authenticator,
}

impl World {
    async fn new(settings: Settings) -> Self {
        let t = TestDb::new().await.unwrap();
        let clock = Arc::new(ManualClock(AtomicI64::new(1_795_000_000_000_000)));
        let svc = Passage::new(
            t.db.clone(),
            clock.clone(),
            PasswordHasher::fast_for_tests().unwrap(),
            settings,
            passage_service::MasterKey::generate().unwrap(),
        )
        .await
        .unwrap();
        let accounts = svc.seed_demo().await.unwrap();
        let orgs = svc.organisations(&Actor::Operator).await.unwrap();
        let id = |name: &str| orgs.iter().find(|o| o.name.as_str() == name).unwrap().id;
        Self {
            iom: id("IOM Liberia"),
            shelter: id("Safe Haven Shelter (fictional NGO)"),
            passwords: accounts.into_iter().map(|a| (a.username, a.password)).collect(),
            t,
            svc,
            clock,
            phones: Authenticator::default(),
        }
    }

    fn password(&self, user: &str) -> &str {
        &self.passwords.iter().find(|(u, _)| u == user).unwrap().1
    }

    /// Sign in with the password and, where needed, the authenticator app's code.
    async fn login(&self, user: &str, address: &str) -> NewSession {
        let s = self
            .svc
            .login(&web(), user, self.password(user), address)
            .await
            .unwrap();
        support::finish_sign_in(&self.svc, &self.phones, &s).await;
        s
    }

    async fn sign_in(&self, user: &str) -> Authenticated {
        let s = self.login(user, "10.0.0.1").await;
        self.svc.authenticate_session(&s.token).await.unwrap()
    }
}

fn web() -> Ctx {
    Ctx {
        channel: passage_domain::Channel::Web,
        request_id: Some("test-request".into()),
    }
}

#[tokio::test]
async fn sign_in_and_wrong_passwords() {
    let w = World::new(Settings::default()).await;
    let who = w.sign_in("caseworker").await;
    assert_eq!(who.user.username.as_str(), "caseworker");
    assert!(who.csrf_token.is_some());
    assert!(matches!(
        w.svc
            .login(&web(), "caseworker", "not-the-password", "10.0.0.1")
            .await,
        Err(ServiceError::BadCredentials)
    ));
    assert!(matches!(
        w.svc
            .login(&web(), "nobody-here", "whatever-password", "10.0.0.1")
            .await,
        Err(ServiceError::BadCredentials)
    ));
    // Usernames are not case-sensitive.
    assert!(
        w.svc
            .login(&web(), " CaseWorker ", w.password("caseworker"), "10.0.0.1")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_then_the_address() {
    let w = World::new(Settings {
        max_failures_per_account: 3,
        max_failures_per_address: 5,
        ..Settings::default()
    })
    .await;
    for _ in 0..3 {
        let r = w
            .svc
            .login(&web(), "auditor", "wrong-password-x", "10.0.0.9")
            .await;
        assert!(matches!(r, Err(ServiceError::BadCredentials)));
    }
    // Even the right password is refused while the account is throttled, from anywhere.
    let r = w
        .svc
        .login(&web(), "auditor", w.password("auditor"), "10.0.0.77")
        .await;
    assert!(matches!(r, Err(ServiceError::Throttled { .. })), "{r:?}");
    // Two more failures on other accounts from the same address reach the address limit.
    for user in ["manager", "dpo"] {
        let r = w.svc.login(&web(), user, "wrong-password-x", "10.0.0.9").await;
        assert!(matches!(r, Err(ServiceError::BadCredentials)));
    }
    let r = w
        .svc
        .login(&web(), "admin", w.password("admin"), "10.0.0.9")
        .await;
    assert!(matches!(r, Err(ServiceError::Throttled { .. })));
    assert!(
        w.svc
            .login(&web(), "admin", w.password("admin"), "10.0.0.10")
            .await
            .is_ok()
    );
    // The window passes.
    w.clock.advance(16 * 60);
    assert!(
        w.svc
            .login(&web(), "auditor", w.password("auditor"), "10.0.0.9")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn sessions_end_when_idle_or_too_old_and_everywhere_on_request() {
    let w = World::new(Settings::default()).await;
    let s = w.login("caseworker", "a").await;
    w.clock.advance(29 * 60);
    assert!(
        w.svc.authenticate_session(&s.token).await.is_ok(),
        "activity keeps it alive"
    );
    w.clock.advance(29 * 60);
    assert!(w.svc.authenticate_session(&s.token).await.is_ok());
    w.clock.advance(31 * 60);
    assert!(matches!(
        w.svc.authenticate_session(&s.token).await,
        Err(ServiceError::SessionExpired)
    ));

    // Absolute limit: active every 20 minutes, still ends after 12 hours.
    let s = w.login("caseworker", "a").await;
    for _ in 0..(12 * 3) {
        w.clock.advance(20 * 60);
        if w.svc.authenticate_session(&s.token).await.is_err() {
            break;
        }
    }
    assert!(matches!(
        w.svc.authenticate_session(&s.token).await,
        Err(ServiceError::SessionExpired)
    ));

    let a = w.login("manager", "a").await;
    let b = w.login("manager", "b").await;
    assert_eq!(w.svc.active_sessions(a.user_id).await.unwrap(), 2);
    assert_eq!(w.svc.logout_everywhere(&web(), a.user_id).await.unwrap(), 2);
    assert!(w.svc.authenticate_session(&a.token).await.is_err());
    assert!(w.svc.authenticate_session(&b.token).await.is_err());
    assert!(w.svc.authenticate_session("made-up-token").await.is_err());
}

#[tokio::test]
async fn other_organisations_answer_not_found() {
    let w = World::new(Settings::default()).await;
    let shelter = w.sign_in("shelter.caseworker").await;
    assert!(matches!(
        w.svc.organisation(&shelter.actor, w.iom).await,
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        w.svc.members(&shelter.actor, &web(), w.iom).await,
        Err(ServiceError::NotFound)
    ));
    assert!(w.svc.organisation(&shelter.actor, w.shelter).await.is_ok());
    let visible = w.svc.organisations(&shelter.actor).await.unwrap();
    assert_eq!(visible.iter().map(|o| o.id).collect::<Vec<_>>(), [w.shelter]);
    let users = w.svc.users(&shelter.actor, &web()).await.unwrap();
    assert!(users.iter().all(|m| m.org == w.shelter));

    // A caseworker may not create organisations or accounts, even in their own organisation.
    let new = NewUser {
        username: "intruder".into(),
        display_name: "Intruder (fictional)".into(),
        email: None,
        password: "long-enough-password-1".into(),
        org: w.shelter,
        role: "administrator".into(),
    };
    assert!(matches!(
        w.svc.create_user(&shelter.actor, &web(), &new).await,
        Err(ServiceError::Denied(Denied::Forbidden))
    ));
    assert!(matches!(
        w.svc
            .create_org(&shelter.actor, &web(), "New NGO", "ngo", false)
            .await,
        Err(ServiceError::Denied(Denied::Forbidden))
    ));

    // The host's administrator manages every organisation's members.
    let admin = w.sign_in("admin").await;
    let created = w.svc.create_user(&admin.actor, &web(), &new).await.unwrap();
    assert_eq!(created.username.as_str(), "intruder");
    assert!(
        w.svc
            .members(&admin.actor, &web(), w.shelter)
            .await
            .unwrap()
            .iter()
            .any(|m| m.user.id == created.id)
    );
    assert!(matches!(
        w.svc.create_user(&admin.actor, &web(), &new).await,
        Err(ServiceError::Conflict(_))
    ));
    let bad_role = NewUser {
        username: "someone".into(),
        role: "wizard".into(),
        ..new.clone()
    };
    match w.svc.create_user(&admin.actor, &web(), &bad_role).await {
        Err(ServiceError::Invalid(v)) => assert_eq!(v.field, "role"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn password_reset_ends_sessions_and_is_limited_to_managers() {
    let w = World::new(Settings::default()).await;
    let s = w
        .svc
        .login(&web(), "border", w.password("border"), "a")
        .await
        .unwrap();
    let caseworker = w.sign_in("caseworker").await;
    assert!(matches!(
        w.svc
            .reset_password(&caseworker.actor, &web(), "border", "a-brand-new-password")
            .await,
        Err(ServiceError::NotFound)
    ));
    let admin = w.sign_in("admin").await;
    w.svc
        .reset_password(&admin.actor, &web(), "border", "a-brand-new-password")
        .await
        .unwrap();
    assert!(w.svc.authenticate_session(&s.token).await.is_err());
    assert!(
        w.svc
            .login(&web(), "border", "a-brand-new-password", "a")
            .await
            .is_ok()
    );
    assert!(matches!(
        w.svc
            .reset_password(&admin.actor, &web(), "border", "short")
            .await,
        Err(ServiceError::Invalid(_))
    ));
}

#[tokio::test]
async fn api_tokens_are_scoped_and_revocable() {
    let w = World::new(Settings::default()).await;
    let admin = w.sign_in("admin").await;
    let (read, read_secret) = w
        .svc
        .create_token(&web(), &admin, "reader", TokenScope::Read, Some(30))
        .await
        .unwrap();
    let (_, write_secret) = w
        .svc
        .create_token(&web(), &admin, "writer", TokenScope::Write, None)
        .await
        .unwrap();
    assert!(read_secret.starts_with("psg_"));

    let via_read = w.svc.authenticate_token(&read_secret).await.unwrap();
    assert!(w.svc.organisations(&via_read.actor).await.unwrap().len() == 5);
    assert!(matches!(
        w.svc
            .create_org(&via_read.actor, &web(), "Read-only attempt", "ngo", false)
            .await,
        Err(ServiceError::Denied(Denied::ReadOnlyToken))
    ));
    let via_write = w.svc.authenticate_token(&write_secret).await.unwrap();
    assert!(
        w.svc
            .create_org(&via_write.actor, &web(), "Write attempt", "ngo", false)
            .await
            .is_ok()
    );
    // A token cannot mint tokens.
    assert!(
        w.svc
            .create_token(&web(), &via_write, "chain", TokenScope::Write, None)
            .await
            .is_err()
    );

    w.svc.revoke_token(&web(), &admin, read.id).await.unwrap();
    assert!(matches!(
        w.svc.authenticate_token(&read_secret).await,
        Err(ServiceError::BadToken)
    ));
    let tokens = w.svc.tokens(&admin).await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().any(|t| t.id == read.id && t.revoked_at.is_some()));

    let (_, short) = w
        .svc
        .create_token(&web(), &admin, "short", TokenScope::Read, Some(1))
        .await
        .unwrap();
    w.clock.advance(2 * 86_400);
    assert!(matches!(
        w.svc.authenticate_token(&short).await,
        Err(ServiceError::BadToken)
    ));
}

#[tokio::test]
async fn every_write_and_personal_read_is_audited_without_personal_values() {
    let w = World::new(Settings::default()).await;
    let admin = w.sign_in("admin").await;
    let _ = w
        .svc
        .login(&web(), "caseworker", "wrong-password-here", "10.1.2.3")
        .await;
    w.svc.members(&admin.actor, &web(), w.shelter).await.unwrap();
    w.svc.users(&admin.actor, &web()).await.unwrap();

    let auditor = w.sign_in("auditor").await;
    let page = w
        .svc
        .audit_events(
            &auditor.actor,
            &web(),
            &AuditQuery {
                limit: 200,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = page.events.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "org.create",
        "user.create",
        "membership.add",
        "auth.login",
        "auth.login_failed",
        "org.members_list",
        "user.list",
        "demo.seed",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let failed = page
        .events
        .iter()
        .find(|e| e.action == "auth.login_failed")
        .unwrap();
    assert_eq!(failed.outcome, "failure");
    assert_eq!(failed.request_id.as_deref(), Some("test-request"));

    // No username, display name, e-mail, password or client address in any audit row.
    let mut text = String::new();
    for e in &page.events {
        text.push_str(&format!("{:?}\n", e));
    }
    for (user, password) in &w.passwords {
        assert!(!text.contains(password.as_str()));
        assert!(!text.contains(&format!("\"{user}\"")), "username {user} in audit");
        assert!(!text.contains(&format!("{}@demo", user.replace('.', "-"))));
    }
    assert!(!text.contains("Demo Caseworker"));
    assert!(!text.contains("10.1.2.3"));

    // A caseworker cannot read the audit trail.
    let caseworker = w.sign_in("caseworker").await;
    assert!(
        w.svc
            .audit_events(&caseworker.actor, &web(), &AuditQuery::default())
            .await
            .is_err()
    );
}

async fn tamper(t: &TestDb, statements: &[&'static str]) {
    let mut c = t.db.acquire().await.unwrap();
    let unlock: &[&'static str] = match t.db.backend() {
        Backend::Sqlite => &[
            "drop trigger audit_events_no_update",
            "drop trigger audit_events_no_delete",
        ],
        Backend::Postgres => &["drop trigger audit_events_no_update on audit_events"],
    };
    for s in unlock.iter().chain(statements) {
        exec!(&mut c.conn(), sqlx::query(*s)).unwrap();
    }
}

#[tokio::test]
async fn verification_names_the_first_broken_link() {
    let w = World::new(Settings::default()).await;
    let report = w.svc.verify_audit_chain(&Actor::Operator).await.unwrap();
    assert!(report.first_break.is_none());
    assert!(report.checked > 20);
    let auditor = w.sign_in("auditor").await;
    assert!(
        w.svc
            .verify_audit_chain(&auditor.actor)
            .await
            .unwrap()
            .first_break
            .is_none()
    );
    let caseworker = w.sign_in("caseworker").await;
    assert!(w.svc.verify_audit_chain(&caseworker.actor).await.is_err());

    tamper(
        &w.t,
        &["update audit_events set outcome = 'denied' where seq = 7"],
    )
    .await;
    let b = w
        .svc
        .verify_audit_chain(&Actor::Operator)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(b.seq, 7);
    assert!(b.reason.contains("changed"), "{}", b.reason);
}

#[tokio::test]
async fn verification_detects_deleted_and_truncated_events() {
    let w = World::new(Settings::default()).await;
    tamper(&w.t, &["delete from audit_events where seq = 5"]).await;
    let b = w
        .svc
        .verify_audit_chain(&Actor::Operator)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(b.seq, 5);
    assert!(b.reason.contains("deleted"), "{}", b.reason);

    let w = World::new(Settings::default()).await;
    let total = w.svc.verify_audit_chain(&Actor::Operator).await.unwrap().checked;
    tamper(
        &w.t,
        &["delete from audit_events where seq = (select max(seq) from audit_events)"],
    )
    .await;
    let b = w
        .svc
        .verify_audit_chain(&Actor::Operator)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(b.seq, total);
    assert!(b.reason.contains("end"), "{}", b.reason);
}

#[tokio::test]
async fn verification_detects_an_inserted_event() {
    let w = World::new(Settings::default()).await;
    // Make room at seq 3 by moving everything up one, then insert a forged event there that
    // copies its neighbour's links: the chain must still break.
    tamper(
        &w.t,
        &[
            "update audit_events set seq = seq + 1000 where seq >= 3",
            "update audit_events set seq = seq - 999 where seq >= 1003",
            "insert into audit_events (seq, at, action, outcome, channel, details, prev_hash, hash) \
             select 3, at, 'auth.login', 'success', 'web', '{}', prev_hash, hash from audit_events where seq = 4",
        ],
    )
    .await;
    let b = w
        .svc
        .verify_audit_chain(&Actor::Operator)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert!(b.seq == 3 || b.seq == 4, "{b:?}");
}

#[tokio::test]
async fn home_counts_are_real_and_scoped() {
    let w = World::new(Settings::default()).await;
    let shelter = w.sign_in("shelter.caseworker").await;
    let home = w.svc.home(&shelter.actor).await.unwrap();
    assert_eq!(
        (
            home.organisations,
            home.colleagues,
            home.counties,
            home.crossing_points
        ),
        (1, 1, 15, 14)
    );
    assert_eq!(home.audit_events_today, None);
    let admin = w.sign_in("admin").await;
    let home = w.svc.home(&admin.actor).await.unwrap();
    assert_eq!((home.organisations, home.colleagues), (5, 9));
    let auditor = w.sign_in("auditor").await;
    assert!(
        w.svc
            .home(&auditor.actor)
            .await
            .unwrap()
            .audit_events_today
            .unwrap()
            > 0
    );
}

/// A small valid XLSForm for `form_id`, `version`, with `extra` survey rows appended.
fn xlsform(form_id: &str, version: &str, extra: &[[&str; 3]]) -> Vec<u8> {
    let mut survey: Vec<&[&str]> = vec![
        &["type", "name", "label"],
        &["text", "given_name", "Given name"],
        &["integer", "age", "Age"],
    ];
    survey.extend(extra.iter().map(|r| r.as_slice()));
    let settings: &[&[&str]] = &[&["form_id", "version"], &[form_id, version]];
    passage_xlsform::testing::workbook(&[("survey", &survey), ("settings", settings)])
}

#[tokio::test]
async fn shipped_forms_install_once_and_new_versions_replace_them() {
    let w = World::new(Settings::default()).await;
    assert_eq!(w.svc.install_shipped_forms().await.unwrap(), 5);
    assert_eq!(w.svc.install_shipped_forms().await.unwrap(), 0, "installed once");
    let before = w.svc.programmes().await.unwrap();
    let avrr = before
        .iter()
        .find(|p| p.programme.code == "avrr")
        .unwrap()
        .current
        .clone()
        .unwrap();
    let model = w.svc.form_model(avrr.id).await.unwrap();
    assert_eq!(model.id, "avrr_case");

    let me = w.sign_in("meofficer").await;
    w.clock.advance(1);
    let v2 = w
        .svc
        .upload_form(
            &me.actor,
            &web(),
            "avrr",
            &xlsform("avrr_case", "2099010101", &[]),
        )
        .await
        .unwrap();
    let after = w.svc.programmes().await.unwrap();
    let current = after
        .iter()
        .find(|p| p.programme.code == "avrr")
        .unwrap()
        .current
        .clone()
        .unwrap();
    assert_eq!((current.id, current.version.as_str()), (v2.id, "2099010101"));
    assert_eq!(
        w.svc.form_versions("avrr").await.unwrap().len(),
        2,
        "the old version is kept for its records"
    );
    assert_eq!(w.svc.form_model(v2.id).await.unwrap().fields().len(), 2);
    let (_, bytes) = w.svc.form_workbook(avrr.id).await.unwrap();
    assert_eq!(
        passage_crypto::sha256(&bytes).to_vec(),
        avrr.sha256,
        "the workbook is kept byte for byte"
    );
}

#[tokio::test]
async fn bad_form_uploads_are_refused_whole_with_their_reasons() {
    let w = World::new(Settings::default()).await;
    w.svc.install_shipped_forms().await.unwrap();
    let admin = w.sign_in("admin").await;
    let versions = || async { w.svc.form_versions("ct").await.unwrap().len() };
    let upload = |bytes: Vec<u8>| {
        let (svc, actor) = (w.svc.clone(), admin.actor.clone());
        async move { svc.upload_form(&actor, &web(), "ct", &bytes).await }
    };
    let problems = |r: Result<passage_service::FormVersion, ServiceError>| match r {
        Err(ServiceError::InvalidForm(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };

    let broken = xlsform(
        "ct_victim_case",
        "2099010101",
        &[["select_one nowhere", "x", "X"], ["text", "bad name", "Y"]],
    );
    let p = problems(upload(broken).await);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p[0].starts_with("survey row 4, column type: choice list `nowhere`"),
        "{p:?}"
    );
    assert!(p[1].starts_with("survey row 5, column name: `bad name`"), "{p:?}");

    let p = problems(upload(xlsform("avrr_case", "2099010101", &[])).await);
    assert_eq!(
        p,
        ["settings row 2, column form_id: is `avrr_case` but this programme's form is `ct_victim_case`"]
    );
    let p = problems(upload(xlsform("ct_victim_case", "", &[])).await);
    assert!(p[0].starts_with("settings row 2, column version: is required"));
    let current = w
        .svc
        .programmes()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.programme.code == "ct")
        .unwrap();
    let same = xlsform("ct_victim_case", &current.current.unwrap().version, &[]);
    assert!(problems(upload(same).await)[0].contains("already uploaded"));
    let p = problems(upload(b"not a workbook".to_vec()).await);
    assert!(p[0].starts_with("workbook: not a readable .xlsx"));
    assert_eq!(versions().await, 1, "nothing was written");

    let caseworker = w.sign_in("caseworker").await;
    let denied = w
        .svc
        .upload_form(
            &caseworker.actor,
            &web(),
            "ct",
            &xlsform("ct_victim_case", "2099", &[]),
        )
        .await;
    assert!(matches!(denied, Err(ServiceError::Denied(Denied::Forbidden))));
    assert!(matches!(
        w.svc
            .upload_form(&admin.actor, &web(), "nope", &xlsform("x", "1", &[]))
            .await,
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn generated_passwords_always_meet_the_rules() {
    for _ in 0..2000 {
        let p = passage_service::generate_password("", "dpo").unwrap();
        assert!(
            passage_domain::Password::parse(&p, &passage_domain::Username::parse("dpo").unwrap()).is_ok()
        );
    }
}

#[tokio::test]
async fn a_sign_in_waiting_for_its_code_ends_after_ten_minutes_and_the_secret_is_sealed() {
    let w = World::new(Settings::default()).await;
    let s = w.svc.login(&web(), "dpo", w.password("dpo"), "a").await.unwrap();
    assert_eq!(
        s.second_factor,
        FactorState::Enrol,
        "the focal point's role requires it"
    );
    assert!(matches!(
        w.svc.authenticate_session(&s.token).await,
        Err(ServiceError::SecondFactorRequired)
    ));
    let pending = w.svc.pending_sign_in(&s.token).await.unwrap();
    let setup = w.svc.start_enrolment(&pending.user).await.unwrap();
    assert!(
        setup
            .otpauth_uri
            .starts_with("otpauth://totp/Passage%3Adpo?secret=")
    );
    let raw: Vec<u8> = sqlx_secret(&w).await;
    let secret = passage_crypto::totp::parse_secret(&setup.secret).unwrap();
    assert!(
        !raw.windows(secret.len()).any(|win| win == secret.as_slice()),
        "the TOTP secret is stored sealed"
    );

    w.clock.advance(11 * 60);
    assert!(matches!(
        w.svc.pending_sign_in(&s.token).await,
        Err(ServiceError::SessionExpired)
    ));
    w.phones.add("dpo", &setup.secret);
    let code = w.phones.code("dpo", || w.svc.now().micros() / 1_000_000).await;
    assert!(matches!(
        w.svc.complete_sign_in(&web(), &pending, &code, "a").await,
        Err(ServiceError::SessionExpired)
    ));
    // A border officer's role does not require one: the password opens the session.
    let border = w
        .svc
        .login(&web(), "border", w.password("border"), "a")
        .await
        .unwrap();
    assert_eq!(border.second_factor, FactorState::Done);
}

async fn sqlx_secret(w: &World) -> Vec<u8> {
    let mut pooled = w.t.db.acquire().await.unwrap();
    let mut conn = pooled.conn();
    passage_store::on_conn!(
        &mut conn,
        sqlx::query_scalar::<_, Vec<u8>>("select secret from second_factors"),
        fetch_one
    )
    .unwrap()
}
