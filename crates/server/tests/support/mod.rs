//! What the HTTP tests share: the whole router in-process (no socket) over a test database
//! with the demo organisations, accounts and shipped forms, and ways to call it as a browser
//! or an API client.

#![allow(dead_code)] // each test file uses its own part

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use passage_crypto::PasswordHasher;
use passage_domain::{OrgId, SystemClock};
use passage_server::{ServerOptions, router};
use passage_service::{Passage, Settings};
use passage_store::test_support::TestDb;
use std::sync::Arc;
use tower::ServiceExt;

pub struct App {
    _t: TestDb,
    pub svc: Passage,
    pub app: Router,
    passwords: Vec<(String, String)>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    /// The body as text (lossy), and as sent.
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }
}

impl App {
    pub async fn new() -> Self {
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
        }
    }

    pub fn password(&self, user: &str) -> String {
        self.passwords.iter().find(|(u, _)| u == user).unwrap().1.clone()
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, path: &str, cookie: Option<&str>, form: &str) -> Reply {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "passage.test")
            .header(header::ORIGIN, "http://passage.test");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap()).await
    }

    /// Sign in through the form; returns the cookie pair and the page's CSRF token.
    pub async fn sign_in(&self, user: &str) -> (String, String) {
        let r = self
            .post_form(
                "/login",
                None,
                &format!("username={user}&password={}", self.password(user)),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let set_cookie = r
            .headers
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
            "{set_cookie}"
        );
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let home = self.get("/", Some(&cookie)).await;
        let csrf = home
            .body
            .split("data-csrf=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        (cookie, csrf)
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let r = self
            .send(req.body(Body::from(body.unwrap_or_default().to_owned())).unwrap())
            .await;
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn token(&self, user: &str, scope: passage_domain::TokenScope) -> String {
        let s = self
            .svc
            .login(&passage_service::Ctx::cli(), user, &self.password(user), "t")
            .await
            .unwrap();
        let who = self.svc.authenticate_session(&s.token).await.unwrap();
        self.svc
            .create_token(&passage_service::Ctx::cli(), &who, "test", scope, None)
            .await
            .unwrap()
            .1
    }
}

impl App {
    /// The host organisation (IOM Liberia).
    /// Assign a case to a member (a counter-trafficking case's identity is then theirs to see).
    pub async fn assign_to(&self, case: uuid::Uuid, username: &str) {
        let ctx = passage_service::Ctx::cli();
        let member = self
            .svc
            .users(&passage_domain::Actor::Operator, &ctx)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.user.username.as_str() == username)
            .unwrap();
        self.svc
            .assign_case(
                &passage_domain::Actor::Operator,
                &ctx,
                case,
                Some(member.user.id),
                None,
                None,
            )
            .await
            .unwrap();
    }

    pub async fn host(&self) -> OrgId {
        self.svc
            .organisations(&passage_domain::Actor::Operator)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.is_host)
            .unwrap()
            .id
    }
}
