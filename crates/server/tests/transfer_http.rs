//! Import and export of cases over HTTP: the API (dry run, refused commit, commit, download)
//! and the `/cases/import` page with its `/cases/export` download.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use passage_crypto::PasswordHasher;
use passage_domain::{Actor, OrgId, SystemClock, TokenScope};
use passage_server::{ServerOptions, router};
use passage_service::{Passage, Settings};
use passage_store::test_support::TestDb;
use std::sync::Arc;
use tower::ServiceExt;

struct App {
    _t: TestDb,
    svc: Passage,
    app: Router,
    passwords: Vec<(String, String)>,
    iom: OrgId,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

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

impl App {
    async fn new() -> Self {
        let t = TestDb::new().await.unwrap();
        let svc = Passage::new(
            t.db.clone(),
            Arc::new(SystemClock),
            PasswordHasher::fast_for_tests().unwrap(),
            Settings::default(),
            passage_service::MasterKey::generate().unwrap(),
        )
        .await
        .unwrap();
        let accounts = svc.seed_demo().await.unwrap();
        svc.install_shipped_forms().await.unwrap();
        svc.upload_form(&Actor::Operator, &passage_service::Ctx::cli(), "ct", &ct_form())
            .await
            .unwrap();
        let iom = svc
            .organisations(&Actor::Operator)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.is_host)
            .unwrap()
            .id;
        let app = router(
            svc.clone(),
            ServerOptions {
                secure: false,
                trust_proxy: false,
            },
        );
        Self {
            _t: t,
            svc,
            app,
            passwords: accounts.into_iter().map(|a| (a.username, a.password)).collect(),
            iom,
        }
    }

    fn password(&self, user: &str) -> String {
        self.passwords.iter().find(|(u, _)| u == user).unwrap().1.clone()
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, auth: (&str, &str)) -> Reply {
        self.send(
            Request::get(path)
                .header(auth.0, auth.1)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, path: &str, auth: (&str, &str), content_type: &str, body: Vec<u8>) -> Reply {
        self.send(
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

    /// Sign in through the form; returns the cookie pair and the page's CSRF token.
    async fn sign_in(&self, user: &str) -> (String, String) {
        let form = format!("username={user}&password={}", self.password(user));
        let r = self
            .post(
                "/login",
                ("x-none", "-"),
                "application/x-www-form-urlencoded",
                form.into_bytes(),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let cookie = r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let home = self.get("/", ("cookie", &cookie)).await.text();
        let csrf = home
            .split("data-csrf=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        (cookie, csrf)
    }

    async fn token(&self, user: &str) -> String {
        let s = self
            .svc
            .login(&passage_service::Ctx::cli(), user, &self.password(user), "t")
            .await
            .unwrap();
        let who = self.svc.authenticate_session(&s.token).await.unwrap();
        self.svc
            .create_token(
                &passage_service::Ctx::cli(),
                &who,
                "test",
                TokenScope::Write,
                None,
            )
            .await
            .unwrap()
            .1
    }
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
    let a = App::new().await;
    let token = a.token("caseworker").await;
    let bearer = format!("Bearer {token}");
    let auth = ("authorization", bearer.as_str());
    let import = |commit: &str| {
        format!(
            "/api/v1/programmes/ct/import?organisation={}&commit={commit}",
            a.iom
        )
    };

    // A dry run answers 200 with the problems by row and column, never the value.
    let r = a.post(&import("false"), auth, "text/csv", BAD.into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let report = r.json();
    assert_eq!(report["rows"], 2);
    assert_eq!(report["committed"], false);
    assert_eq!(report["problems"][0]["row"], 3);
    assert_eq!(report["problems"][0]["column"], "sex");
    assert_eq!(report["problems"][0]["reason"], "is not one of the choices");
    assert!(!r.text().contains("secret-choice"));

    // The same file committed: 422, nothing stored.
    let r = a.post(&import("true"), auth, "text/csv", BAD.into()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["committed"], false);
    assert_eq!(r.json()["error"]["code"], "invalid_rows");
    assert_eq!(r.json()["problems"][0]["row"], 3);

    // A good file as a multipart upload: 201, every row registered.
    let (content_type, body) = multipart(&[], "cases.csv", GOOD.as_bytes());
    let r = a.post(&import("true"), auth, &content_type, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["imported"], 2);
    assert_eq!(r.json()["format"], "csv");

    // Unreadable files and bad parameters are named.
    let r = a.post(&import("false"), auth, "text/csv", Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("file"));
    let r = a
        .post(
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
    let r = a.post(&import("false"), auth, "text/csv", big.into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["rows"], rows);
    assert_eq!(r.json()["problems"].as_array().unwrap().len(), 0);

    // The export downloads as an attachment, formulas escaped.
    let r = a
        .get(
            &format!("/api/v1/programmes/ct/export?organisation={}&format=csv", a.iom),
            auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"ct-cases-2099010101-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = r.text();
    assert!(
        text.contains("case_number,stage,registered_at,given_name,sex,age,story"),
        "{text}"
    );
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert_eq!(text.lines().count(), 3);

    let r = a
        .get(
            &format!("/api/v1/programmes/ct/export?organisation={}&format=pdf", a.iom),
            auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_import_page_checks_then_imports_and_the_export_downloads() {
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("caseworker").await;
    let auth = ("cookie", cookie.as_str());
    let page = a.get("/cases/import", auth).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Import cases from a spreadsheet") && html.contains("Export cases"));
    assert!(html.contains(&format!("action=\"/cases/import?csrf_token={csrf}\"")));

    let org = a.iom.to_string();
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
    let r = a.post("/cases/import", auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Problems show as a table of row, column and reason.
    let (ct, body) = upload("0", BAD);
    let r = a.post(&path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains("id=\"import-problems\""), "{html}");
    assert!(
        html.contains("<td>3</td><td><code>sex</code></td><td>is not one of the choices</td>"),
        "{html}"
    );
    assert!(!html.contains("secret-choice"));

    // A clean file is ready; importing it stores the records.
    let (ct, body) = upload("0", GOOD);
    let html = a.post(&path, auth, &ct, body).await.text();
    assert!(html.contains("2 rows of cases.csv are ready to import"), "{html}");
    assert!(html.contains("Import 2 records"));
    let (ct, body) = upload("1", GOOD);
    let r = a.post(&path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().contains("Imported 2 records from cases.csv"),
        "{}",
        r.text()
    );

    // An unreadable file is refused with the reason.
    let (ct, body) = upload("0", "given_name,sex\n");
    let r = a.post(&path, auth, &ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("no data rows"), "{}", r.text());

    // The download.
    let r = a
        .get(
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
    assert!(r.body.starts_with(b"PK"), "an xlsx workbook");

    // An M&E officer downloads reporting columns only.
    let (me, _) = a.sign_in("meofficer").await;
    let r = a
        .get(
            &format!("/cases/export?org={org}&programme=ct&format=csv"),
            ("cookie", me.as_str()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
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
