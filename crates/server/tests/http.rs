//! The router in-process (no socket): pages, security headers, CSRF, the API and probes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use passage_domain::Actor;
use passage_server::{ServerOptions, router};
use support::App;
use tower::ServiceExt;

#[tokio::test]
async fn pages_carry_security_headers_and_stay_small() {
    let a = App::new().await;
    let r = a.get("/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(r.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(r.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    assert!(r.headers.contains_key("x-request-id"));
    assert!(
        !r.headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
        "no HSTS over plain http"
    );
    assert!(
        !r.body.contains("<script>") && !r.body.contains("style="),
        "no inline script or style"
    );

    let css = a.get("/static/passage-3.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers
            .get(header::CACHE_CONTROL)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let htmx = a.get("/static/htmx-2.0.11.min.js", None).await;
    assert_eq!(htmx.status, StatusCode::OK);
    assert_eq!(a.get("/static/nope.js", None).await.status, StatusCode::NOT_FOUND);

    // Every page plus its static files fits a 256 kbit/s link (< 100 KB).
    let statics = css.body.len() + htmx.body.len() + a.get("/static/passage-1.js", None).await.body.len();
    let (cookie, _) = a.sign_in("admin").await;
    for path in [
        "/",
        "/organisations",
        "/users",
        "/places",
        "/account",
        "/api/v1/docs",
    ] {
        let page = a.get(path, Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.len() + statics < 100 * 1024,
            "{path} is {} bytes",
            page.body.len() + statics
        );
    }
}

#[tokio::test]
async fn behind_https_cookies_are_host_prefixed_and_hsts_is_sent() {
    let a = App::new().await;
    let app = router(
        a.svc.clone(),
        ServerOptions {
            secure: true,
            trust_proxy: false,
            sso: None,
        },
    );
    let body = format!("username=caseworker&password={}", a.password("caseworker"));
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-passage_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert!(res.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
}

#[tokio::test]
async fn sign_in_home_and_sign_out() {
    let a = App::new().await;
    assert_eq!(
        a.get("/", None).await.headers.get(header::LOCATION).unwrap(),
        "/login"
    );

    let bad = a
        .post_form("/login", None, "username=caseworker&password=wrong-password")
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("Wrong username or password"));
    assert!(!bad.headers.contains_key(header::SET_COOKIE));

    let (cookie, csrf) = a.sign_in("caseworker").await;
    let home = a.get("/", Some(&cookie)).await;
    assert!(home.body.contains("Welcome, Demo Caseworker (fictional)"));
    assert!(home.body.contains("id=\"count-counties\">15<"), "real counts");
    assert!(
        !home.body.contains("href=\"/audit\""),
        "caseworkers see no audit menu"
    );

    let no_token = a.post_form("/logout", Some(&cookie), "").await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.body.contains("CSRF"));
    let wrong_token = a.post_form("/logout", Some(&cookie), "csrf_token=forged").await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);

    let out = a
        .post_form("/logout", Some(&cookie), &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = a.get("/", Some(&cookie)).await;
    assert_eq!(after.headers.get(header::LOCATION).unwrap(), "/login?expired=1");
    assert!(
        after
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn people_change_their_own_password() {
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("meofficer").await;
    let wrong = a
        .post_form(
            "/account/password",
            Some(&cookie),
            &format!("csrf_token={csrf}&current=nope&new=cassava-lantern-river"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("current password: is not right"));
    let current = a.password("meofficer");
    let weak = a
        .post_form(
            "/account/password",
            Some(&cookie),
            &format!("csrf_token={csrf}&current={current}&new=short"),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = a
        .post_form(
            "/account/password",
            Some(&cookie),
            &format!("csrf_token={csrf}&current={current}&new=cassava-lantern-river"),
        )
        .await;
    assert_eq!(ok.headers.get(header::LOCATION).unwrap(), "/login?changed=1");
    assert_eq!(
        a.get("/", Some(&cookie)).await.status,
        StatusCode::SEE_OTHER,
        "the session ended"
    );
    let login = a
        .post_form(
            "/login",
            None,
            "username=meofficer&password=cassava-lantern-river",
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("admin").await;
    let req = Request::post("/organisations")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "passage.test")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &cookie)
        .body(Body::from(format!("csrf_token={csrf}&name=Evil&kind=ngo")))
        .unwrap();
    assert_eq!(a.send(req).await.status, StatusCode::FORBIDDEN);
    // With the token and from our own origin it works, and shows the new organisation.
    let ok = a
        .post_form(
            "/organisations",
            Some(&cookie),
            &format!("csrf_token={csrf}&name=Ministry+of+Planning&kind=government"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let location = ok
        .headers
        .get(header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let page = a.get(&location, Some(&cookie)).await;
    assert!(page.body.contains("Ministry of Planning") && page.body.contains("Organisation created."));
    // A duplicate name is a 409 with the reason on the page.
    let dup = a
        .post_form(
            "/organisations",
            Some(&cookie),
            &format!("csrf_token={csrf}&name=ministry+of+planning&kind=government"),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(dup.body.contains("already exists"));
}

#[tokio::test]
async fn organisation_pages_follow_membership() {
    let a = App::new().await;
    let orgs = a.svc.organisations(&Actor::Operator).await.unwrap();
    let id = |name: &str| {
        orgs.iter()
            .find(|o| o.name.as_str().starts_with(name))
            .unwrap()
            .id
    };
    let (iom, shelter, lis) = (id("IOM"), id("Safe Haven"), id("Liberia Immigration"));

    // (user, organisation, expected status)
    let matrix = [
        ("admin", iom, StatusCode::OK),
        ("admin", shelter, StatusCode::OK),
        ("caseworker", iom, StatusCode::OK),
        ("caseworker", shelter, StatusCode::NOT_FOUND),
        ("shelter.caseworker", shelter, StatusCode::OK),
        ("shelter.caseworker", iom, StatusCode::NOT_FOUND),
        ("border", lis, StatusCode::OK),
        ("border", iom, StatusCode::NOT_FOUND),
        ("partner", lis, StatusCode::NOT_FOUND),
    ];
    for (user, org, expected) in matrix {
        let (cookie, _) = a.sign_in(user).await;
        let r = a.get(&format!("/organisations/{org}"), Some(&cookie)).await;
        assert_eq!(r.status, expected, "{user} on {org}");
        if expected == StatusCode::NOT_FOUND {
            assert!(
                !r.body.contains("IOM Liberia") && !r.body.contains("Safe Haven"),
                "no hint of the organisation"
            );
        }
    }
    let (cookie, _) = a.sign_in("caseworker").await;
    assert_eq!(
        a.get("/organisations/not-a-uuid", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(a.get("/audit", Some(&cookie)).await.status, StatusCode::FORBIDDEN);

    // An administrator creates an account from the organisation page; bad input is explained.
    let (cookie, csrf) = a.sign_in("admin").await;
    let weak = a
        .post_form(
            &format!("/organisations/{shelter}/users"),
            Some(&cookie),
            &format!("csrf_token={csrf}&username=new.worker&display_name=New+Worker&email=&password=short&role=caseworker"),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body.contains("password: must be at least 12 characters"));
    let ok = a
        .post_form(
            &format!("/organisations/{shelter}/users"),
            Some(&cookie),
            &format!("csrf_token={csrf}&username=new.worker&display_name=New+Worker&email=&password=cassava-lantern-river&role=caseworker"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let page = a.get(&format!("/organisations/{shelter}"), Some(&cookie)).await;
    assert!(page.body.contains("new.worker"));
}

#[tokio::test]
async fn auditors_see_and_verify_the_trail() {
    let a = App::new().await;
    let (cookie, csrf) = a.sign_in("auditor").await;
    let page = a.get("/audit?action=auth.", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("auth.login"));
    let verified = a
        .post_form("/audit/verify", Some(&cookie), &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(verified.status, StatusCode::OK);
    assert!(
        verified.body.contains("The audit chain is intact"),
        "{}",
        verified.body
    );
}

#[tokio::test]
async fn api_tokens_scopes_and_errors() {
    let a = App::new().await;
    let (status, body) = a.api("GET", "/api/v1/me", "psg_unknown", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "bad_token");
    let r = a.get("/api/v1/me", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("unauthenticated"));

    let read = a.token("admin", passage_domain::TokenScope::Read).await;
    let write = a.token("admin", passage_domain::TokenScope::Write).await;
    let (status, me) = a.api("GET", "/api/v1/me", &read, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "admin");
    assert_eq!(me["token_scope"], "read");

    let body = r#"{"name": "Ministry of Foreign Affairs", "kind": "government"}"#;
    let (status, err) = a.api("POST", "/api/v1/organisations", &read, Some(body)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, org) = a.api("POST", "/api/v1/organisations", &write, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(org["kind"], "government");
    let (status, err) = a.api("POST", "/api/v1/organisations", &write, Some(body)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, err) = a
        .api(
            "POST",
            "/api/v1/organisations",
            &write,
            Some(r#"{"name": "X", "kind": "church"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["message"].as_str().unwrap().contains("kind"));
    let (status, err) = a
        .api("POST", "/api/v1/organisations", &write, Some("{not json"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "bad_request");
    let (status, _) = a
        .api(
            "POST",
            "/api/v1/organisations",
            &write,
            Some(r#"{"name":"Y","kind":"ngo","extra":1}"#),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );

    // Another organisation's records answer 404 through the API too.
    let shelter_token = a
        .token("shelter.caseworker", passage_domain::TokenScope::Read)
        .await;
    let (_, orgs) = a.api("GET", "/api/v1/organisations", &write, None).await;
    let iom = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "IOM Liberia")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{iom}/members"),
            &shelter_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, members) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{iom}/members"),
            &read,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["username"] == "caseworker")
    );
    let (status, _) = a.api("GET", "/api/v1/nothing-here", &read, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, counties) = a
        .api("GET", "/api/v1/places/counties", &shelter_token, None)
        .await;
    assert_eq!((status, counties.as_array().unwrap().len()), (StatusCode::OK, 15));
    let (status, page) = a
        .api("GET", "/api/v1/audit/events?limit=5", &shelter_token, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");

    // Revoking through the API ends the token at once.
    let (_, tokens) = a.api("GET", "/api/v1/tokens", &read, None).await;
    let read_id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["scope"] == "read")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = a
        .api("DELETE", &format!("/api/v1/tokens/{read_id}"), &write, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.api("GET", "/api/v1/me", &read, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn openapi_probes_and_metrics() {
    let a = App::new().await;
    let doc: serde_json::Value =
        serde_json::from_str(&a.get("/api/v1/openapi.json", None).await.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/me",
        "/organisations",
        "/organisations/{id}/members",
        "/users",
        "/audit/events",
        "/tokens/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    let docs = a.get("/api/v1/docs", None).await;
    assert!(docs.body.contains("/api/v1/organisations"));
    assert_eq!(a.get("/healthz", None).await.body, "ok");
    assert_eq!(a.get("/readyz", None).await.status, StatusCode::OK);
    let metrics = a.get("/metrics", None).await.body;
    assert!(metrics.contains("passage_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/readyz\""));
}

#[tokio::test]
async fn forms_are_listed_and_bad_uploads_explained() {
    let a = App::new().await;
    let token = a.token("admin", passage_domain::TokenScope::Write).await;
    let (status, programmes) = a.api("GET", "/api/v1/programmes", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let list = programmes.as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(
        list.iter().all(|p| p["current_form"]["version"].is_string()),
        "{programmes}"
    );

    let req = Request::post("/api/v1/programmes/avrr/forms")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("not a workbook"))
        .unwrap();
    let r = a.send(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "invalid_form");
    assert_eq!(body["error"]["problems"][0]["sheet"], "workbook");

    // The current workbook downloads, and uploading it again is refused: same version.
    let id = list[0]["current_form"]["id"].as_str().unwrap();
    let req = Request::get(format!("/api/v1/forms/{id}/xlsx"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let res = a
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let xlsx = res.into_body().collect().await.unwrap().to_bytes();
    let code = list[0]["code"].as_str().unwrap();
    let req = Request::post(format!("/api/v1/programmes/{code}/forms"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(xlsx.clone()))
        .unwrap();
    let r = a.send(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("already uploaded"), "{}", r.body);

    // In the browser: the upload form posts multipart with the CSRF token in its action.
    let (cookie, csrf) = a.sign_in("meofficer").await;
    let page = a.get("/forms", Some(&cookie)).await;
    assert!(page.body.contains("Upload a new version") && page.body.contains("ct_victim_case"));
    let boundary = "XyZpassage";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"programme\"\r\n\r\n{code}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.xlsx\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&xlsx);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let multipart = |uri: String| {
        Request::post(uri)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::COOKIE, &cookie)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    assert_eq!(
        a.send(multipart("/forms/upload".into())).await.status,
        StatusCode::FORBIDDEN,
        "no token"
    );
    let r = a
        .send(multipart(format!("/forms/upload?csrf_token={csrf}")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("nothing was changed") && r.body.contains("already uploaded"),
        "{}",
        r.body
    );
    let (cookie, _) = a.sign_in("caseworker").await;
    assert!(
        !a.get("/forms", Some(&cookie))
            .await
            .body
            .contains("Upload a new version")
    );
}

#[tokio::test]
async fn cases_through_the_api() {
    let a = App::new().await;
    let token = a.token("caseworker", passage_domain::TokenScope::Write).await;
    let (_, orgs) = a.api("GET", "/api/v1/organisations", &token, None).await;
    let iom = orgs[0]["id"].as_str().unwrap().to_owned();

    // The shipped capacity-building form: an empty record is refused with every missing answer.
    let body = format!(r#"{{"organisation_id": "{iom}", "answers": {{}}}}"#);
    let (status, err) = a
        .api("POST", "/api/v1/programmes/capacity/cases", &token, Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "invalid_record");
    let problems = err["error"]["problems"].as_array().unwrap();
    assert!(
        !problems.is_empty() && problems.iter().all(|p| p["reason"] == "is required"),
        "{err}"
    );

    let body = format!(r#"{{"organisation_id": "{iom}", "answers": {{"participant": "x"}}, "extra": 1}}"#);
    let (status, _) = a
        .api("POST", "/api/v1/programmes/capacity/cases", &token, Some(&body))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown top-level keys are refused"
    );
    let body = format!(r#"{{"organisation_id": "{iom}", "answers": {{"participant": [1]}}}}"#);
    let (status, err) = a
        .api("POST", "/api/v1/programmes/capacity/cases", &token, Some(&body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["problems"][0]["path"], "participant[1]");

    // Another organisation's id, or one that does not exist: not found.
    let body = r#"{"organisation_id": "0190b5a0-0000-7000-8000-000000000000", "answers": {}}"#;
    assert_eq!(
        a.api("POST", "/api/v1/programmes/ct/cases", &token, Some(body))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, list) = a
        .api(
            "GET",
            &format!("/api/v1/cases?organisation={iom}&programme=ct"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        (status, list["cases"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    assert_eq!(list["total"], 0);
    assert_eq!(
        a.api(
            "GET",
            "/api/v1/cases/0190b5a0-0000-7000-8000-000000000000",
            &token,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn case_pages_show_answers_to_their_organisation_only() {
    let a = App::new().await;
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "passage_sensitivity"],
        &["text", "given_name", "Given name", "identifying"],
        &["select_one sex", "sex", "Sex", "reporting"],
        &["begin group", "story_group", "What happened", ""],
        &["text", "story", "Account", "sensitive"],
        &["end group", "", "", ""],
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
    let ctx = passage_service::Ctx::cli();
    a.svc
        .upload_form(&Actor::Operator, &ctx, "ct", &xlsx)
        .await
        .unwrap();
    let iom = a
        .svc
        .organisations(&Actor::Operator)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.is_host)
        .unwrap()
        .id;
    let answers = passage_service::Instance::default()
        .with("given_name", "Musu")
        .with("sex", "female")
        .with("story", "Recruited with a false job offer");
    let case = a
        .svc
        .register_case(&Actor::Operator, &ctx, "ct", iom, &answers)
        .await
        .unwrap();
    // A counter-trafficking case: its caseworker sees who it is about.
    a.assign_to(case.id, "caseworker").await;

    let (cookie, _) = a.sign_in("caseworker").await;
    let list = a.get("/cases?programme=ct", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    // Readers of the organisation's cases see names in lists (the list read is audited).
    assert!(list.body.contains(&case.number) && list.body.contains("Musu"));
    let page = a.get(&format!("/cases/{}", case.id), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Given name",
        "Musu",
        "Female",
        "What happened",
        "Recruited with a false job offer",
        "encrypted",
    ] {
        assert!(page.body.contains(text), "{text} missing");
    }

    let (cookie, _) = a.sign_in("shelter.caseworker").await;
    let other = a.get(&format!("/cases/{}", case.id), Some(&cookie)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains("Musu") && !other.body.contains(&case.number));
    let (cookie, _) = a.sign_in("auditor").await;
    assert_eq!(a.get("/cases", Some(&cookie)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn registering_a_case_in_the_browser() {
    let a = App::new().await;
    let survey: &[&[&str]] = &[
        &[
            "type",
            "name",
            "label",
            "required",
            "constraint",
            "constraint_message",
            "passage_sensitivity",
        ],
        &["text", "given_name", "Given name", "yes", "", "", "identifying"],
        &["integer", "age", "Age", "", ". < 120", "Too old", "reporting"],
        &["select_multiple needs", "needs", "Needs", "", "", "", "sensitive"],
        &["begin repeat", "support", "Support", "", "", "", ""],
        &[
            "select_one support_type",
            "support_type",
            "Type",
            "yes",
            "",
            "",
            "reporting",
        ],
        &["end repeat", "", "", "", "", "", ""],
    ];
    let choices: &[&[&str]] = &[
        &["list_name", "name", "label"],
        &["needs", "shelter", "Shelter"],
        &["needs", "medical", "Medical care"],
        &["support_type", "cash", "Cash"],
        &["support_type", "medical", "Medical"],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["rr_case", "2099010101"]];
    let xlsx = passage_xlsform::testing::workbook(&[
        ("survey", survey),
        ("choices", choices),
        ("settings", settings),
    ]);
    a.svc
        .upload_form(&Actor::Operator, &passage_service::Ctx::cli(), "rr", &xlsx)
        .await
        .unwrap();

    let (cookie, csrf) = a.sign_in("caseworker").await;
    let page = a.get("/cases/new?programme=rr", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("name=\"given_name\"") && page.body.contains("name=\"support[1]/support_type\"")
    );

    // Add a second support line: nothing is saved, the typed answers stay.
    let add = format!(
        "csrf_token={csrf}&given_name=Musu&needs=shelter&needs=medical&_count.support=1&support%5B1%5D%2Fsupport_type=cash&_add=support"
    );
    let r = a.post_form("/cases/new?programme=rr", Some(&cookie), &add).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("name=\"support[2]/support_type\"") && r.body.contains("value=\"Musu\""));
    assert!(r.body.contains("value=\"medical\" checked"));

    // Problems appear next to their inputs; nothing is saved.
    let bad = format!("csrf_token={csrf}&age=130&_count.support=2&support%5B1%5D%2Fsupport_type=cash");
    let r = a.post_form("/cases/new?programme=rr", Some(&cookie), &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for text in ["The case was not saved", "is required", "Too old"] {
        assert!(r.body.contains(text), "{text} missing");
    }

    let good = format!(
        "csrf_token={csrf}&given_name=Musu&age=30&needs=medical&_count.support=1&support%5B1%5D%2Fsupport_type=medical"
    );
    let r = a.post_form("/cases/new?programme=rr", Some(&cookie), &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r
        .headers
        .get(header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let case = a.get(&location, Some(&cookie)).await;
    assert!(case.body.contains("RR-") && case.body.contains("Musu") && case.body.contains("Medical care"));

    // Someone who may not register cases cannot open the page.
    let (cookie, _) = a.sign_in("auditor").await;
    assert_eq!(
        a.get("/cases/new?programme=rr", Some(&cookie)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn moving_a_case_through_its_workflow_in_the_browser_and_the_api() {
    let a = App::new().await;
    a.svc.seed_demo_cases(1).await.unwrap();
    let (cookie, csrf) = a.sign_in("caseworker").await;
    let list = a.get("/cases?programme=ct", Some(&cookie)).await;
    let id = list
        .body
        .split("<td class=\"nowrap\"><a href=\"/cases/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // A counter-trafficking case is worked on by its team: assign it to the caseworker.
    a.assign_to(id.parse().unwrap(), "caseworker").await;
    let page = a.get(&format!("/cases/{id}"), Some(&cookie)).await;
    assert!(
        page.body.contains("Move to Screened") && page.body.contains("Close case"),
        "moves offered"
    );
    let r = a
        .post_form(
            &format!("/cases/{id}/stage"),
            Some(&cookie),
            &format!("csrf_token={csrf}&to=screened&revision=2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = a.get(&format!("/cases/{id}"), Some(&cookie)).await;
    assert!(page.body.contains("id=\"case-stage\">Screened<") && page.body.contains("History"));
    // Closing without a reason is explained on the page; a stale revision is a conflict.
    let r = a
        .post_form(
            &format!("/cases/{id}/stage"),
            Some(&cookie),
            &format!("csrf_token={csrf}&to=closed&reason=&revision=3"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("reason: is required to close a case"));
    let r = a
        .post_form(
            &format!("/cases/{id}/stage"),
            Some(&cookie),
            &format!("csrf_token={csrf}&to=referred&revision=2"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let token = a.token("caseworker", passage_domain::TokenScope::Write).await;
    let (status, case) = a.api("GET", &format!("/api/v1/cases/{id}"), &token, None).await;
    assert_eq!((status, case["revision"].as_i64()), (StatusCode::OK, Some(3)));
    let body = r#"{"to": "closed", "reason": "completed", "revision": 3}"#;
    assert_eq!(
        a.api("POST", &format!("/api/v1/cases/{id}/stage"), &token, Some(body))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, case) = a.api("GET", &format!("/api/v1/cases/{id}"), &token, None).await;
    assert_eq!(case["stage"], "closed");
    let body = r#"{"to": "identified"}"#;
    assert_eq!(
        a.api("POST", &format!("/api/v1/cases/{id}/stage"), &token, Some(body))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn case_edits_conflicts_and_documents_over_http() {
    let a = App::new().await;
    a.svc.seed_demo_cases(1).await.unwrap();
    let token = a.token("caseworker", passage_domain::TokenScope::Write).await;
    let (_, me) = a.api("GET", "/api/v1/me", &token, None).await;
    let org = me["memberships"][0]["organisation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, list) = a
        .api(
            "GET",
            &format!("/api/v1/cases?organisation={org}&programme=ct&sort=number"),
            &token,
            None,
        )
        .await;
    assert_eq!((status, list["total"].as_i64()), (StatusCode::OK, Some(1)));
    let id = list["cases"][0]["id"].as_str().unwrap().to_owned();
    a.assign_to(id.parse().unwrap(), "caseworker").await;
    let (_, case) = a.api("GET", &format!("/api/v1/cases/{id}"), &token, None).await;
    let revision = case["revision"].as_i64().unwrap();

    // An edit at the current revision is saved and versioned.
    let mut answers = case["answers"].clone();
    let county = if answers["identification_county"] == "LR-BM" {
        "LR-BG"
    } else {
        "LR-BM"
    };
    answers["identification_county"] = county.into();
    let body = serde_json::json!({ "answers": answers, "revision": revision }).to_string();
    let (status, saved) = a
        .api("PUT", &format!("/api/v1/cases/{id}/answers"), &token, Some(&body))
        .await;
    assert_eq!(
        (status, saved["revision"].as_i64()),
        (StatusCode::OK, Some(revision + 1)),
        "{saved}"
    );
    // The same edit from the old revision is a conflict naming what changed; nothing saved.
    answers["identification_county"] = "LR-GP".into();
    let body = serde_json::json!({ "answers": answers, "revision": revision }).to_string();
    let (status, err) = a
        .api("PUT", &format!("/api/v1/cases/{id}/answers"), &token, Some(&body))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale"))
    );
    assert_eq!(
        err["error"]["changed_fields"],
        serde_json::json!(["identification_county"])
    );
    assert!(!err.to_string().contains(county), "no values in errors");
    let (_, history) = a
        .api("GET", &format!("/api/v1/cases/{id}/history"), &token, None)
        .await;
    // The first version is the assignment the test made.
    assert_eq!(history[1]["changes"][0]["path"], "identification_county");

    // The browser edit page answers a stale save with 409 and keeps the user's answers.
    let (cookie, csrf) = a.sign_in("caseworker").await;
    let page = a.get(&format!("/cases/{id}/edit"), Some(&cookie)).await;
    assert!(page.status == StatusCode::OK && page.body.contains("Save changes"));
    let form = format!("csrf_token={csrf}&_revision={revision}&case_ref=DEMO-STALE-EDIT&sex=female");
    let stale = a
        .post_form(&format!("/cases/{id}/edit"), Some(&cookie), &form)
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("changed by someone else") && stale.body.contains("DEMO-STALE-EDIT"));

    // Documents: checked against their content and size; stored and listed.
    let upload = |name: &str, bytes: Vec<u8>| {
        Request::post(format!("/api/v1/cases/{id}/documents?name={name}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))
            .unwrap()
    };
    let disguised = a.send(upload("photo.png", b"%PDF-1.7 fictional".to_vec())).await;
    assert_eq!(
        disguised.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        disguised.body
    );
    let huge = a
        .send(upload(
            "big.pdf",
            vec![b'%'; passage_service::MAX_DOCUMENT_BYTES + 10],
        ))
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    let ok = a.send(upload("letter.pdf", b"%PDF-1.7 fictional".to_vec())).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let (_, docs) = a
        .api("GET", &format!("/api/v1/cases/{id}/documents"), &token, None)
        .await;
    assert_eq!(docs[0]["name"], "letter.pdf");

    // The OpenAPI document describes the case-work endpoints.
    let doc = a.get("/api/v1/openapi.json", None).await.body;
    for path in [
        "/cases/{id}/answers",
        "/cases/{id}/assignment",
        "/referrals/{id}/answer",
        "/persons/{id}",
    ] {
        assert!(doc.contains(path), "{path} undocumented");
    }
}
