//! Import and export of cases over HTTP: the API (dry run, refused commit, commit, download)
//! and the `/cases/import` page with its `/cases/export` download.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use passage_domain::{Actor, OrgId, TokenScope};
use support::{App, Reply};

fn ct_form() -> Vec<u8> {
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "required", "passage_sensitivity"],
        &["text", "given_name", "Given name", "yes", "identifying"],
        &["select_one sex", "sex", "Sex", "yes", "reporting"],
        &["integer", "age", "Age", "", "reporting"],
        &["text", "story", "What happened", "", "sensitive"],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label"],
        &["sex", "female", "Female"],
        &["sex", "male", "Male"],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["ct_victim_case", "2099010101"]];
    passage_xlsform::testing::workbook(&[("survey", survey), ("choices", choices), ("settings", settings)])
}

const GOOD: &str =
    "given_name,sex,age,story\nMusu,female,17,=HYPERLINK(\"http://evil.example\")\nKebeh,female,24,\n";
const BAD: &str = "given_name,sex,age\nMusu,female,17\nKebeh,secret-choice,24\n";

/// The test world: the demo installation with a small counter-trafficking form.
async fn world() -> (App, OrgId) {
    let app = App::new().await;
    app.svc
        .upload_form(&Actor::Operator, &passage_service::Ctx::cli(), "ct", &ct_form())
        .await
        .unwrap();
    let iom = app.host().await;
    (app, iom)
}

async fn get(a: &App, path: &str, auth: (&str, &str)) -> Reply {
    a.send(
        Request::get(path)
            .header(auth.0, auth.1)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

async fn post(a: &App, path: &str, auth: (&str, &str), content_type: &str, body: Vec<u8>) -> Reply {
    a.send(
        Request::post(path)
            .header(auth.0, auth.1)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::HOST, "passage.test")
            .header(header::ORIGIN, "http://passage.test")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

const BOUNDARY: &str = "passage-test-boundary";

/// A multipart body of text fields and one file.
fn multipart(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

#[tokio::test]
async fn the_api_checks_refuses_a_bad_commit_imports_and_exports() {
    let (a, iom) = world().await;
    let token = a.token("caseworker", TokenScope::Write).await;
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    let import = |commit: &str| {
        format!(
            "/api/v1/programmes/ct/import?organisation={}&commit={commit}",
            iom
        )
    };

    // A dry run answers 200 with the problems by row and column, never the value.
    let r = post(&a, &import("false"), auth, "text/csv", BAD.into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = r.json();
    assert_eq!(report["rows"], 2);
    assert_eq!(report["committed"], false);
    assert_eq!(report["problems"][0]["row"], 3);
    assert_eq!(report["problems"][0]["column"], "sex");
    assert_eq!(report["problems"][0]["reason"], "is not one of the choices");
    assert!(!r.body.contains("secret-choice"));

    // The same file committed: 422, nothing stored.
    let r = post(&a, &import("true"), auth, "text/csv", BAD.into()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["committed"], false);
    assert_eq!(r.json()["error"]["code"], "invalid_rows");
    assert_eq!(r.json()["problems"][0]["row"], 3);

    // A good file as a multipart upload: 201, every row registered.
    let (content_type, body) = multipart(&[], "cases.csv", GOOD.as_bytes());
    let r = post(&a, &import("true"), auth, &content_type, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["imported"], 2);
    assert_eq!(r.json()["format"], "csv");

    // Unreadable files and bad parameters are named.
    let r = post(&a, &import("false"), auth, "text/csv", Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("file"));
    let r = post(
        &a,
        "/api/v1/programmes/ct/import?commit=false",
        auth,
        "text/csv",
        GOOD.into(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("organisation")
    );

    // Files above the app's usual 1 MiB body limit are accepted here.
    let mut big = String::from("given_name,sex,age,story\n");
    let mut rows = 0;
    while big.len() < 1_300_000 {
        big.push_str("Musu,female,17,a story long enough to make the file a little bigger\n");
        rows += 1;
    }
    let r = post(&a, &import("false"), auth, "text/csv", big.into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["rows"], rows);
    assert_eq!(r.json()["problems"].as_array().unwrap().len(), 0);

    // The export downloads as an attachment, formulas escaped.
    let r = get(
        &a,
        &format!("/api/v1/programmes/ct/export?organisation={}&format=csv", iom),
        auth,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"ct-cases-2099010101-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = r.body;
    assert!(
        text.contains("case_number,stage,registered_at,given_name,sex,age,story"),
        "{text}"
    );
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert_eq!(text.lines().count(), 3);

    let r = get(
        &a,
        &format!("/api/v1/programmes/ct/export?organisation={}&format=pdf", iom),
        auth,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_import_page_checks_then_imports_and_the_export_downloads() {
    let (a, iom) = world().await;
    let (cookie, csrf) = a.sign_in("caseworker").await;
    let auth = ("cookie", cookie.as_str());
    let page = get(&a, "/cases/import", auth).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.body;
    assert!(html.contains("Import cases from a spreadsheet") && html.contains("Export cases"));
    assert!(html.contains(&format!("action=\"/cases/import?csrf_token={csrf}\"")));

    let org = iom.to_string();
    let upload = |commit: &'static str, file: &'static str| {
        multipart(
            &[("programme", "ct"), ("org", org.as_str()), ("commit", commit)],
            "cases.csv",
            file.as_bytes(),
        )
    };
    let path = format!("/cases/import?csrf_token={csrf}");

    // Without the CSRF token the upload is refused before anything is read.
    let (ct, body) = upload("1", GOOD);
    let r = post(&a, "/cases/import", auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Problems show as a table of row, column and reason.
    let (ct, body) = upload("0", BAD);
    let r = post(&a, &path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.body;
    assert!(html.contains("id=\"import-problems\""), "{html}");
    assert!(
        html.contains("<td>3</td><td><code>sex</code></td><td>is not one of the choices</td>"),
        "{html}"
    );
    assert!(!html.contains("secret-choice"));

    // A clean file is ready; importing it stores the records.
    let (ct, body) = upload("0", GOOD);
    let html = post(&a, &path, auth, &ct, body).await.body;
    assert!(html.contains("2 rows of cases.csv are ready to import"), "{html}");
    assert!(html.contains("Import 2 records"));
    let (ct, body) = upload("1", GOOD);
    let r = post(&a, &path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Imported 2 records from cases.csv"), "{}", r.body);

    // An unreadable file is refused with the reason.
    let (ct, body) = upload("0", "given_name,sex\n");
    let r = post(&a, &path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("no data rows"), "{}", r.body);

    // The download.
    let r = get(
        &a,
        &format!("/cases/export?org={org}&programme=ct&format=xlsx&version=current"),
        auth,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"ct-cases-")
    );
    assert!(r.bytes.starts_with(b"PK"), "an xlsx workbook");

    // An M&E officer downloads reporting columns only.
    let (me, _) = a.sign_in("meofficer").await;
    let r = get(
        &a,
        &format!("/cases/export?org={org}&programme=ct&format=csv"),
        ("cookie", me.as_str()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body;
    assert!(
        text.contains("case_number,stage,registered_at,sex,age\r\n"),
        "{text}"
    );
    assert!(!text.contains("Musu"));
}

#[test]
fn the_openapi_document_describes_import_and_export() {
    let doc = passage_server::openapi_document();
    assert!(
        doc.contains("/programmes/{code}/import")
            && doc.contains("/programmes/{code}/export")
            && doc.contains("ImportReportOut"),
        "add `doc.merge(crate::transfer::TransferDoc::openapi());` to api::openapi_document"
    );
}
