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
use passage_store::test_support::{Authenticator, TestDb};
use std::sync::Arc;
use tower::ServiceExt;

pub struct App {
    pub t: TestDb,
    pub svc: Passage,
    pub app: Router,
    passwords: Vec<(String, String)>,
    /// The demo users' authenticator apps.
    pub phones: Authenticator,
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
        Self::with_sso(None).await
    }

    /// [`Self::new`] with single sign-on through `sso`.
    pub async fn with_sso(sso: Option<Arc<passage_sso::SsoClient>>) -> Self {
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
                sso,
            },
        );
        Self {
            t,
            svc,
            app,
            passwords: accounts.into_iter().map(|a| (a.username, a.password)).collect(),
            phones: Authenticator::default(),
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

    /// Post a multipart form as a browser does (the CSRF token goes in `path`'s query);
    /// parts are (name, file name, content).
    pub async fn post_multipart(
        &self,
        path: &str,
        cookie: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        let boundary = "PassageTestBoundary";
        let mut body = Vec::new();
        for (name, file, content) in parts {
            let disposition = match file {
                Some(f) => format!(
                    "form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
                ),
                None => format!("form-data; name=\"{name}\""),
            };
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = Request::post(path)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::HOST, "passage.test")
            .header(header::ORIGIN, "http://passage.test")
            .header(header::COOKIE, cookie);
        self.send(req.body(Body::from(body)).unwrap()).await
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
        if r.headers.get(header::LOCATION).unwrap() == "/login/second-factor" {
            self.answer_second_factor(user, &cookie).await;
        }
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

    /// On the second-factor page: set up the authenticator from the key shown the first time,
    /// then type its code.
    pub async fn answer_second_factor(&self, user: &str, cookie: &str) {
        let page = self.get("/login/second-factor", Some(cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        if let Some(rest) = page.body.split("data-totp-secret>").nth(1) {
            self.phones.add(user, rest.split('<').next().unwrap());
        }
        let csrf = between(&page.body, "name=\"csrf_token\" value=\"", "\"");
        let code = self
            .phones
            .code(user, || self.svc.now().micros() / 1_000_000)
            .await;
        let done = self
            .post_form(
                "/login/second-factor",
                Some(cookie),
                &format!("csrf_token={csrf}&code={code}"),
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.headers.get(header::LOCATION).unwrap(), "/");
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
        self.finish_sign_in(&s).await;
        let who = self.svc.authenticate_session(&s.token).await.unwrap();
        self.svc
            .create_token(&passage_service::Ctx::cli(), &who, "test", scope, None)
            .await
            .unwrap()
            .1
    }
}

impl App {
    /// Finish a service-level sign-in's second factor as its user would.
    pub async fn finish_sign_in(&self, session: &passage_service::NewSession) {
        if session.second_factor == passage_service::FactorState::Done {
            return;
        }
        let pending = self.svc.pending_sign_in(&session.token).await.unwrap();
        let username = pending.user.username.to_string();
        if pending.state == passage_service::FactorState::Enrol {
            let setup = self.svc.start_enrolment(&pending.user).await.unwrap();
            self.phones.add(&username, &setup.secret);
        }
        let code = self
            .phones
            .code(&username, || self.svc.now().micros() / 1_000_000)
            .await;
        self.svc
            .complete_sign_in(&passage_service::Ctx::cli(), &pending, &code, "t")
            .await
            .unwrap();
    }

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

/// The text between the first `start` and the next `end`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .unwrap_or_else(|| panic!("{start:?} not found"))
}

impl App {
    /// Who a signed-in browser's cookie (`name=token`) is, as the service sees them.
    pub async fn session(&self, cookie: &str) -> passage_service::Authenticated {
        let token = cookie.split_once('=').map_or(cookie, |(_, t)| t);
        self.svc.authenticate_session(token).await.unwrap()
    }
}
