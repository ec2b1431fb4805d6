//! Indicators computed from case work: the shipped catalogue checks against the shipped
//! forms, figures equal what was recorded, follow writes, respect who may see what, and
//! lead back to the records behind them. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use passage_domain::{Actor, Role};
use passage_service::{Ctx, IndicatorFilter, NewUser, Passage};
use passage_xlsform::fill::{Seed, fill};
use support::{World, web};

/// Register `n` generated AVRR cases; returns how many are returns from Liberia per year.
async fn avrr_cases(w: &World, seed: u64, n: u64) -> std::collections::BTreeMap<i32, u64> {
    let (_, form) = w.svc.current_form("avrr").await.unwrap();
    let mut per_year = std::collections::BTreeMap::new();
    for i in 0..n {
        let answers = fill(&form, &mut Seed::new(seed + i), w.svc.today()).unwrap();
        if answers.values.get("case_type").map(String::as_str) == Some("return_from_lr") {
            let year: i32 = answers.values["registration_date"][..4].parse().unwrap();
            *per_year.entry(year).or_insert(0) += 1;
        }
        w.svc
            .register_case(&Actor::Operator, &Ctx::cli(), "avrr", w.iom, &answers)
            .await
            .unwrap();
    }
    per_year
}

async fn total(svc: &Passage, actor: &Actor, code: &str, year: i32) -> (Option<f64>, u64, bool) {
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    let d = svc.dashboard(actor, &filter).await.unwrap();
    let f = d.figures.iter().find(|f| f.indicator.code == code).unwrap();
    let (cell, hidden) = f.total(year).unwrap();
    (cell.value, cell.n, hidden)
}

#[tokio::test]
async fn the_shipped_catalogue_covers_every_programme_and_links_to_the_frameworks() {
    let w = World::shipped().await;
    let c = w.svc.indicator_catalogue().await.unwrap();
    let computed: Vec<_> = c.indicators.iter().filter(|i| i.computation.is_some()).collect();
    assert!(computed.len() >= 25, "{} computed indicators", computed.len());
    for p in ["avrr", "ct", "rr", "border", "capacity"] {
        assert!(
            computed.iter().any(|i| i.programme.as_deref() == Some(p)),
            "{p} has indicators"
        );
    }
    assert!(
        c.indicators.iter().all(|i| !i.links.gcm.is_empty()),
        "every indicator serves a GCM objective"
    );
    assert!(
        c.indicators.iter().any(|i| i.computation.is_none()),
        "manual indicators are defined too"
    );
}

#[tokio::test]
async fn figures_equal_the_records_and_follow_new_ones() {
    let w = World::shipped().await;
    let expected = avrr_cases(&w, 500, 40).await;
    let (&year, &count) = expected.iter().max_by_key(|(_, n)| **n).unwrap();
    let me = w.sign_in("meofficer").await;
    let (value, n, hidden) = total(&w.svc, &me.actor, "AVRR-01", year).await;
    assert_eq!((value, n, hidden), (Some(count as f64), count, false));

    // Cached figures are recomputed after a write.
    let (_, form) = w.svc.current_form("avrr").await.unwrap();
    let date = format!("{year}-01-15");
    let mut extra = None;
    for s in 9_000..9_200 {
        let a = fill(&form, &mut Seed::new(s), w.svc.today()).unwrap();
        if a.values.get("case_type").map(String::as_str) == Some("return_from_lr") {
            extra = Some(a.with("registration_date", &date));
            break;
        }
    }
    let extra = extra.unwrap();
    w.svc
        .register_case(&Actor::Operator, &Ctx::cli(), "avrr", w.iom, &extra)
        .await
        .unwrap();
    let (value, ..) = total(&w.svc, &me.actor, "AVRR-01", year).await;
    assert_eq!(value, Some(count as f64 + 1.0));

    // A county filter keeps only the cases filed there (none are filed in a made-up county).
    let filter = IndicatorFilter {
        year: Some(year),
        county: Some("LR-XX".into()),
        programme: Some("avrr".into()),
    };
    let d = w.svc.dashboard(&me.actor, &filter).await.unwrap();
    assert!(
        d.figures
            .iter()
            .all(|f| f.indicator.programme.as_deref() == Some("avrr"))
    );
    let f = d.figures.iter().find(|f| f.indicator.code == "AVRR-01").unwrap();
    assert_eq!(f.total(year).unwrap().0.n, 0);
}

#[tokio::test]
async fn small_counts_are_hidden_from_roles_without_exact_access_and_other_organisations_see_none() {
    let w = World::shipped().await;
    avrr_cases(&w, 700, 3).await;
    let year = w.svc.today().year();
    let password = "viewer-Passw0rd-long!".to_owned();
    w.svc
        .create_user(
            &Actor::Operator,
            &Ctx::cli(),
            &NewUser {
                username: "iom.viewer".into(),
                display_name: "Demo Viewer (fictional)".into(),
                email: None,
                password: password.clone(),
                org: w.iom,
                role: Role::PARTNER_VIEWER.into(),
            },
        )
        .await
        .unwrap();
    let s = w.svc.login(&web(), "iom.viewer", &password, "x").await.unwrap();
    let viewer = w.svc.authenticate_session(&s.token).await.unwrap();
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    let seen = w.svc.dashboard(&viewer.actor, &filter).await.unwrap();
    assert!(!seen.exact);
    for f in &seen.figures {
        for (cell, hidden) in f.outcome.cells.iter().zip(&f.hidden) {
            if cell.n > 0 && cell.n < seen.threshold {
                assert!(hidden, "{} {:?} is below the threshold", f.indicator.code, cell);
            }
        }
    }
    let me = w.sign_in("meofficer").await;
    assert!(
        w.svc
            .dashboard(&me.actor, &filter)
            .await
            .unwrap()
            .figures
            .iter()
            .all(|f| f.hidden.iter().all(|h| !h))
    );

    // The Ministry of Labour's partner viewer sees only its own organisation's records.
    let partner = w.sign_in("partner").await;
    let d = w.svc.dashboard(&partner.actor, &filter).await.unwrap();
    assert!(d.figures.iter().all(|f| f.outcome.cells.iter().all(|c| c.n == 0)));
    // A caseworker has no dashboard.
    let cw = w.sign_in("caseworker").await;
    assert!(w.svc.dashboard(&cw.actor, &filter).await.is_err());
}

#[tokio::test]
async fn a_figure_leads_to_the_records_its_viewer_may_open() {
    let w = World::shipped().await;
    let expected = avrr_cases(&w, 900, 30).await;
    let (&year, &count) = expected.iter().max_by_key(|(_, n)| **n).unwrap();
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    let manager = w.sign_in("manager").await;
    let records = w
        .svc
        .records_behind(&manager.actor, &web(), "AVRR-01", &filter, year, None)
        .await
        .unwrap();
    assert_eq!(records.len() as u64, count);
    assert!(records.iter().all(|r| r.number.starts_with("AVRR-")));
    let d = w.svc.dashboard(&manager.actor, &filter).await.unwrap();
    let f = d.figures.iter().find(|f| f.indicator.code == "AVRR-01").unwrap();
    let female = f
        .breakdown(year, 0)
        .into_iter()
        .find(|(c, _)| c.category == "female")
        .map_or(0, |(c, _)| c.n);
    let behind = w
        .svc
        .records_behind(
            &manager.actor,
            &web(),
            "AVRR-01",
            &filter,
            year,
            Some((0, "female")),
        )
        .await
        .unwrap();
    assert_eq!(behind.len() as u64, female);
    // The M&E officer sees the figures but may not open case records.
    let me = w.sign_in("meofficer").await;
    assert!(
        w.svc
            .records_behind(&me.actor, &web(), "AVRR-01", &filter, year, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_gcm_review_has_every_objective_with_its_narrative_and_linked_indicators() {
    let w = World::shipped().await;
    let expected = avrr_cases(&w, 300, 20).await;
    let year = *expected.keys().last().unwrap();
    let me = w.sign_in("meofficer").await;
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    w.svc
        .set_narrative(
            &me.actor,
            &web(),
            passage_service::GCM_REVIEW,
            "GCM-O21",
            year,
            "  Returns grew.  ",
        )
        .await
        .unwrap();
    let review = w.svc.gcm_review(&me.actor, &filter).await.unwrap();
    let objectives: Vec<&str> = review.headings(2).collect();
    assert_eq!(objectives.len(), 23);
    assert!(objectives[20].starts_with("Objective 21: Cooperate in facilitating safe and dignified return"));
    let blocks = &review.blocks;
    let o21 = blocks
        .iter()
        .position(
            |b| matches!(b, passage_service::report::Block::Heading { anchor, .. } if anchor == "GCM-O21"),
        )
        .unwrap();
    let section = &blocks[o21..blocks.len().min(o21 + 5)];
    assert!(section.contains(&passage_service::report::Block::Paragraph("Returns grew.".into())));
    let table = section
        .iter()
        .find_map(|b| match b {
            passage_service::report::Block::Table(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert!(
        table.rows.iter().any(|r| r[0].contains("(AVRR-01)")),
        "the indicators serving objective 21 are listed"
    );

    // Narratives: only the host's M&E officers write them, within limits, for real sections.
    let manager = w.sign_in("manager").await;
    let gcm = passage_service::GCM_REVIEW;
    assert!(
        w.svc
            .set_narrative(&manager.actor, &web(), gcm, "GCM-O21", year, "x")
            .await
            .is_err()
    );
    let long = "x".repeat(passage_service::MAX_NARRATIVE_CHARS + 1);
    assert!(matches!(
        w.svc
            .set_narrative(&me.actor, &web(), gcm, "GCM-O21", year, &long)
            .await,
        Err(passage_service::ServiceError::Invalid(_))
    ));
    assert!(matches!(
        w.svc
            .set_narrative(&me.actor, &web(), gcm, "GCM-O99", year, "x")
            .await,
        Err(passage_service::ServiceError::NotFound)
    ));
    w.svc
        .set_narrative(&me.actor, &web(), gcm, "GCM-O21", year, "")
        .await
        .unwrap();
    assert!(
        w.svc.narratives(gcm, year).await.unwrap().is_empty(),
        "an empty narrative removes it"
    );

    let programme = w.svc.programme_report(&me.actor, &filter, "avrr").await.unwrap();
    assert!(programme.headings(1).any(|h| h.contains("(AVRR-01)")));
    assert!(
        passage_service::report::xlsx(&programme)
            .unwrap()
            .starts_with(b"PK")
    );
}

#[tokio::test]
async fn manual_indicators_take_values_with_source_and_evidence_from_the_m_and_e_officer() {
    let w = World::shipped().await;
    let me = w.sign_in("meofficer").await;
    let year = w.svc.today().year();
    let enter =
        |actor: passage_domain::Actor, code: &'static str, value: &'static str, source: &'static str| {
            let svc = w.svc.clone();
            async move {
                let entry = passage_service::ManualEntry {
                    year,
                    value: value.into(),
                    source: source.into(),
                    evidence: "Inquiry report, annex 2 (fictional)".into(),
                    file: None,
                };
                svc.set_manual_value(&actor, &web(), code, &entry).await
            }
        };
    enter(
        me.actor.clone(),
        "SDG-10.7.2",
        "4",
        "UN DESA/IOM inquiry (fictional)",
    )
    .await
    .unwrap();
    let filter = IndicatorFilter {
        year: Some(year),
        ..IndicatorFilter::default()
    };
    let (value, ..) = total(&w.svc, &me.actor, "SDG-10.7.2", year).await;
    assert_eq!(value, Some(4.0), "the dashboard shows the entered value");
    let entries = w.svc.manual_values(&me.actor, "SDG-10.7.2").await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].source, "UN DESA/IOM inquiry (fictional)");
    // A correction replaces the year's value.
    enter(me.actor.clone(), "SDG-10.7.2", "5", "corrected")
        .await
        .unwrap();
    assert_eq!(total(&w.svc, &me.actor, "SDG-10.7.2", year).await.0, Some(5.0));

    let invalid = |r: Result<(), passage_service::ServiceError>| {
        matches!(r, Err(passage_service::ServiceError::Invalid(_)))
    };
    assert!(invalid(enter(me.actor.clone(), "SDG-10.7.2", "four", "x").await));
    assert!(
        invalid(enter(me.actor.clone(), "SDG-10.7.2", "4", " ").await),
        "a source is required"
    );
    assert!(
        invalid(enter(me.actor.clone(), "AVRR-01", "4", "x").await),
        "computed indicators take no values"
    );
    let manager = w.sign_in("manager").await;
    assert!(
        enter(manager.actor.clone(), "SDG-10.7.2", "4", "x")
            .await
            .is_err()
    );
    let d = w.svc.dashboard(&me.actor, &filter).await.unwrap();
    assert!(
        d.figures
            .iter()
            .any(|f| f.indicator.code == "NRM-01" && f.outcome.cells.is_empty())
    );
}

#[tokio::test]
async fn a_manual_value_can_carry_its_evidence_as_a_file() {
    let w = World::shipped().await;
    let me = w.sign_in("meofficer").await;
    let year = w.svc.today().year() - 1;
    let pdf = b"%PDF-1.4\n% fictional inquiry report\n".to_vec();
    let entry = |evidence: &str, file: Option<(&str, &[u8])>| passage_service::ManualEntry {
        year,
        value: "3".into(),
        source: "National review (fictional)".into(),
        evidence: evidence.into(),
        file: file.map(|(n, b)| (n.to_owned(), b.to_vec())),
    };
    let enter = |e: passage_service::ManualEntry| {
        let (svc, actor) = (w.svc.clone(), me.actor.clone());
        async move { svc.set_manual_value(&actor, &web(), "SDG-10.7.2", &e).await }
    };
    let invalid_field = |r: Result<(), passage_service::ServiceError>| match r {
        Err(passage_service::ServiceError::Invalid(v)) => v.field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        invalid_field(enter(entry("", None)).await),
        "evidence",
        "a reference or a file is required"
    );
    assert_eq!(
        invalid_field(enter(entry("", Some(("report.pdf", b"not a pdf")))).await),
        "evidence_file",
        "the file must be what its name says"
    );
    assert_eq!(
        invalid_field(enter(entry("", Some(("report.exe", &pdf)))).await),
        "evidence_file"
    );

    enter(entry("", Some(("inquiry-2025.pdf", &pdf)))).await.unwrap();
    let file = w
        .svc
        .manual_evidence(&me.actor, "SDG-10.7.2", year)
        .await
        .unwrap();
    assert_eq!(
        (file.name.as_str(), file.content_type.as_str()),
        ("inquiry-2025.pdf", "application/pdf")
    );
    assert_eq!(file.bytes, pdf);
    let listed = w.svc.manual_values(&me.actor, "SDG-10.7.2").await.unwrap();
    assert_eq!(listed[0].evidence_name.as_deref(), Some("inquiry-2025.pdf"));

    // A correction without a new file keeps the attached one.
    enter(entry("", None)).await.unwrap();
    assert_eq!(
        w.svc
            .manual_evidence(&me.actor, "SDG-10.7.2", year)
            .await
            .unwrap()
            .bytes,
        pdf
    );
    assert!(matches!(
        w.svc.manual_evidence(&me.actor, "SDG-10.7.2", year - 1).await,
        Err(passage_service::ServiceError::NotFound)
    ));
    let cw = w.sign_in("caseworker").await;
    assert!(
        w.svc
            .manual_evidence(&cw.actor, "SDG-10.7.2", year)
            .await
            .is_err(),
        "caseworkers see no indicators"
    );
}

#[tokio::test]
async fn the_results_matrix_is_edited_as_a_tree_and_reported_with_actuals() {
    let w = World::shipped().await;
    let me = w.sign_in("meofficer").await;
    let save = |parent: Option<uuid::Uuid>, code: &str, indicators: &str| passage_service::NodeInput {
        parent,
        code: code.into(),
        title: format!("Demo result {code} (fictional)"),
        sdg_targets: "10.7, 16.2".into(),
        gender_marker: "2".into(),
        indicators: indicators.into(),
        ..Default::default()
    };
    let sp = w
        .svc
        .save_framework_node(&me.actor, &web(), "unsdcf", &save(None, "1", ""))
        .await
        .unwrap();
    assert_eq!(sp.level, "strategic_priority");
    let outcome = w
        .svc
        .save_framework_node(&me.actor, &web(), "unsdcf", &save(Some(sp.id), "1.1", "AVRR-02"))
        .await
        .unwrap();
    assert_eq!(outcome.level, "outcome", "a node's level follows from its parent");
    let output = w
        .svc
        .save_framework_node(
            &me.actor,
            &web(),
            "unsdcf",
            &save(Some(outcome.id), "1.1.1", "CT-01, BRD-01"),
        )
        .await
        .unwrap();
    let activity = w
        .svc
        .save_framework_node(&me.actor, &web(), "unsdcf", &save(Some(output.id), "1.1.1.1", ""))
        .await
        .unwrap();
    assert_eq!(activity.level, "key_activity");
    let invalid = |r: Result<passage_service::FrameworkNode, passage_service::ServiceError>| {
        matches!(r, Err(passage_service::ServiceError::Invalid(_)))
    };
    assert!(invalid(
        w.svc
            .save_framework_node(&me.actor, &web(), "unsdcf", &save(Some(activity.id), "x", ""))
            .await
    ));
    assert!(invalid(
        w.svc
            .save_framework_node(&me.actor, &web(), "unsdcf", &save(None, "2", "NOPE-1"))
            .await
    ));
    let mut bad_marker = save(None, "3", "");
    bad_marker.gender_marker = "4".into();
    assert!(invalid(
        w.svc
            .save_framework_node(&me.actor, &web(), "unsdcf", &bad_marker)
            .await
    ));
    let mut bad_target = save(None, "4", "");
    bad_target.sdg_targets = "ten".into();
    assert!(invalid(
        w.svc
            .save_framework_node(&me.actor, &web(), "unsdcf", &bad_target)
            .await
    ));
    assert!(matches!(
        w.svc
            .save_framework_node(&me.actor, &web(), "unsdcf", &save(None, "1", ""))
            .await,
        Err(passage_service::ServiceError::Conflict(_))
    ));
    let manager = w.sign_in("manager").await;
    assert!(
        w.svc
            .save_framework_node(&manager.actor, &web(), "unsdcf", &save(None, "9", ""))
            .await
            .is_err()
    );
    assert!(invalid(
        w.svc
            .delete_framework_node(&me.actor, &web(), "unsdcf", output.id)
            .await
            .map(|_| activity.clone())
    ));
    w.svc
        .delete_framework_node(&me.actor, &web(), "unsdcf", activity.id)
        .await
        .unwrap();

    let year = w.svc.today().year();
    let report = w
        .svc
        .unsdcf_report(
            &me.actor,
            &IndicatorFilter {
                year: Some(year),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        report.headings(1).collect::<Vec<_>>(),
        ["1 Demo result 1 (fictional)"]
    );
    let table = report
        .blocks
        .iter()
        .find_map(|b| match b {
            passage_service::report::Block::Table(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        table.rows.len(),
        3,
        "the outcome's indicator and the output's two"
    );
    assert!(table.rows[0][1].contains("(AVRR-02)"));
    let catalogue = w.svc.indicator_catalogue().await.unwrap();
    let target = catalogue
        .get("AVRR-02")
        .unwrap()
        .targets
        .get(&year)
        .map(|t| format!("{t:.0}"))
        .unwrap_or_default();
    assert_eq!(table.rows[0][3], target, "the year's target from the definition");
    assert!(["achieved", "on track", "behind", "no target", "no data"].contains(&table.rows[0][5].as_str()));
}

/// Every computed indicator's cells over `facts`, in one order (category codes are numbered in
/// the order values were first seen, which differs between a full load and updates).
fn all_figures(svc_catalogue: &passage_service::Catalogue, facts: &passage_service::Facts) -> Vec<String> {
    let empty = passage_indicators::Table::default();
    let mut out = Vec::new();
    for i in &svc_catalogue.indicators {
        let Some(c) = &i.computation else { continue };
        let table = facts.table(&c.source).unwrap_or(&empty);
        let outcome = passage_indicators::compute(i, table, &passage_indicators::Scope::default());
        out.extend(outcome.cells.iter().map(|cell| format!("{} {cell:?}", i.code)));
        out.extend(outcome.notes.iter().map(|n| format!("{} {n}", i.code)));
    }
    out.sort();
    out
}

#[tokio::test]
async fn facts_brought_up_to_date_case_by_case_equal_a_full_load() {
    let w = World::shipped().await;
    avrr_cases(&w, 700, 20).await;
    let cw = w.sign_in("caseworker").await;
    let (_, form) = w.svc.current_form("avrr").await.unwrap();
    let page = w
        .svc
        .register_case(
            &cw.actor,
            &web(),
            "avrr",
            w.iom,
            &fill(&form, &mut Seed::new(900), w.svc.today()).unwrap(),
        )
        .await
        .unwrap();
    let first = w.svc.indicator_facts().await.unwrap();
    let retired = |f: &passage_service::Facts| f.tables().map(|(_, t)| t.retired()).sum::<usize>();
    assert_eq!(retired(&first), 0, "a full load has no retired rows");

    // New cases, a case whose answers all change, and a service on it.
    avrr_cases(&w, 800, 5).await;
    let edited = fill(&form, &mut Seed::new(901), w.svc.today()).unwrap();
    w.svc
        .update_case(&cw.actor, &web(), page.id, &edited, page.revision)
        .await
        .unwrap();
    let service = passage_service::NewService {
        service_type: "cash".into(),
        delivered_on: w.svc.today(),
        provider_org: None,
        value: Some("120".into()),
        currency: Some("usd".into()),
    };
    w.svc
        .record_service(&cw.actor, &web(), page.id, &service)
        .await
        .unwrap();

    let kept = w.svc.indicator_facts().await.unwrap();
    assert!(
        retired(&kept) > 0,
        "the edited case's old rows are retired, not reloaded"
    );
    assert!(kept.as_of >= first.as_of);
    let catalogue = w.svc.indicator_catalogue().await.unwrap();
    let full = w.svc.load_facts(&catalogue).await.unwrap();
    assert_eq!(retired(&full), 0);
    let (kept_figures, full_figures) = (all_figures(&catalogue, &kept), all_figures(&catalogue, &full));
    assert!(kept_figures.len() > 50, "{} figures", kept_figures.len());
    assert_eq!(kept_figures, full_figures);
    assert_ne!(
        kept_figures,
        all_figures(&catalogue, &first),
        "the writes changed the figures"
    );
}

#[tokio::test]
async fn a_form_version_without_an_indicators_fields_sets_only_those_indicators_aside() {
    // `World::new` replaces the counter-trafficking form with a small test form that lacks
    // most of the fields the shipped CT indicators use.
    let w = World::new().await;
    let catalogue = w.svc.indicator_catalogue().await.unwrap();
    assert!(!catalogue.unavailable.is_empty());
    for e in &catalogue.unavailable {
        let code = e.indicator.as_deref().unwrap();
        assert!(code.starts_with("CT-"), "only CT indicators are set aside: {e}");
        assert!(
            e.line.is_some() && e.to_string().contains("indicators/passage.toml:"),
            "{e}"
        );
    }
    assert!(
        catalogue
            .indicators
            .iter()
            .any(|i| i.programme.as_deref() == Some("avrr"))
    );
    let me = w.sign_in("meofficer").await;
    let d = w
        .svc
        .dashboard(&me.actor, &IndicatorFilter::default())
        .await
        .unwrap();
    assert!(d.figures.iter().any(|f| f.indicator.code == "AVRR-01"));
    let aside: Vec<&str> = catalogue
        .unavailable
        .iter()
        .filter_map(|e| e.indicator.as_deref())
        .collect();
    assert!(
        d.figures
            .iter()
            .all(|f| !aside.contains(&f.indicator.code.as_str()))
    );
}

#[tokio::test]
async fn facts_checked_again_without_changes_are_kept_with_their_figures() {
    let w = World::shipped().await;
    avrr_cases(&w, 1_000, 3).await;
    let first = w.svc.indicator_facts().await.unwrap();
    tokio::time::sleep(passage_service::FACTS_CHECK_INTERVAL).await;
    let again = w.svc.indicator_facts().await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "nothing changed: the same tables"
    );
    avrr_cases(&w, 1_100, 1).await;
    let after = w.svc.indicator_facts().await.unwrap();
    assert!(
        !std::sync::Arc::ptr_eq(&first, &after),
        "a write brings them up to date"
    );
}
