//! The indicator dashboard over HTTP: the page and its filters, an indicator's charts and
//! data tables, the CSV download (audited, small cells suppressed for roles without exact
//! access), the records behind a figure, and the JSON API. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::http::StatusCode;
use passage_domain::{Actor, TokenScope};
use passage_service::Ctx;
use passage_xlsform::fill::{Seed, fill};
use support::{App, between};

/// Register generated AVRR cases; returns the year most of them were registered in.
async fn avrr_cases(a: &App, n: u64) -> i32 {
    let (_, form) = a.svc.current_form("avrr").await.unwrap();
    let host = a.host().await;
    let mut years = std::collections::BTreeMap::new();
    for i in 0..n {
        let answers = fill(&form, &mut Seed::new(40 + i), a.svc.today()).unwrap();
        let year: i32 = answers.values["registration_date"][..4].parse().unwrap();
        *years.entry(year).or_insert(0) += 1;
        a.svc
            .register_case(&Actor::Operator, &Ctx::cli(), "avrr", host, &answers)
            .await
            .unwrap();
    }
    years.into_iter().max_by_key(|(_, n)| *n).unwrap().0
}

#[tokio::test]
async fn the_me_officer_reads_the_dashboard_an_indicator_and_its_data() {
    let a = App::new().await;
    let year = avrr_cases(&a, 25).await;
    let (cookie, _) = a.sign_in("meofficer").await;

    let page = a.get(&format!("/indicators?year={year}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("href=\"/indicators\""), "the menu leads here");
    assert!(page.body.contains("id=\"card-AVRR-01\"") && page.body.contains("id=\"card-BRD-01\""));
    assert!(
        page.body.contains("<svg") && page.body.contains("role=\"img\""),
        "charts are drawn on the server"
    );
    let only_ct = a
        .get(&format!("/indicators?year={year}&programme=ct"), Some(&cookie))
        .await;
    assert!(only_ct.body.contains("id=\"card-CT-01\"") && !only_ct.body.contains("id=\"card-AVRR-01\""));

    let detail = a
        .get(&format!("/indicators/AVRR-02?year={year}"), Some(&cookie))
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    for part in [
        "id=\"indicator-total\"",
        "By sex",
        "id=\"trend-table\"",
        "GCM-O21",
        "<dt>Targets</dt>",
        "data.csv",
    ] {
        assert!(detail.body.contains(part), "the indicator page shows {part}");
    }
    assert_eq!(
        a.get("/indicators/NOPE-1", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.get("/indicators?year=20x6", Some(&cookie)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let csv = a
        .get(
            &format!("/indicators/AVRR-02/data.csv?year={year}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("AVRR-02-{year}.csv"))
    );
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some("indicator,year,disaggregation,category_code,category,value,unit,records,status")
    );
    assert!(csv.body.contains(&format!("AVRR-02,{year},,,Total,")));
    assert!(
        !csv.body.contains("suppressed"),
        "the M&E officer may export exact values"
    );
    let trail = a
        .svc
        .audit_events(
            &Actor::Operator,
            &Ctx::cli(),
            &passage_service::AuditQuery {
                org: None,
                action_prefix: Some("indicator.export".into()),
                actor: None,
                since: None,
                until: None,
                before_seq: None,
                limit: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(trail.events.len(), 1, "the export is in the audit trail");

    // Publishing formats: Open SDG (data and metadata), SDMX-CSV, SDMX-ML and HXL.
    let path = |format: &str| format!("/indicators/CT-01/export?year={year}&format={format}");
    let sdmx = a.get(&path("sdmx"), Some(&cookie)).await;
    assert_eq!(sdmx.status, StatusCode::OK);
    assert!(
        sdmx.body
            .starts_with("DATAFLOW,FREQ,REPORTING_TYPE,SERIES,REF_AREA,SEX,AGE")
    );
    assert!(
        sdmx.body.contains(",VC_HTF_DETV,430,_T,_T,"),
        "the declared SDG series, Liberia, totals"
    );
    let sdmx_ml = a.get(&path("sdmx-ml"), Some(&cookie)).await;
    assert_eq!(sdmx_ml.status, StatusCode::OK);
    assert!(
        sdmx_ml.body.contains("<message:GenericData")
            && sdmx_ml
                .body
                .contains("<generic:Value id=\"SERIES\" value=\"VC_HTF_DETV\"/>")
            && sdmx_ml
                .body
                .contains("<generic:Value id=\"REF_AREA\" value=\"430\"/>"),
        "{}",
        sdmx_ml.body
    );
    let open_sdg = a.get(&path("open-sdg"), Some(&cookie)).await;
    assert!(open_sdg.body.starts_with("Year,") && open_sdg.body.lines().next().unwrap().ends_with(",Value"));
    assert!(
        a.get(&path("open-sdg-meta"), Some(&cookie))
            .await
            .body
            .contains("SDG_SERIES_DESCR:")
    );
    let hxl = a.get(&path("hxl"), Some(&cookie)).await;
    assert_eq!(
        hxl.body.lines().nth(1).map(|l| l.starts_with("#indicator+code")),
        Some(true)
    );
    assert_eq!(
        a.get(&path("pdf"), Some(&cookie)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The M&E officer may not open case records: the drill-down lists none.
    let records = a
        .get(&format!("/indicators/AVRR-02/records?year={year}"), Some(&cookie))
        .await;
    assert_eq!(records.status, StatusCode::OK);
    assert!(records.body.contains("id=\"no-records\""));
}

#[tokio::test]
async fn a_programme_manager_opens_the_records_behind_a_figure_and_others_are_kept_out() {
    let a = App::new().await;
    let year = avrr_cases(&a, 25).await;
    let (cookie, _) = a.sign_in("manager").await;
    let detail = a
        .get(&format!("/indicators/AVRR-05?year={year}"), Some(&cookie))
        .await;
    // The first row of the first breakdown: <td>label</td><td>value</td><td>records</td><td><a href=…>.
    let row = detail
        .body
        .split("id=\"breakdown-0\"")
        .nth(1)
        .unwrap()
        .split("<tbody><tr>")
        .nth(1)
        .unwrap();
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap())
        .collect();
    let counted: usize = cells[2].parse().unwrap();
    let link = cells[3]
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let records = a.get(&link, Some(&cookie)).await;
    assert_eq!(records.status, StatusCode::OK);
    assert!(
        records.body.contains(&format!(": {}.", cells[0])),
        "the list says which category it is"
    );
    let listed = records.body.matches("href=\"/cases/").count();
    assert!(listed > 0);
    assert_eq!(
        listed, counted,
        "the list has as many records as the figure counts"
    );

    let (caseworker, _) = a.sign_in("caseworker").await;
    assert_eq!(
        a.get("/indicators", Some(&caseworker)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        a.get("/indicators/AVRR-01/data.csv", Some(&caseworker))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_api_gives_every_indicator_with_small_cells_suppressed_for_partners() {
    let a = App::new().await;
    let year = avrr_cases(&a, 6).await;
    let token = a.token("meofficer", TokenScope::Read).await;
    let (status, body) = a
        .api("GET", &format!("/api/v1/indicators?year={year}"), &token, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["exact"], true);
    let indicators = body["indicators"].as_array().unwrap();
    assert!(indicators.len() >= 25);
    let avrr = indicators.iter().find(|i| i["code"] == "AVRR-05").unwrap();
    assert_eq!(avrr["unit"], "percent");
    assert!(
        avrr["figures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["year"] == year && f["disaggregation"].is_null())
    );

    // The partner viewer (another organisation) gets figures over its own records only.
    let partner = a.token("partner", TokenScope::Read).await;
    let (status, body) = a
        .api("GET", &format!("/api/v1/indicators?year={year}"), &partner, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["exact"], false);
    let all_zero = body["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["figures"].as_array().unwrap())
        .all(|f| f["records"] == 0 || f["suppressed"] == true);
    assert!(all_zero);
    let caseworker = a.token("caseworker", TokenScope::Read).await;
    assert_eq!(
        a.api("GET", "/api/v1/indicators", &caseworker, None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn reports_are_read_online_downloaded_and_the_narrative_is_written_in_the_page() {
    let a = App::new().await;
    let year = avrr_cases(&a, 10).await;
    let (cookie, csrf) = a.sign_in("meofficer").await;
    let index = a.get(&format!("/reports?year={year}"), Some(&cookie)).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.body.contains("href=\"/reports\"") && index.body.contains("id=\"report-gcm-review\""));

    let review = a
        .get(&format!("/reports/gcm-review?year={year}"), Some(&cookie))
        .await;
    assert_eq!(review.status, StatusCode::OK);
    assert_eq!(
        review.body.matches("<h3 id=\"GCM-O").count(),
        23,
        "one section per objective"
    );
    assert!(review.body.contains("Write the narrative"));

    let saved = a
        .post_form(
            "/reports/gcm-review/narratives",
            Some(&cookie),
            &format!("csrf_token={csrf}&section=GCM-O10&year={year}&body=Fictional+narrative+for+tests."),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let review = a
        .get(&format!("/reports/gcm-review?year={year}"), Some(&cookie))
        .await;
    assert!(review.body.contains("<p>Fictional narrative for tests.</p>"));

    let xlsx = a
        .get(
            &format!("/reports/gcm-review?year={year}&format=xlsx"),
            Some(&cookie),
        )
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert!(xlsx.bytes.starts_with(b"PK"));
    assert!(
        xlsx.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("gcm-review-{year}.xlsx"))
    );
    let pdf = a
        .get(
            &format!("/reports/gcm-review?year={year}&format=pdf"),
            Some(&cookie),
        )
        .await;
    if cfg!(feature = "pdf") {
        assert!(pdf.bytes.starts_with(b"%PDF-"));
    } else {
        assert_eq!(
            pdf.status,
            StatusCode::NOT_IMPLEMENTED,
            "a build without the PDF engine says so"
        );
    }
    let odd = a
        .get(
            &format!("/reports/gcm-review?year={year}&format=docx"),
            Some(&cookie),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    let programme = a
        .get(&format!("/reports/programmes/ct?year={year}"), Some(&cookie))
        .await;
    assert!(programme.status == StatusCode::OK && programme.body.contains("(CT-01)"));
    assert_eq!(
        a.get("/reports/programmes/nope", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );

    // A programme manager reads reports but may not write the mission's narrative.
    let (manager, manager_csrf) = a.sign_in("manager").await;
    let page = a
        .get(&format!("/reports/gcm-review?year={year}"), Some(&manager))
        .await;
    assert!(page.status == StatusCode::OK && !page.body.contains("Write the narrative"));
    let refused = a
        .post_form(
            "/reports/gcm-review/narratives",
            Some(&manager),
            &format!("csrf_token={manager_csrf}&section=GCM-O10&year={year}&body=x"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let (caseworker, _) = a.sign_in("caseworker").await;
    assert_eq!(
        a.get("/reports", Some(&caseworker)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_m_and_e_officer_enters_a_manual_indicator_value_in_its_page() {
    let a = App::new().await;
    let year = a.svc.today().year();
    let (cookie, csrf) = a.sign_in("meofficer").await;
    let page = a.get("/indicators/SDG-10.7.2", Some(&cookie)).await;
    assert!(page.body.contains("id=\"no-values\"") && page.body.contains("Enter a value"));
    let values = format!("/indicators/SDG-10.7.2/values?csrf_token={csrf}");
    let year_text = year.to_string();
    let pdf: &[u8] = b"%PDF-1.4\n% fictional review\n";
    let saved = a
        .post_multipart(
            &values,
            &cookie,
            &[
                ("year", None, year_text.as_bytes()),
                ("value", None, b"4"),
                ("source", None, b"UN DESA/IOM inquiry (fictional)"),
                ("evidence", None, b"Annex 2"),
                ("file", Some("review.pdf"), pdf),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = a
        .get(
            &format!("/indicators/SDG-10.7.2?year={year}&saved=1"),
            Some(&cookie),
        )
        .await;
    assert!(
        page.body.contains("id=\"manual-values\"") && page.body.contains("UN DESA/IOM inquiry (fictional)")
    );
    assert!(page.body.contains("The value was saved."));
    let link = format!("/indicators/SDG-10.7.2/evidence/{year}");
    assert!(page.body.contains(&link) && page.body.contains("review.pdf"));
    let download = a.get(&link, Some(&cookie)).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.bytes, pdf);
    let header = |name: &str| {
        download
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/pdf");
    assert!(
        header("content-disposition").contains(&format!("evidence-SDG-10-7-2-{year}.pdf")),
        "named by indicator and year"
    );
    assert_eq!(
        a.get(
            &format!("/indicators/SDG-10.7.2/evidence/{}", year - 3),
            Some(&cookie)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let dashboard = a.get(&format!("/indicators?year={year}"), Some(&cookie)).await;
    let card = dashboard
        .body
        .split("data-indicator=\"SDG-10.7.2\">")
        .nth(1)
        .unwrap_or("");
    assert!(card.starts_with("4<"), "{}", &card[..card.len().min(80)]);
    let bad = a
        .post_multipart(
            &values,
            &cookie,
            &[
                ("year", None, year_text.as_bytes()),
                ("value", None, b"x"),
                ("source", None, b"s"),
                ("evidence", None, b"e"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("value"));
    let fake = a
        .post_multipart(
            &values,
            &cookie,
            &[
                ("year", None, year_text.as_bytes()),
                ("value", None, b"4"),
                ("source", None, b"s"),
                ("file", Some("review.pdf"), b"MZ not a pdf"),
            ],
        )
        .await;
    assert_eq!(fake.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fake.body.contains("evidence_file"), "{}", fake.body);
    let (manager, manager_csrf) = a.sign_in("manager").await;
    let page = a.get("/indicators/SDG-10.7.2", Some(&manager)).await;
    assert!(!page.body.contains("Enter a value"));
    let refused = a
        .post_multipart(
            &format!("/indicators/SDG-10.7.2/values?csrf_token={manager_csrf}"),
            &manager,
            &[
                ("year", None, year_text.as_bytes()),
                ("value", None, b"1"),
                ("source", None, b"s"),
                ("evidence", None, b"e"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_results_matrix_is_edited_in_the_frameworks_page_and_reported() {
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("meofficer").await;
    let page = a.get("/frameworks/unsdcf", Some(&cookie)).await;
    assert!(
        page.status == StatusCode::OK
            && page.body.contains("id=\"no-nodes\"")
            && page.body.contains("Add a result")
    );
    let form = format!(
        "csrf_token={csrf}&parent=&code=1&title=Demo+priority+(fictional)&sdg_targets=10.7&indicators=AVRR-02"
    );
    assert_eq!(
        a.post_form("/frameworks/unsdcf/nodes", Some(&cookie), &form)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let page = a.get("/frameworks/unsdcf", Some(&cookie)).await;
    assert!(
        page.body.contains("Demo priority (fictional)") && page.body.contains("href=\"/indicators/AVRR-02\"")
    );
    let bad = format!("csrf_token={csrf}&parent=&code=2&title=T&gender_marker=7");
    let refused = a.post_form("/frameworks/unsdcf/nodes", Some(&cookie), &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("gender_marker"));
    let report = a.get("/reports/unsdcf", Some(&cookie)).await;
    assert!(report.status == StatusCode::OK && report.body.contains("1 Demo priority (fictional)"));
    assert_eq!(
        a.get("/frameworks/elsewhere", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    let (partner, partner_csrf) = a.sign_in("partner").await;
    let page = a.get("/frameworks/unsdcf", Some(&partner)).await;
    assert!(page.status == StatusCode::OK && !page.body.contains("Add a result"));
    let form = format!("csrf_token={partner_csrf}&parent=&code=5&title=T");
    assert_eq!(
        a.post_form("/frameworks/unsdcf/nodes", Some(&partner), &form)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_form_version_that_drops_an_indicators_field_is_uploaded_with_a_warning_and_the_dashboard_names_it()
{
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("meofficer").await;
    // A counter-trafficking form without the fields the CT indicators use.
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "passage_sensitivity"],
        &["text", "given_name", "Given name", "identifying"],
        &["select_one sex", "sex", "Sex", "reporting"],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label"],
        &["sex", "female", "Female"],
        &["sex", "male", "Male"],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["ct_victim_case", "2099010101"]];
    let xlsx = passage_xlsform::testing::workbook(&[
        ("survey", survey),
        ("choices", choices),
        ("settings", settings),
    ]);
    let uploaded = a
        .post_multipart(
            &format!("/forms/upload?csrf_token={csrf}"),
            &cookie,
            &[("programme", None, b"ct"), ("file", Some("ct.xlsx"), &xlsx)],
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    assert!(uploaded.body.contains("is now the current form"));
    assert!(
        uploaded.body.contains("these indicators cannot be computed") && uploaded.body.contains("CT-01"),
        "{}",
        uploaded.body
    );
    let dashboard = a.get("/indicators", Some(&cookie)).await;
    assert_eq!(
        dashboard.status,
        StatusCode::OK,
        "the other indicators still work"
    );
    let notice = between(&dashboard.body, "id=\"indicators-unavailable\"", "</div>");
    assert!(
        notice.contains("indicators/passage.toml:") && notice.contains("CT-01"),
        "{notice}"
    );
    assert!(dashboard.body.contains("data-indicator=\"AVRR-01\""));
}
