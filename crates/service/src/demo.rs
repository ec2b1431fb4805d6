//! Demo data: clearly fictional organisations staff accounts set in Liberia, one account per
//! role, each with a freshly generated password. No beneficiary data is invented here.

use crate::error::ServiceError;
use crate::{Ctx, NewUser, Passage};
use passage_domain::{Actor, AuditAction, Role};
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
        let mut tx = self.db.begin().await?;
        let event = self
            .event(&ctx, AuditAction::DemoSeeded, None)
            .detail("accounts", accounts.len());
        audit::append(&mut tx.conn(), &event).await?;
        tx.commit().await?;
        Ok(accounts)
    }
}

impl Passage {
    /// Register `per_programme` generated, fictional records in every programme (names start
    /// with "Demo", texts say "Fictional"), owned by the host organisation — border crossings
    /// by the immigration service. Deterministic: the same records every time.
    pub async fn seed_demo_cases(&self, per_programme: u64) -> Result<usize, ServiceError> {
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
        let today = self.now().to_datetime().date();
        let mut created = 0;
        for (n, p) in self.programmes().await?.into_iter().enumerate() {
            let Some(current) = p.current else { continue };
            let form = self.form_model(current.id).await?;
            let org = if p.programme.code == "border" {
                immigration
            } else {
                host
            };
            for i in 0..per_programme {
                let mut seed = passage_xlsform::fill::Seed::new(1 + n as u64 * 10_000 + i);
                // A record whose rules the generator could not meet is simply left out.
                let Some(answers) = passage_xlsform::fill::fill(&form, &mut seed, today) else {
                    continue;
                };
                self.register_case(&Actor::Operator, &Ctx::cli(), &p.programme.code, org, &answers)
                    .await?;
                created += 1;
            }
        }
        Ok(created)
    }
}
