//! Two-step verification through the browser: required roles set up an authenticator at their
//! first sign-in, a half-finished sign-in can do nothing else, codes are single use, wrong
//! codes lock the account, others may opt in, and an administrator resets a lost phone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::{StatusCode, header};
use passage_domain::AuditAction;
use support::{App, between};

/// Post the password; returns the cookie and where the browser is sent.
async fn password_step(a: &App, user: &str) -> (String, String) {
    let r = a
        .post_form(
            "/login",
            None,
            &format!("username={user}&password={}", a.password(user)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let to = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    (cookie, to)
}

fn csrf_of(page: &str) -> String {
    between(page, "name=\"csrf_token\" value=\"", "\"").to_owned()
}

async fn count(a: &App, action: AuditAction) -> usize {
    let q = passage_store::audit::Filter {
        action_prefix: Some("auth.".to_owned()),
        limit: 500,
        ..Default::default()
    };
    let mut pooled = a.t.db.acquire().await.unwrap();
    passage_store::audit::list(&mut pooled.conn(), &q)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == action.as_str())
        .count()
}

#[tokio::test]
async fn required_roles_set_up_an_authenticator_and_half_signed_in_sessions_can_do_nothing() {
    let a = App::new().await;
    let (cookie, to) = password_step(&a, "caseworker").await;
    assert_eq!(to, "/login/second-factor");

    // Past the password only: no page, no API, no menu.
    for path in ["/", "/cases", "/account"] {
        let r = a.get(path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers[header::LOCATION], "/login/second-factor", "{path}");
    }
    let api = a.get("/api/v1/me", Some(&cookie)).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "{}", api.body);

    let page = a.get("/login/second-factor", Some(&cookie)).await;
    assert!(page.body.contains("Your role gives access to sensitive records"));
    assert!(page.body.contains("<svg"), "a QR code to scan");
    let secret = between(&page.body, "data-totp-secret>", "<").to_owned();
    assert!(
        a.get("/login/second-factor", Some(&cookie))
            .await
            .body
            .contains(&secret),
        "reloading shows the same key (the phone already has it)"
    );
    a.phones.add("caseworker", &secret);
    let csrf = csrf_of(&page.body);

    let wrong = a
        .post_form(
            "/login/second-factor",
            Some(&cookie),
            &format!("csrf_token={csrf}&code=000000"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("is not the current code"));
    let forged = a
        .post_form(
            "/login/second-factor",
            Some(&cookie),
            "csrf_token=forged&code=123456",
        )
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "the CSRF check holds before the code"
    );

    let code = a
        .phones
        .code("caseworker", || a.svc.now().micros() / 1_000_000)
        .await;
    let done = a
        .post_form(
            "/login/second-factor",
            Some(&cookie),
            &format!("csrf_token={csrf}&code={code}"),
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.headers[header::LOCATION], "/");
    let home = a.get("/", Some(&cookie)).await;
    assert!(home.body.contains("Welcome, Demo Caseworker (fictional)"));
    let account = a.get("/account", Some(&cookie)).await;
    assert!(account.body.contains("On: signing in asks for a code"));
    assert_eq!(count(&a, AuditAction::SecondFactorEnrolled).await, 1);
    assert_eq!(count(&a, AuditAction::SecondFactorFailed).await, 1);

    // The next sign-in asks for a code; the one just used is refused (replay).
    let (again, to) = password_step(&a, "caseworker").await;
    assert_eq!(to, "/login/second-factor");
    let page = a.get("/login/second-factor", Some(&again)).await;
    assert!(
        !page.body.contains("data-totp-secret"),
        "no key is shown once set up"
    );
    let replay = a
        .post_form(
            "/login/second-factor",
            Some(&again),
            &format!("csrf_token={}&code={code}", csrf_of(&page.body)),
        )
        .await;
    assert_eq!(
        replay.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a code works once"
    );
    a.answer_second_factor("caseworker", &again).await;
    assert_eq!(count(&a, AuditAction::SecondFactorVerified).await, 1);
}

#[tokio::test]
async fn wrong_codes_lock_the_account_like_wrong_passwords() {
    let a = App::new().await;
    a.sign_in("manager").await;
    let (cookie, _) = password_step(&a, "manager").await;
    let csrf = csrf_of(&a.get("/login/second-factor", Some(&cookie)).await.body);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = a
            .post_form(
                "/login/second-factor",
                Some(&cookie),
                &format!("csrf_token={csrf}&code=999999"),
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses[..5], [StatusCode::UNPROCESSABLE_ENTITY; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // Even the right code waits out the lockout.
    let code = a
        .phones
        .code("manager", || a.svc.now().micros() / 1_000_000)
        .await;
    let r = a
        .post_form(
            "/login/second-factor",
            Some(&cookie),
            &format!("csrf_token={csrf}&code={code}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn others_may_opt_in_and_an_administrator_resets_a_lost_phone() {
    let a = App::new().await;
    // A border officer's role does not require it: the password is enough.
    let (cookie, to) = password_step(&a, "border").await;
    assert_eq!(to, "/");
    let account = a.get("/account", Some(&cookie)).await;
    assert!(account.body.contains("id=\"second-factor-state\">Off."));
    let page = a.get("/account/second-factor", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    a.phones
        .add("border", between(&page.body, "data-totp-secret>", "<"));
    let code = a.phones.code("border", || a.svc.now().micros() / 1_000_000).await;
    let on = a
        .post_form(
            "/account/second-factor",
            Some(&cookie),
            &format!("csrf_token={}&code={code}", csrf_of(&page.body)),
        )
        .await;
    assert_eq!(on.headers[header::LOCATION], "/account", "{}", on.body);
    assert_eq!(password_step(&a, "border").await.1, "/login/second-factor");

    // The border officer's phone is lost: their organisation's administrator resets it.
    let (admin, admin_csrf) = a.sign_in("admin").await;
    let users = a.get("/users", Some(&admin)).await;
    assert!(users.body.contains("/users/border/second-factor/reset"));
    assert!(
        !users.body.contains("/users/admin/second-factor/reset"),
        "not one's own"
    );
    let reset = a
        .post_form(
            "/users/border/second-factor/reset",
            Some(&admin),
            &format!("csrf_token={admin_csrf}"),
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    assert_eq!(count(&a, AuditAction::SecondFactorReset).await, 1);
    assert_eq!(
        a.get("/", Some(&cookie)).await.headers[header::LOCATION],
        "/login?expired=1",
        "their sessions ended"
    );
    assert_eq!(
        password_step(&a, "border").await.1,
        "/",
        "optional again, and off"
    );

    // A caseworker may not reset anyone's.
    let (cw, cw_csrf) = a.sign_in("caseworker").await;
    let refused = a
        .post_form(
            "/users/admin/second-factor/reset",
            Some(&cw),
            &format!("csrf_token={cw_csrf}"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}
