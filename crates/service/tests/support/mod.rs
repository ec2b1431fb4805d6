//! What the service tests share: a test world with the demo organisations and accounts, the
//! shipped forms plus a small counter-trafficking test form, and sample answers.

#![allow(dead_code)] // each test file uses its own part

use passage_crypto::PasswordHasher;
use passage_domain::{Actor, Channel, OrgId, SystemClock};
use passage_service::{Authenticated, Ctx, FactorState, Instance, NewSession, Passage, Settings};
use passage_store::test_support::{Authenticator, TestDb};
use std::sync::Arc;

/// The test form (`ct` programme) at `version`.
pub fn workbook(version: &str) -> Vec<u8> {
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "required", "passage_sensitivity"],
        &["text", "given_name", "Given name", "yes", "identifying"],
        &["text", "family_name", "Family name", "", "identifying"],
        &["select_one sex", "sex", "Sex", "yes", "reporting"],
        &["integer", "age", "Age", "", "reporting"],
        &["date", "identified_on", "Date identified", "", "reporting"],
        &[
            "select_multiple exploitation",
            "exploitation",
            "Forms of exploitation",
            "",
            "sensitive",
        ],
        &["text", "story", "What happened", "", "sensitive"],
        &["note", "privacy_note", "Keep this private", "", ""],
        &["begin repeat", "support", "Support", "", ""],
        &[
            "select_one support_type",
            "support_type",
            "Type",
            "yes",
            "reporting",
        ],
        &["text", "support_note", "Note", "", "sensitive"],
        &["end repeat", "", "", "", ""],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label"],
        &["sex", "female", "Female"],
        &["sex", "male", "Male"],
        &["exploitation", "forced_labour", "Forced labour"],
        &["exploitation", "sexual_exploitation", "Sexual exploitation"],
        &["support_type", "shelter", "Shelter"],
        &["support_type", "medical", "Medical"],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["ct_victim_case", version]];
    passage_xlsform::testing::workbook(&[("survey", survey), ("choices", choices), ("settings", settings)])
}

pub struct World {
    pub t: TestDb,
    pub svc: Passage,
    pub passwords: Vec<(String, String)>,
    /// The host organisation (IOM Liberia).
    pub iom: OrgId,
    /// The demo users' authenticator apps.
    pub phones: Authenticator,
}

/// Finish a sign-in's second factor as its user would: set up the authenticator app the first
/// time, then type its current code.
pub async fn finish_sign_in(svc: &Passage, phones: &Authenticator, session: &NewSession) {
    if session.second_factor == FactorState::Done {
        return;
    }
    let pending = svc.pending_sign_in(&session.token).await.unwrap();
    let username = pending.user.username.to_string();
    if pending.state == FactorState::Enrol {
        let setup = svc.start_enrolment(&pending.user).await.unwrap();
        phones.add(&username, &setup.secret);
    }
    let code = phones.code(&username, || svc.now().micros() / 1_000_000).await;
    svc.complete_sign_in(&web(), &pending, &code, "x").await.unwrap();
}

pub fn web() -> Ctx {
    Ctx {
        channel: Channel::Web,
        request_id: None,
    }
}

impl World {
    pub async fn new() -> Self {
        Self::with_key(passage_service::MasterKey::generate().unwrap()).await
    }

    /// [`Self::new`] under a given master key.
    pub async fn with_key(master: passage_service::MasterKey) -> Self {
        let w = Self::shipped_with(master).await;
        w.svc
            .upload_form(&Actor::Operator, &Ctx::cli(), "ct", &workbook("2099010101"))
            .await
            .unwrap();
        w
    }

    /// Demo organisations and accounts with the shipped programme forms only.
    pub async fn shipped() -> Self {
        Self::shipped_with(passage_service::MasterKey::generate().unwrap()).await
    }

    async fn shipped_with(master: passage_service::MasterKey) -> Self {
        let t = TestDb::new().await.unwrap();
        let svc = Self::open(&t, master).await.unwrap();
        let accounts = svc.seed_demo().await.unwrap();
        svc.install_shipped_forms().await.unwrap();
        let iom = svc
            .organisations(&Actor::Operator)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.is_host)
            .unwrap()
            .id;
        Self {
            t,
            svc,
            passwords: accounts.into_iter().map(|a| (a.username, a.password)).collect(),
            iom,
            phones: Authenticator::default(),
        }
    }

    /// The service on a test database under `master` (as a restart with that key file).
    pub async fn open(
        t: &TestDb,
        master: passage_service::MasterKey,
    ) -> Result<Passage, passage_service::ServiceError> {
        Passage::new(
            t.db.clone(),
            Arc::new(SystemClock),
            PasswordHasher::fast_for_tests().unwrap(),
            Settings::default(),
            master,
        )
        .await
    }

    pub async fn sign_in(&self, user: &str) -> Authenticated {
        let pw = &self.passwords.iter().find(|(u, _)| u == user).unwrap().1;
        let s = self.svc.login(&web(), user, pw, "x").await.unwrap();
        finish_sign_in(&self.svc, &self.phones, &s).await;
        self.svc.authenticate_session(&s.token).await.unwrap()
    }
}

/// A complete record for the test form.
pub fn answers() -> Instance {
    Instance::default()
        .with("given_name", "Musu")
        .with("family_name", " Kollie-Example ")
        .with("sex", "female")
        .with("age", "17")
        .with("exploitation", "forced_labour")
        .with("story", "Recruited at Ganta market with a false job offer")
        .with_repeat(
            "support",
            vec![
                Instance::default()
                    .with("support_type", "shelter")
                    .with("support_note", "Placed at the shelter on arrival"),
                Instance::default().with("support_type", "medical"),
            ],
        )
}
