//! Demo data: clearly fictional organisations staff accounts set in Liberia, one account per
//! role, each with a freshly generated password. No beneficiary data is invented here.

use crate::error::ServiceError;
use crate::{Ctx, NewUser, Passage};
use passage_domain::{Actor, AuditAction, OrgId, Role};
use passage_store::{audit, orgs};

/// (name, kind) of the demo organisations; the first hosts the installation.
pub const ORGANISATIONS: [(&str, &str); 5] = [
    ("IOM Liberia", "un_agency"),
    ("Liberia Immigration Service", "government"),
    ("Ministry of Gender, Children and Social Protection", "government"),
    ("Ministry of Labour", "government"),
    ("Safe Haven Shelter (fictional NGO)", "ngo"),
];

/// (username, display name, role, organisation index)
pub const ACCOUNTS: [(&str, &str, &str, usize); 9] = [
    ("admin", "Demo Administrator (fictional)", Role::ADMINISTRATOR, 0),
    (
        "manager",
        "Demo Programme Manager (fictional)",
        Role::PROGRAMME_MANAGER,
        0,
    ),
    ("caseworker", "Demo Caseworker (fictional)", Role::CASEWORKER, 0),
    (
        "border",
        "Demo Border Officer (fictional)",
        Role::BORDER_OFFICER,
        1,
    ),
    ("meofficer", "Demo M&E Officer (fictional)", Role::ME_OFFICER, 0),
    (
        "partner",
        "Demo Partner Viewer (fictional)",
        Role::PARTNER_VIEWER,
        3,
    ),
    ("auditor", "Demo Auditor (fictional)", Role::AUDITOR, 0),
    (
        "dpo",
        "Demo Data Protection Focal Point (fictional)",
        Role::DATA_PROTECTION_FOCAL_POINT,
        0,
    ),
    (
        "shelter.caseworker",
        "Demo Shelter Caseworker (fictional)",
        Role::CASEWORKER,
        4,
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub username: String,
    pub role: String,
    pub organisation: String,
    pub password: String,
}

impl Passage {
    /// Whether the database already holds organisations (then the demo is not seeded again).
    pub async fn is_empty(&self) -> Result<bool, ServiceError> {
        let mut pooled = self.db.acquire().await?;
        Ok(orgs::list(&mut pooled.conn()).await?.is_empty())
    }

    /// Create the demo organisations and accounts; returns the generated credentials.
    pub async fn seed_demo(&self) -> Result<Vec<DemoAccount>, ServiceError> {
        let ctx = Ctx::cli();
        let operator = Actor::Operator;
        let mut org_ids = Vec::new();
        for (i, (name, kind)) in ORGANISATIONS.iter().enumerate() {
            org_ids.push(self.create_org(&operator, &ctx, name, kind, i == 0).await?.id);
        }
        let mut accounts = Vec::new();
        for (username, display_name, role, org_index) in ACCOUNTS {
            let password = crate::generate_password("demo-", username)?;
            let new = NewUser {
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                email: Some(format!("{}@demo.passage.invalid", username.replace('.', "-"))),
                password: password.clone(),
                org: org_ids[org_index],
                role: role.to_owned(),
            };
            self.create_user(&operator, &ctx, &new).await?;
            accounts.push(DemoAccount {
                username: username.to_owned(),
                role: role.to_owned(),
                organisation: ORGANISATIONS[org_index].0.to_owned(),
                password,
            });
        }
        let mut tx = self.begin().await?;
        let event = self
            .event(&ctx, AuditAction::DemoSeeded, None)
            .detail("accounts", accounts.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(accounts)
    }
}

/// An ODK collection device of the demo, with its secrets.
#[derive(Debug, Clone)]
pub struct DemoDevice {
    pub name: String,
    pub username: String,
    pub device: crate::IssuedDevice,
}

impl Passage {
    /// Issue the demo's collection devices: a caseworker's tablet and a border post's.
    pub async fn seed_demo_devices(&self) -> Result<Vec<DemoDevice>, ServiceError> {
        let ctx = Ctx::cli();
        let mut out = Vec::new();
        for (name, username) in [
            ("Demo tablet, Monrovia office (fictional)", "caseworker"),
            ("Demo tablet, Bo Waterside border post (fictional)", "border"),
        ] {
            let mut pooled = self.db.acquire().await?;
            let user = passage_store::users::by_username(
                &mut pooled.conn(),
                &passage_domain::Username::parse(username)?,
            )
            .await?
            .ok_or(ServiceError::NotFound)?;
            let org = passage_store::users::grants(&mut pooled.conn(), user.0.id)
                .await?
                .0
                .first()
                .map(|g| g.org)
                .ok_or(ServiceError::NotFound)?;
            drop(pooled);
            let device = self
                .issue_device(&Actor::Operator, &ctx, org, user.0.id, name)
                .await?;
            out.push(DemoDevice {
                name: name.to_owned(),
                username: username.to_owned(),
                device,
            });
        }
        Ok(out)
    }
}

/// How a realistic demo volume is shared between programmes (percent): border crossings and
/// returns dominate a mission's records; trafficking cases are fewer.
pub const DEMO_SHARES: [(&str, u64); 5] = [
    ("border", 40),
    ("avrr", 35),
    ("ct", 10),
    ("rr", 10),
    ("capacity", 5),
];

/// Records are generated and stored this many at a time (one transaction each).
const DEMO_BATCH: usize = 500;

/// Counter-trafficking records take identities only with consent, and consent only once every
/// point was explained: most demo victims consented (every point ticked), so that their cases
/// carry a (fictional) identity.
fn consent_preset(form: &passage_xlsform::Form, i: u64) -> passage_xlsform::check::Instance {
    let mut preset = passage_xlsform::check::Instance::default();
    let points = form.field("consent_points").and_then(|f| match &f.kind {
        passage_xlsform::FieldKind::SelectMultiple { list, .. } => form.choices.get(list),
        _ => None,
    });
    if let (Some(points), Some(_), false) = (points, form.field("con_Consent"), i % 5 == 4) {
        let all: Vec<&str> = points.iter().map(|c| c.name.as_str()).collect();
        preset.values.insert("consent_points".into(), all.join(" "));
        preset.values.insert("con_Consent".into(), "TRUE".into());
    }
    preset
}

impl Passage {
    /// Register `per_programme` generated, fictional records in every programme (names start
    /// with "Demo", texts say "Fictional"), at the first stage of their workflow.
    pub async fn seed_demo_cases(&self, per_programme: u64) -> Result<usize, ServiceError> {
        let plan: Vec<(String, u64)> = self
            .programmes()
            .await?
            .into_iter()
            .map(|p| (p.programme.code, per_programme))
            .collect();
        self.generate_demo_cases(&plan, false, &|_, _| {}).await
    }

    /// A realistic volume: `total` records shared by [`DEMO_SHARES`], spread over their
    /// workflows' stages and assigned to caseworkers with due dates, some overdue.
    pub async fn seed_demo_volume(
        &self,
        total: u64,
        progress: &dyn Fn(u64, u64),
    ) -> Result<usize, ServiceError> {
        let plan: Vec<(String, u64)> = DEMO_SHARES
            .iter()
            .map(|(code, share)| ((*code).to_owned(), (total * share).div_ceil(100)))
            .collect();
        let created = self.generate_demo_cases(&plan, true, progress).await?;
        self.seed_demo_frameworks().await?;
        self.db.analyze().await?;
        Ok(created)
    }

    /// An illustrative UN Cooperation Framework results matrix and national pillar, marked as
    /// demo content, linked to the shipped indicators (the real matrix is entered by the M&E
    /// officer on the Frameworks page).
    async fn seed_demo_frameworks(&self) -> Result<(), ServiceError> {
        if !self.framework_nodes(&Actor::Operator, "unsdcf").await?.is_empty() {
            return Ok(());
        }
        let ctx = Ctx::cli();
        let mut ids: Vec<(String, uuid::Uuid)> = Vec::new();
        // (framework, parent code, code, title, lead agencies, SDG targets, gender, human rights, indicators)
        let nodes: [DemoNode; 7] = [
            (
                "unsdcf",
                "",
                "1",
                "Demo priority: people on the move are protected and included (illustrative)",
                "",
                "10.7",
                "",
                "",
                "",
            ),
            (
                "unsdcf",
                "1",
                "1.1",
                "Demo outcome: survivors of trafficking and returnees are identified, assisted and reintegrated (illustrative)",
                "IOM, UNICEF",
                "10.7, 16.2, 8.7",
                "",
                "",
                "CT-01, AVRR-02, AVRR-04",
            ),
            (
                "unsdcf",
                "1.1",
                "1.1.1",
                "Demo output: referral pathways deliver services within 30 days (illustrative)",
                "IOM",
                "16.2",
                "2",
                "3",
                "CT-08, AVRR-11",
            ),
            (
                "unsdcf",
                "1.1.1",
                "1.1.1.1",
                "Demo activity: train labour inspectors and social workers on identification (illustrative)",
                "IOM, ILO",
                "8.7",
                "2",
                "2",
                "CAP-01",
            ),
            (
                "unsdcf",
                "1",
                "1.2",
                "Demo outcome: borders are managed with data that protects rights (illustrative)",
                "IOM, UNHCR",
                "10.7, 17.18",
                "",
                "",
                "BRD-01, BRD-03",
            ),
            (
                "unsdcf",
                "1.2",
                "1.2.1",
                "Demo output: crossing points record and screen every traveller (illustrative)",
                "IOM",
                "10.7",
                "1",
                "2",
                "BRD-04",
            ),
            (
                "national",
                "",
                "P1",
                "Demo pillar: governance and the rule of law (illustrative)",
                "",
                "16.9",
                "",
                "",
                "BRD-01",
            ),
        ];
        for (framework, parent, code, title, lead, sdg, gender, rights, indicators) in nodes {
            let input = crate::NodeInput {
                id: None,
                parent: ids.iter().find(|(c, _)| c == parent).map(|(_, id)| *id),
                code: code.into(),
                title: title.into(),
                lead_agencies: lead.into(),
                sdg_targets: sdg.into(),
                gender_marker: gender.into(),
                human_rights_marker: rights.into(),
                indicators: indicators.into(),
            };
            let node = self
                .save_framework_node(&Actor::Operator, &ctx, framework, &input)
                .await?;
            ids.push((code.to_owned(), node.id));
        }
        Ok(())
    }

    /// A fictional alert list for the border post, so that some demo crossings are flagged
    /// (about one in nine: the generated travellers' names are drawn from the same lists).
    async fn seed_demo_watchlist(&self, org: OrgId) -> Result<(), ServiceError> {
        if !self.watchlists(&Actor::Operator, org).await?.is_empty() {
            return Ok(());
        }
        use passage_xlsform::fill::{FAMILY, GIVEN};
        let mut csv = String::from("id,given_name,surname,list,reason\n");
        for (g, given) in GIVEN[..16].iter().enumerate() {
            for (f, family) in FAMILY[..16].iter().enumerate() {
                csv.push_str(&format!(
                    "DEMO-{:03},Demo {given},Demo {family},Demo alert list (fictional),fictional entry\n",
                    g * 16 + f + 1
                ));
            }
        }
        self.upload_watchlist(
            &Actor::Operator,
            &Ctx::cli(),
            org,
            "Demo alert list (fictional)",
            csv.as_bytes(),
        )
        .await?;
        Ok(())
    }

    /// Deterministic: the same records every time. Cases are owned by the host organisation,
    /// border crossings by the immigration service.
    async fn generate_demo_cases(
        &self,
        plan: &[(String, u64)],
        spread: bool,
        progress: &dyn Fn(u64, u64),
    ) -> Result<usize, ServiceError> {
        let orgs = self.organisations(&Actor::Operator).await?;
        let host = orgs
            .iter()
            .find(|o| o.is_host)
            .map(|o| o.id)
            .ok_or(ServiceError::NotFound)?;
        let immigration = orgs
            .iter()
            .find(|o| o.name.as_str() == ORGANISATIONS[1].0)
            .map_or(host, |o| o.id);
        let today = self.today();
        let wanted: u64 = plan.iter().map(|(_, n)| n).sum();
        let mut created = 0;
        let mut duplicated = false;
        for (n, (programme, count)) in plan.iter().enumerate() {
            let Ok((_, form)) = self.current_form(programme).await else {
                continue;
            };
            let org = if programme == "border" { immigration } else { host };
            if programme == crate::screening::CROSSINGS {
                self.seed_demo_watchlist(org).await?;
            }
            let stages = self.stages(programme).to_vec();
            let staff = self.caseworkers(&Actor::Operator, org).await?;
            let mut i = 0;
            while i < *count {
                let mut batch = Vec::with_capacity(DEMO_BATCH);
                while batch.len() < DEMO_BATCH && i < *count {
                    let mut seed = passage_xlsform::fill::Seed::new(1 + n as u64 * 10_000_000 + i);
                    i += 1;
                    // A record whose rules the generator could not meet is simply left out.
                    let preset = consent_preset(&form, i);
                    if let Some(answers) = passage_xlsform::fill::fill_with(&form, &mut seed, today, &preset)
                    {
                        batch.push(crate::NewCase {
                            answers,
                            person: None,
                        });
                    }
                }
                let cases = self
                    .register_cases(&Actor::Operator, &Ctx::cli(), programme, org, &batch)
                    .await?;
                if spread {
                    self.spread_demo_cases(&cases, &stages, &staff).await?;
                    self.seed_demo_referrals(&cases, &orgs).await?;
                }
                // One person registered twice, the second time with a misspelt family name, as
                // happens in the field: the duplicates queue then has something to show.
                if spread && !duplicated && programme != crate::screening::CROSSINGS {
                    duplicated = true;
                    if let Some(first) = cases.first() {
                        let mut again = first.answers.clone();
                        let family = ["last_name", "surname", "family_name", "prs_SecondName"]
                            .into_iter()
                            .find(|k| again.values.contains_key(*k));
                        if let Some(v) = family.and_then(|k| again.values.get_mut(k)) {
                            v.push('h');
                            created += self
                                .register_cases(
                                    &Actor::Operator,
                                    &Ctx::cli(),
                                    programme,
                                    org,
                                    &[crate::NewCase {
                                        answers: again,
                                        person: None,
                                    }],
                                )
                                .await?
                                .len();
                        }
                    }
                }
                created += cases.len();
                progress(created as u64, wanted);
            }
        }
        Ok(created)
    }

    /// Refer about one in nine advanced trafficking and return cases to a partner, which
    /// accepts most and completes most of those, so that referral indicators have figures.
    async fn seed_demo_referrals(
        &self,
        cases: &[crate::CaseRecord],
        orgs: &[passage_store::orgs::Organisation],
    ) -> Result<(), ServiceError> {
        let partner = |name: &str| orgs.iter().find(|o| o.name.as_str() == name).map(|o| o.id);
        let ctx = Ctx::cli();
        for (k, case) in cases.iter().enumerate().filter(|(k, _)| k % 9 == 4) {
            let (to, service) = match case.programme.as_str() {
                "ct" => (partner(ORGANISATIONS[4].0), "shelter"),
                "avrr" => (partner(ORGANISATIONS[3].0), "vocational_training"),
                _ => continue,
            };
            let Some(to) = to.filter(|to| *to != case.owner_org) else {
                continue;
            };
            let id = self
                .refer_case(&Actor::Operator, &ctx, case.id, to, service, &[])
                .await?;
            if k % 4 != 0 {
                self.answer_referral(&Actor::Operator, &ctx, id, true, None)
                    .await?;
                if k % 3 != 0 {
                    self.complete_referral(&Actor::Operator, &ctx, id).await?;
                }
            }
        }
        Ok(())
    }

    /// Put generated cases at various stages (with the move in their history) and assign
    /// open ones to caseworkers with due dates from two weeks ago to a month ahead.
    async fn spread_demo_cases(
        &self,
        cases: &[crate::CaseRecord],
        stages: &[passage_store::workflow::Stage],
        staff: &[(passage_domain::UserId, String)],
    ) -> Result<(), ServiceError> {
        use passage_store::{cases as stored, workflow};
        let now = self.now();
        let mut tx = self.begin().await?;
        for (k, case) in cases.iter().enumerate() {
            let mix = (case.number.bytes().map(u64::from).sum::<u64>() + k as u64) as usize;
            let target = &stages[mix % stages.len()];
            let mut revision = case.revision;
            if target.code != case.stage {
                workflow::move_case(&mut tx.conn(), case.id, &case.stage, &target.code, revision, now)
                    .await?;
                let entry = workflow::HistoryEntry {
                    at: now,
                    actor: None,
                    from_stage: case.stage.clone(),
                    to_stage: target.code.clone(),
                    reason: target.closed.then(|| "completed".to_owned()),
                };
                workflow::add_history(&mut tx.conn(), case.id, &entry).await?;
                revision += 1;
            }
            if target.position >= 3 {
                for service in demo_services(case, k, self.today(), now) {
                    passage_store::activity::add_service(&mut tx.conn(), &service).await?;
                }
            }
            if !target.closed && !staff.is_empty() {
                let (user, _) = &staff[mix % staff.len()];
                let due = self.today() + time::Duration::days((mix % 45) as i64 - 14);
                stored::assign(
                    &mut tx.conn(),
                    case.id,
                    Some(*user),
                    Some(&due.to_string()),
                    revision,
                    now,
                )
                .await?;
            }
        }
        let event = self
            .event(&Ctx::cli(), AuditAction::DemoSeeded, None)
            .detail("spread", cases.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// (framework, parent code, code, title, lead agencies, SDG targets, gender marker, human
/// rights marker, indicators) of an illustrative framework node.
type DemoNode = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// One to three services for a generated case that has moved on, delivered within three
/// months of its registration (never in the future).
fn demo_services(
    case: &crate::CaseRecord,
    k: usize,
    today: time::Date,
    now: passage_domain::Timestamp,
) -> Vec<passage_store::activity::Service> {
    let kinds: &[&str] = match case.programme.as_str() {
        "ct" => &["shelter", "medical", "psychosocial", "legal"],
        "avrr" => &[
            "counselling",
            "transport",
            "cash",
            "business_support",
            "documentation",
        ],
        "rr" => &["transport", "documentation", "cash", "medical"],
        _ => return Vec::new(),
    };
    let registered = case
        .answers
        .values
        .get("registration_date")
        .and_then(|d| time::Date::parse(d, &time::format_description::well_known::Iso8601::DATE).ok())
        .unwrap_or(today);
    (0..1 + k % 3)
        .map(|j| {
            let kind = kinds[(k + j) % kinds.len()];
            let delivered = (registered + time::Duration::days(((k * 7 + j * 13) % 90) as i64)).min(today);
            let cash = kind == "cash";
            passage_store::activity::Service {
                id: uuid::Uuid::now_v7(),
                case_id: case.id,
                service_type: kind.to_owned(),
                delivered_on: delivered.to_string(),
                provider_org: None,
                value: cash.then(|| (100 + (k % 5) * 50).to_string()),
                currency: cash.then(|| "USD".to_owned()),
                recorded_by: None,
                recorded_at: now.micros(),
            }
        })
        .collect()
}
