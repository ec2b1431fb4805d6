//! Single sign-on against a local OpenID provider run by this test: a real HTTP server with a
//! discovery document, a published key set, an authorization endpoint that signs the test's
//! user straight in, and a token endpoint that checks the client's secret and the PKCE
//! verifier before it issues an RS256-signed ID token. Passage talks to it over the network
//! exactly as it would to Keycloak, Entra ID or Google.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use passage_sso::{SsoClient, SsoConfig};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use support::App;

const CLIENT_ID: &str = "passage-test";
const CLIENT_SECRET: &str = "test-client-secret-not-real";
const REDIRECT: &str = "http://passage.test/login/sso/callback";

/// What the provider does at the next sign-in.
#[derive(Clone)]
struct Behaviour {
    subject: String,
    email: String,
    email_verified: bool,
    amr: Vec<&'static str>,
    /// Spoil one part of the ID token: "nonce", "audience", "expired", "signature".
    spoil: Option<&'static str>,
}

struct Issued {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    behaviour: Behaviour,
}

#[derive(Clone)]
struct Provider {
    url: String,
    next: Arc<Mutex<Behaviour>>,
    codes: Arc<Mutex<HashMap<String, Issued>>>,
}

fn key(name: &str) -> EncodingKey {
    let path = format!(
        "{}/tests/fixtures/test-{name}-key.der",
        env!("CARGO_MANIFEST_DIR")
    );
    EncodingKey::from_rsa_der(&std::fs::read(path).unwrap())
}

async fn discovery(State(p): State<Provider>) -> Json<Value> {
    Json(json!({
        "issuer": p.url,
        "authorization_endpoint": format!("{}/authorize", p.url),
        "token_endpoint": format!("{}/token", p.url),
        "jwks_uri": format!("{}/jwks", p.url),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks() -> Response {
    let path = format!(
        "{}/tests/fixtures/test-issuer-jwks.json",
        env!("CARGO_MANIFEST_DIR")
    );
    (
        [(header::CONTENT_TYPE, "application/json")],
        std::fs::read(path).unwrap(),
    )
        .into_response()
}

/// Signs the configured user in at once and sends the browser back with a code.
async fn authorize(State(p): State<Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    let code = format!("code-{}", p.codes.lock().unwrap().len());
    p.codes.lock().unwrap().insert(
        code.clone(),
        Issued {
            nonce: q["nonce"].clone(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: q["redirect_uri"].clone(),
            behaviour: p.next.lock().unwrap().clone(),
        },
    );
    Redirect::to(&format!("{}?code={code}&state={}", q["redirect_uri"], q["state"])).into_response()
}

async fn token(
    State(p): State<Provider>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
    );
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let Some(issued) = p.codes.lock().unwrap().remove(&f["code"]) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let challenge =
        data_encoding::BASE64URL_NOPAD.encode(&passage_crypto::sha256(f["code_verifier"].as_bytes()));
    if challenge != issued.challenge || f["redirect_uri"] != issued.redirect_uri {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let b = issued.behaviour;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let spoil = |what| b.spoil == Some(what);
    let claims = json!({
        "iss": p.url,
        "sub": b.subject,
        "aud": if spoil("audience") { "another-client" } else { CLIENT_ID },
        "iat": now,
        "exp": if spoil("expired") { now - 3600 } else { now + 300 },
        "nonce": if spoil("nonce") { "a-nonce-from-elsewhere".to_owned() } else { issued.nonce },
        "email": b.email,
        "email_verified": b.email_verified,
        "amr": b.amr,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-issuer-1".into());
    let signer = if spoil("signature") {
        key("stranger")
    } else {
        key("issuer")
    };
    let id_token = jsonwebtoken::encode(&header, &claims, &signer).unwrap();
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "id_token": id_token})).into_response()
}

async fn start_provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let p = Provider {
        url,
        next: Arc::new(Mutex::new(Behaviour {
            subject: "staff-0001".into(),
            email: "caseworker@demo.passage.invalid".into(),
            email_verified: true,
            amr: vec!["pwd"],
            spoil: None,
        })),
        codes: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(p.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    p
}

struct World {
    a: App,
    provider: Provider,
    browser: reqwest::Client,
}

impl World {
    async fn new() -> Self {
        let provider = start_provider().await;
        let sso = SsoClient::new(SsoConfig {
            issuer: provider.url.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_url: REDIRECT.into(),
            label: "Test Provider".into(),
        })
        .unwrap();
        Self {
            a: App::with_sso(Some(Arc::new(sso))).await,
            provider,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn next(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.provider.next.lock().unwrap());
    }

    /// Press the button and let the provider send the browser back: the callback's path.
    async fn to_provider_and_back(&self) -> String {
        let start = self.a.get("/login/sso", None).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let at_provider = start.headers[header::LOCATION].to_str().unwrap().to_owned();
        assert!(at_provider.starts_with(&format!("{}/authorize?", self.provider.url)));
        let back = self.browser.get(&at_provider).send().await.unwrap();
        assert!(back.status().is_redirection());
        let back = back.headers()[header::LOCATION].to_str().unwrap().to_owned();
        back.strip_prefix("http://passage.test").unwrap().to_owned()
    }

    /// A whole sign-in; returns the callback's reply.
    async fn sign_in(&self) -> support::Reply {
        let callback = self.to_provider_and_back().await;
        self.a.get(&callback, None).await
    }
}

fn cookie_of(r: &support::Reply) -> String {
    r.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn staff_sign_in_through_their_provider_and_still_give_passages_second_factor() {
    let w = World::new().await;
    let login = w.a.get("/login", None).await;
    assert!(login.body.contains("Sign in with Test Provider"));

    // The caseworker's role requires a second factor; the provider used only a password.
    let r = w.sign_in().await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.headers[header::LOCATION], "/login/second-factor");
    let cookie = cookie_of(&r);
    assert_eq!(
        w.a.get("/", Some(&cookie)).await.headers[header::LOCATION],
        "/login/second-factor"
    );
    w.a.answer_second_factor("caseworker", &cookie).await;
    let home = w.a.get("/", Some(&cookie)).await;
    assert!(
        home.body.contains("Welcome, Demo Caseworker (fictional)"),
        "{}",
        home.body
    );

    // Linked by the subject now: a changed address at the provider still finds the account.
    w.next(|b| b.email = "renamed@elsewhere.invalid".into());
    let again = w.sign_in().await;
    assert_eq!(again.headers[header::LOCATION], "/login/second-factor");

    // When the provider used a second factor itself (amr), Passage asks for none.
    w.next(|b| {
        b.subject = "staff-0002".into();
        b.email = "admin@demo.passage.invalid".into();
        b.amr = vec!["pwd", "mfa"];
    });
    let admin = w.sign_in().await;
    assert_eq!(admin.headers[header::LOCATION], "/", "{}", admin.body);
    let home = w.a.get("/", Some(&cookie_of(&admin))).await;
    assert!(home.body.contains("Welcome, Demo Administrator (fictional)"));
}

#[tokio::test]
async fn only_a_verified_address_of_a_passage_account_signs_in() {
    let w = World::new().await;
    w.next(|b| b.email = "stranger@demo.passage.invalid".into());
    let r = w.sign_in().await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("No Passage account is linked to this sign-in"));
    assert!(!r.headers.contains_key(header::SET_COOKIE));

    w.next(|b| {
        b.email = "border@demo.passage.invalid".into();
        b.email_verified = false;
    });
    let r = w.sign_in().await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an unverified address links nothing"
    );
}

#[tokio::test]
async fn spoiled_tokens_and_replayed_callbacks_are_refused() {
    let w = World::new().await;
    for spoil in ["nonce", "audience", "expired", "signature"] {
        w.next(|b| b.spoil = Some(spoil));
        let r = w.sign_in().await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{spoil}: {}", r.body);
        assert!(!r.headers.contains_key(header::SET_COOKIE), "{spoil}");
        assert!(r.body.contains("Single sign-on is not working"), "{spoil}");
    }

    w.next(|b| b.spoil = None);
    let callback = w.to_provider_and_back().await;
    assert_eq!(w.a.get(&callback, None).await.status, StatusCode::SEE_OTHER);
    let replay = w.a.get(&callback, None).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "a state works once");
    assert!(replay.body.contains("expired or was already used"));

    let forged =
        w.a.get("/login/sso/callback?code=code-0&state=made-up", None)
            .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let denied =
        w.a.get("/login/sso/callback?error=access_denied&state=x", None)
            .await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    assert!(denied.body.contains("did not complete the sign-in"));
}

#[tokio::test]
async fn without_a_provider_there_is_no_button_and_no_route() {
    let a = App::new().await;
    assert!(!a.get("/login", None).await.body.contains("Sign in with"));
    assert_eq!(a.get("/login/sso", None).await.status, StatusCode::NOT_FOUND);
}
