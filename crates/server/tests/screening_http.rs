//! Watchlist screening over HTTP: the page (upload, refusal with the line named, the hit queue
//! and decisions) and the JSON API. Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use passage_domain::{Actor, TokenScope};
use passage_service::Ctx;
use passage_xlsform::fill::{Seed, fill};
use support::App;

const LIST: &str = "id,full_name,aliases,date_of_birth,nationality,list,reason\n\
W-001,Demo Zayzay Kpakolo,,,LBR,Demo alert list,fictional entry for tests\n";

fn multipart(boundary: &str, name: &str, csv: &str) -> Vec<u8> {
    format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_border_post_uploads_a_list_and_reviews_the_hits_of_its_crossings() {
    let a = App::new().await;
    let lis = a
        .svc
        .organisations(&Actor::Operator)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.name.as_str() == "Liberia Immigration Service")
        .unwrap()
        .id;
    let (cookie, csrf) = a.sign_in("border").await;
    let page = a.get("/screening", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("href=\"/screening\"")
            && page.body.contains("id=\"no-lists\"")
            && page.body.contains("Upload a list")
    );

    let upload = |body: Vec<u8>| {
        Request::post(format!("/screening/watchlists?csrf_token={csrf}"))
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
            .header(header::COOKIE, &cookie)
            .body(Body::from(body))
            .unwrap()
    };
    // A ragged row refuses the whole list and names the line, not the value.
    let r = a
        .send(upload(multipart(
            "XyZ",
            "Broken",
            "id,full_name,dob\nW-1,Demo Person,1980\nW-2,Demo Other\n",
        )))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("nothing was changed") && r.body.contains("line 3"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Demo Other"));
    let r = a.send(upload(multipart("XyZ", "Demo alert list", LIST))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = a
        .get(r.headers[header::LOCATION].to_str().unwrap(), Some(&cookie))
        .await;
    assert!(
        page.body.contains("saved with 1 entries") && page.body.contains("Demo alert list"),
        "{}",
        page.body
    );

    // A crossing naming the listed person raises a hit in the queue.
    let (_, form) = a.svc.current_form("border").await.unwrap();
    let answers = fill(&form, &mut Seed::new(5), a.svc.today())
        .unwrap()
        .with("given_names", "Demo Zayzay")
        .with("surname", "Kpakolo");
    let case = a
        .svc
        .register_case(&Actor::Operator, &Ctx::cli(), "border", lis, &answers)
        .await
        .unwrap();
    let page = a.get("/screening", Some(&cookie)).await;
    assert!(
        page.body.contains(&case.number) && page.body.contains("W-001") && page.body.contains("Same person"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Kpakolo"), "listed names never shown");

    // The API shows the same hit; a decision is taken once.
    let token = a.token("border", TokenScope::Write).await;
    let (status, hits) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{lis}/screening-hits"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let hit = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["case_id"] == case.id.to_string())
        .unwrap()
        .clone();
    assert_eq!(hit["status"], "open");
    let id = hit["id"].as_str().unwrap();
    let (status, _) = a
        .api(
            "POST",
            &format!("/api/v1/screening-hits/{id}/decision"),
            &token,
            Some(r#"{"decision":"maybe"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = a
        .post_form(
            &format!("/screening/hits/{id}"),
            Some(&cookie),
            &format!("csrf_token={csrf}&decision=dismiss"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (status, _) = a
        .api(
            "POST",
            &format!("/api/v1/screening-hits/{id}/decision"),
            &token,
            Some(r#"{"decision":"confirm"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, open) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{lis}/screening-hits"),
            &token,
            None,
        )
        .await;
    assert!(open.as_array().unwrap().iter().all(|h| h["id"] != id));

    // Lists through the API, and who may see what.
    let req = Request::post(format!("/api/v1/organisations/{lis}/watchlists?name=Second"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(LIST))
        .unwrap();
    let r = a.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (_, lists) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{lis}/watchlists"),
            &token,
            None,
        )
        .await;
    assert_eq!(lists.as_array().unwrap().len(), 2);
    let caseworker = a.token("caseworker", TokenScope::Write).await;
    let (status, _) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{lis}/screening-hits"),
            &caseworker,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another organisation's queue does not exist for them"
    );
    let (cookie, _) = a.sign_in("caseworker").await;
    assert!(
        !a.get("/", Some(&cookie))
            .await
            .body
            .contains("href=\"/screening\"")
    );
}
