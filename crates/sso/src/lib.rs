//! OpenID Connect single sign-on, as a relying party: discovery of the provider, the
//! authorization code flow with PKCE (S256), state and nonce, the code exchange on the back
//! channel, and every check an ID token must pass (signature against the provider's published
//! keys, issuer, audience, expiry, nonce). Who the person is in Passage is the service's
//! business; this crate only says who the provider vouches for.

use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// A sign-in started here must come back within this time.
const PENDING_FOR: Duration = Duration::from_secs(10 * 60);
/// At most this many unfinished sign-ins are remembered (the oldest are forgotten first).
const MAX_PENDING: usize = 10_000;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock difference tolerated between Passage and the provider.
const LEEWAY_SECS: u64 = 60;
/// `amr` values (RFC 8176) that mean more than a password was used.
const MULTI_FACTOR_AMR: [&str; 10] = [
    "mfa", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "pop",
];
const ACCEPTED_ALGORITHMS: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
];

/// How Passage is registered with the provider.
#[derive(Clone)]
pub struct SsoConfig {
    /// The provider's issuer URL (its discovery document is under it).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Passage's callback, e.g. `https://passage.example.org/login/sso/callback`.
    pub redirect_url: String,
    /// What the sign-in button says after "Sign in with".
    pub label: String,
}

impl fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the sign-in provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the sign-in provider answered something Passage cannot use: {0}")]
    Protocol(String),
    #[error("this sign-in has expired or was already used; start again")]
    UnknownState,
    #[error("the sign-in provider's ID token was refused: {0}")]
    Rejected(String),
    #[error("the sign-in provider refused the sign-in: {0}")]
    Provider(String),
    #[error("single sign-on is misconfigured: {0}")]
    Config(String),
}

/// Whom the provider vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// Only ever a verified address (`email_verified`).
    pub email: Option<String>,
    /// The provider says more than a password was used (`amr`).
    pub multi_factor: bool,
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug)]
struct Pending {
    nonce: String,
    verifier: String,
    started: Instant,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: Verified,
    #[serde(default)]
    amr: Vec<String>,
}

/// Some providers send `email_verified` as the string "true".
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Verified {
    Bool(bool),
    Text(String),
    #[default]
    Missing,
}

impl Verified {
    fn is_true(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Text(t) => t.eq_ignore_ascii_case("true"),
            Self::Missing => false,
        }
    }
}

/// The relying party: one per Passage process.
#[derive(Debug)]
pub struct SsoClient {
    config: SsoConfig,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Discovery>>>,
    keys: RwLock<Option<Arc<JwkSet>>>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl SsoClient {
    pub fn new(config: SsoConfig) -> Result<Self, SsoError> {
        for (name, value) in [("issuer", &config.issuer), ("redirect URL", &config.redirect_url)] {
            url::Url::parse(value).map_err(|e| SsoError::Config(format!("{name} {value:?}: {e}")))?;
        }
        if config.client_id.trim().is_empty() {
            return Err(SsoError::Config("the client id is empty".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // The provider's answers are read, never followed elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SsoError::Config(e.to_string()))?;
        Ok(Self {
            config,
            http,
            provider: RwLock::new(None),
            keys: RwLock::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// The discovery document, fetched once (a provider down at start-up does not stop
    /// Passage; the first sign-in tries again).
    async fn provider(&self) -> Result<Arc<Discovery>, SsoError> {
        if let Some(p) = self.provider.read().await.as_ref() {
            return Ok(p.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let found: Discovery = self.get_json(&url).await?;
        if found.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(SsoError::Protocol(format!(
                "the discovery document names issuer {:?}, not {:?}",
                found.issuer, self.config.issuer
            )));
        }
        let found = Arc::new(found);
        *self.provider.write().await = Some(found.clone());
        Ok(found)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SsoError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SsoError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(SsoError::Protocol(format!(
                "{url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|e| SsoError::Protocol(format!("{url}: {}", e.without_url())))
    }

    /// Where to send the browser to sign in: a fresh state, nonce and PKCE verifier are
    /// remembered for the callback.
    pub async fn authorization_url(&self) -> Result<String, SsoError> {
        let provider = self.provider().await?;
        let state = random()?;
        let nonce = random()?;
        let verifier = random()?;
        let challenge = BASE64URL_NOPAD.encode(&passage_crypto::sha256(verifier.as_bytes()));
        let mut url = url::Url::parse(&provider.authorization_endpoint)
            .map_err(|e| SsoError::Protocol(format!("authorization endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", "openid email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| SsoError::Config("poisoned lock".into()))?;
        pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
        {
            pending.remove(&oldest);
        }
        pending.insert(
            state,
            Pending {
                nonce,
                verifier,
                started: Instant::now(),
            },
        );
        Ok(url.into())
    }

    /// The callback: the state must be one this process issued and not yet used; the code is
    /// exchanged for an ID token, which must pass every check.
    pub async fn finish(&self, state: &str, code: &str) -> Result<Identity, SsoError> {
        let pending = self
            .pending
            .lock()
            .map_err(|_| SsoError::Config("poisoned lock".into()))?
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_FOR)
            .ok_or(SsoError::UnknownState)?;
        let provider = self.provider().await?;
        let response = self
            .http
            .post(&provider.token_endpoint)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.config.redirect_url),
                ("client_id", &self.config.client_id),
                ("code_verifier", &pending.verifier),
            ])
            .send()
            .await
            .map_err(|e| SsoError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            // The provider's error code only: its description may echo what was sent.
            let error = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return Err(SsoError::Provider(format!(
                "token endpoint answered {status} {error}"
            )));
        }
        let tokens: TokenResponse = response
            .json()
            .await
            .map_err(|e| SsoError::Protocol(format!("token response: {}", e.without_url())))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| SsoError::Protocol("the token response has no id_token".into()))?;
        self.check_id_token(&provider, &id_token, &pending.nonce).await
    }

    async fn check_id_token(
        &self,
        provider: &Discovery,
        token: &str,
        nonce: &str,
    ) -> Result<Identity, SsoError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| SsoError::Rejected(e.to_string()))?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(SsoError::Rejected(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key(provider, header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[provider.issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| SsoError::Rejected(e.to_string()))?
            .claims;
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| passage_crypto::constant_time_eq(n.as_bytes(), nonce.as_bytes()));
        if !nonce_matches {
            return Err(SsoError::Rejected("the nonce does not match this sign-in".into()));
        }
        let verified = claims.email_verified.is_true();
        Ok(Identity {
            issuer: claims.iss,
            subject: claims.sub,
            email: claims.email.filter(|_| verified),
            multi_factor: claims.amr.iter().any(|m| MULTI_FACTOR_AMR.contains(&m.as_str())),
        })
    }

    /// The provider's signing key `kid`; the key set is fetched again once when the key is not
    /// in it (providers rotate keys).
    async fn key(
        &self,
        provider: &Discovery,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, SsoError> {
        for refresh in [false, true] {
            // Bound first: a read guard alive in the match would deadlock the write below.
            let cached = self.keys.read().await.clone();
            let set = match (refresh, cached) {
                (false, Some(set)) => set,
                _ => {
                    let fetched: JwkSet = self.get_json(&provider.jwks_uri).await?;
                    let fetched = Arc::new(fetched);
                    *self.keys.write().await = Some(fetched.clone());
                    fetched
                }
            };
            let jwk = match kid {
                Some(kid) => set.find(kid),
                // Without a key id, only an unambiguous key set will do.
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            };
            if let Some(jwk) = jwk {
                if jwk
                    .common
                    .key_algorithm
                    .is_some_and(|a| a.to_string() != format!("{alg:?}"))
                {
                    return Err(SsoError::Rejected(
                        "the key is published for another algorithm".into(),
                    ));
                }
                return DecodingKey::from_jwk(jwk).map_err(|e| SsoError::Rejected(e.to_string()));
            }
        }
        Err(SsoError::Rejected(
            "the token is signed with a key the provider does not publish".into(),
        ))
    }
}

fn random() -> Result<String, SsoError> {
    passage_crypto::random_token("").map_err(|e| SsoError::Config(e.to_string()))
}
