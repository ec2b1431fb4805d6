//! Likely duplicates before saving, in the browser (a two-step registration) and in the API.
//! Runs on PostgreSQL too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

mod support;

use axum::http::{StatusCode, header};
use passage_domain::{Actor, TokenScope};
use support::App;

/// A small R&R form naming the person (given name, surname, date of birth).
async fn person_form(a: &App) {
    let survey: &[&[&str]] = &[
        &["type", "name", "label", "required", "passage_sensitivity"],
        &["text", "given_name", "Given name", "yes", "identifying"],
        &["text", "surname", "Surname", "yes", "identifying"],
        &["date", "date_of_birth", "Date of birth", "", "identifying"],
    ];
    let settings: &[&[&str]] = &[&["form_id", "version"], &["rr_case", "2099010101"]];
    let xlsx = passage_xlsform::testing::workbook(&[("survey", survey), ("settings", settings)]);
    a.svc
        .upload_form(&Actor::Operator, &passage_service::Ctx::cli(), "rr", &xlsx)
        .await
        .unwrap();
}

fn case_id(location: &str) -> String {
    location.trim_start_matches("/cases/").to_owned()
}

#[tokio::test]
async fn a_second_registration_of_the_same_person_asks_first() {
    let a = App::new().await;
    person_form(&a).await;
    let (cookie, csrf) = a.sign_in("caseworker").await;
    let post = |body: String| {
        let cookie = cookie.clone();
        let a = &a;
        async move { a.post_form("/cases/new?programme=rr", Some(&cookie), &body).await }
    };
    let r = post(format!(
        "csrf_token={csrf}&given_name=Mohammed&surname=Kollie&date_of_birth=1990-04-09"
    ))
    .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "the first registration meets nobody: {}",
        r.body
    );
    let first = case_id(r.headers[header::LOCATION].to_str().unwrap());

    // The same person spelled another way: nothing is saved; the page asks who they are.
    let again = format!("csrf_token={csrf}&given_name=Mamadee&surname=Kolie&date_of_birth=1990-04-09");
    let r = post(again.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("This person may already be registered") && r.body.contains("Mohammed Kollie"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("date_of_birth exact") && r.body.contains("value=\"Mamadee\""),
        "reasons shown, typed answers kept"
    );
    let person = r
        .body
        .split("name=\"_person\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Choosing the person found links the new case to them.
    let r = post(format!("{again}&_person={person}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let linked = case_id(r.headers[header::LOCATION].to_str().unwrap());
    let (svc_first, svc_linked) = {
        let who = Actor::Operator;
        let ctx = passage_service::Ctx::cli();
        (
            a.svc
                .case(&who, &ctx, first.parse().unwrap())
                .await
                .unwrap()
                .person_id,
            a.svc
                .case(&who, &ctx, linked.parse().unwrap())
                .await
                .unwrap()
                .person_id,
        )
    };
    assert_eq!(svc_first, svc_linked);

    // "Someone new" registers a new person even so.
    let r = post(format!("{again}&_new_person=1")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let separate = case_id(r.headers[header::LOCATION].to_str().unwrap());
    let separate_person = a
        .svc
        .case(
            &Actor::Operator,
            &passage_service::Ctx::cli(),
            separate.parse().unwrap(),
        )
        .await
        .unwrap()
        .person_id;
    assert_ne!(separate_person, svc_first);

    // The API asks the same question before saving.
    let token = a.token("caseworker", TokenScope::Write).await;
    let org = a.host().await;
    let (status, found) = a
        .api(
            "POST",
            &format!("/api/v1/organisations/{org}/persons/similar"),
            &token,
            Some(r#"{"given_name":"Muhammad","surname":"Kollie","date_of_birth":"1990-04-09"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let found = found.as_array().unwrap();
    assert!(
        !found.is_empty() && found.iter().any(|f| f["person_id"] == person.as_str()),
        "{found:?}"
    );
    assert!(
        found[0]["probability"].as_f64().unwrap() >= 0.5
            && found[0]["explanation"].as_str().unwrap().contains("surname")
    );
    let (status, _) = a
        .api(
            "POST",
            &format!("/api/v1/organisations/{org}/persons/similar"),
            &token,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
}

#[tokio::test]
async fn the_duplicates_page_merges_and_undoes_and_the_api_does_the_same() {
    let a = App::new().await;
    person_form(&a).await;
    let org = a.host().await;
    let ctx = passage_service::Ctx::cli();
    let answers = |surname: &str| {
        passage_service::Instance::default()
            .with("given_name", "Mohammed")
            .with("surname", surname)
            .with("date_of_birth", "1990-04-09")
    };
    // The same person registered twice as two persons (the service registers what it is given).
    let first = a
        .svc
        .register_case(&Actor::Operator, &ctx, "rr", org, &answers("Kollie"))
        .await
        .unwrap();
    let second = a
        .svc
        .register_case(&Actor::Operator, &ctx, "rr", org, &answers("Kolie"))
        .await
        .unwrap();
    let person_of = |id: uuid::Uuid| {
        let a = &a;
        async move {
            a.svc
                .case(&Actor::Operator, &passage_service::Ctx::cli(), id)
                .await
                .unwrap()
                .person_id
                .unwrap()
        }
    };
    let (p1, p2) = (person_of(first.id).await, person_of(second.id).await);

    let (cookie, csrf) = a.sign_in("caseworker").await;
    let page = a.get("/persons/duplicates", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("href=\"/persons/duplicates\"")
            && page.body.contains("Mohammed Kollie")
            && page.body.contains("Mohammed Kolie"),
        "{}",
        page.body
    );
    assert!(page.body.contains("date_of_birth exact"));
    let (f, s) = (p1.min(p2), p1.max(p2));
    let r = a
        .post_form(
            "/persons/duplicates/merge",
            Some(&cookie),
            &format!("csrf_token={csrf}&first={f}&second={s}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(person_of(first.id).await, person_of(second.id).await);
    let page = a.get("/persons/duplicates", Some(&cookie)).await;
    assert!(page.body.contains("id=\"no-duplicates\"") && page.body.contains("Undo"));

    // The API lists the merge and undoes it.
    let token = a.token("caseworker", TokenScope::Write).await;
    let (_, merges) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{org}/merges"),
            &token,
            None,
        )
        .await;
    let merge = merges[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(merges[0]["cases_moved"], 1);
    let (status, _) = a
        .api(
            "POST",
            &format!("/api/v1/persons/merges/{merge}/undo"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!((person_of(first.id).await, person_of(second.id).await), (p1, p2));
    let (status, _) = a
        .api(
            "POST",
            &format!("/api/v1/persons/merges/{merge}/undo"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, queue) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{org}/duplicates"),
            &token,
            None,
        )
        .await;
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let (status, _) = a
        .api(
            "POST",
            "/api/v1/persons/distinct",
            &token,
            Some(&format!(r#"{{"first":"{p1}","second":"{p2}"}}"#)),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, queue) = a
        .api(
            "GET",
            &format!("/api/v1/organisations/{org}/duplicates"),
            &token,
            None,
        )
        .await;
    assert!(queue.as_array().unwrap().is_empty());
    let (status, _) = a
        .api(
            "POST",
            "/api/v1/persons/merges",
            &token,
            Some(&format!(r#"{{"kept":"{p1}","merged":"{p1}"}}"#)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
