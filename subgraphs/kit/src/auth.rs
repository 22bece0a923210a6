//! Token verification, with the shop's own identity provider. The router
//! verifies every JWT, and each subgraph verifies it again with the same
//! configuration (router-config/router.yaml's `jwt` block): a subgraph never
//! trusts a bare user header, because anything that reaches its port could
//! have set one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::error::ApiError;

/// Where the public keys come from.
#[derive(Clone, Debug)]
pub enum JwksSource {
    /// A JWKS document on disk, read once.
    File(PathBuf),
    /// The identity provider's JWKS endpoint: fetched at start, again every
    /// `refresh`, and at once (at most every second) when a token names a key
    /// the cached set does not have, so a rotated key works immediately.
    Url { url: String, refresh: Duration },
}

/// How tokens are verified.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub jwks: Vec<JwksSource>,
    /// Accepted `iss` values; empty accepts any.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (a token needs one of them); empty accepts any.
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The claim holding the scopes (a space-separated string or a list);
    /// by default `scope`, then `scp`, then `scopes`.
    pub scopes_claim: Option<String>,
}

/// Who a verified token says is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Customer id for shoppers; staff, partner or service id for the others.
    pub subject: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
}

/// Who is asking: put into every GraphQL request's data by the server.
#[derive(Clone, Debug)]
pub enum Viewer {
    Anonymous,
    Authenticated(Identity),
}

impl Viewer {
    /// The signed-in subject, or UNAUTHENTICATED.
    pub fn subject(&self) -> Result<&str, ApiError> {
        match self {
            Viewer::Authenticated(identity) => Ok(&identity.subject),
            Viewer::Anonymous => Err(ApiError::unauthenticated()),
        }
    }

    pub fn subject_opt(&self) -> Option<&str> {
        self.subject().ok()
    }

    pub fn display_name(&self) -> Option<&str> {
        match self {
            Viewer::Authenticated(identity) => identity.name.as_deref(),
            Viewer::Anonymous => None,
        }
    }

    /// UNAUTHENTICATED without a token, FORBIDDEN when the token lacks `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        match self {
            Viewer::Anonymous => Err(ApiError::Unauthenticated(format!("a token with scope {scope} is required"))),
            Viewer::Authenticated(identity) if identity.scopes.iter().any(|s| s == scope) => Ok(()),
            Viewer::Authenticated(_) => Err(ApiError::Forbidden(format!("this operation needs scope {scope}"))),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.require_scope(scope).is_ok()
    }
}

/// The least time between two fetches of a JWKS endpoint caused by unknown
/// keys, so a flood of forged key ids cannot make us flood the provider.
const UNKNOWN_KEY_REFETCH: Duration = Duration::from_secs(1);

struct KeyCache {
    keys: Vec<Jwk>,
    /// When the endpoints were last fetched (None: never).
    fetched_at: Option<Instant>,
}

/// How long a verified token is remembered, at most (never past its expiry):
/// a shopper's token comes with every request of their visit and every
/// subgraph fetch of each, and a signature check costs far more than a
/// lookup. Whatever was remembered is forgotten as soon as the identity
/// provider's keys change, so a withdrawn key stops its tokens as soon as it
/// would without the memory.
const VERIFIED_FOR: Duration = Duration::from_secs(600);
/// Tokens remembered at most; the memory is emptied when full.
const VERIFIED_CAPACITY: usize = 10_000;

/// Makes jsonwebtoken sign and verify with aws-lc, process-wide: the
/// router's JWT plugin verifies every request's token through the same
/// crate, and aws-lc's P-256 is several times as fast as the pure-Rust one
/// the router's features also bring in (with both, one must be chosen).
/// Call before the first token is signed or verified; calling again does nothing.
pub fn use_fast_crypto() {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
}

/// Verifies tokens as `AuthConfig` says.
pub struct JwtVerifier {
    config: AuthConfig,
    /// Keys read from files, which never change.
    file_keys: Vec<Jwk>,
    remote: RwLock<KeyCache>,
    refreshing: Mutex<()>,
    http: reqwest::Client,
    verified: std::sync::Mutex<Verified>,
}

/// Tokens verified lately, with when to verify them again.
#[derive(Default)]
struct Verified {
    tokens: HashMap<String, (Identity, Instant)>,
    /// How many times the remote keys have changed: a token verified with
    /// keys that changed meanwhile is not remembered.
    keys_changed: u64,
}

impl JwtVerifier {
    /// Reads the key files (an error when one is missing or malformed); the
    /// endpoints are fetched with the first token.
    pub fn new(config: AuthConfig) -> anyhow::Result<Self> {
        use_fast_crypto();
        let mut file_keys = Vec::new();
        for source in &config.jwks {
            if let JwksSource::File(path) = source {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading JWKS {}", path.display()))?;
                let set: JwkSet = serde_json::from_str(&text).with_context(|| format!("parsing JWKS {}", path.display()))?;
                file_keys.extend(set.keys);
            }
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().context("building the JWKS client")?;
        Ok(JwtVerifier {
            config,
            file_keys,
            remote: RwLock::new(KeyCache { keys: Vec::new(), fetched_at: None }),
            refreshing: Mutex::new(()),
            http,
            verified: std::sync::Mutex::default(),
        })
    }

    /// Anonymous without an Authorization header; UNAUTHENTICATED for any
    /// token that does not verify.
    pub async fn viewer_from_headers(&self, headers: &HeaderMap) -> Result<Viewer, ApiError> {
        self.viewer_from_authorization(headers.get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes())).await
    }

    /// The same, from the raw Authorization header value (the router's HTTP
    /// stack has its own header types).
    pub async fn viewer_from_authorization(&self, value: Option<&[u8]>) -> Result<Viewer, ApiError> {
        let Some(value) = value else {
            return Ok(Viewer::Anonymous);
        };
        let token = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".into()))?;
        self.verify(token).await.map(Viewer::Authenticated)
    }

    /// Verifies signature, algorithm, issuer, audience, `exp` and `nbf`
    /// (with the leeway), and a non-empty subject.
    pub async fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let keys_changed = {
            let verified = self.memory();
            if let Some((identity, _)) = verified.tokens.get(token).filter(|(_, until)| Instant::now() < *until) {
                return Ok(identity.clone());
            }
            verified.keys_changed
        };
        let (identity, expires_at) = self.verify_signed(token).await?;
        let until = Instant::now() + VERIFIED_FOR;
        let mut verified = self.memory();
        if verified.tokens.len() >= VERIFIED_CAPACITY {
            verified.tokens.clear();
        }
        if let Some(until) = expires_at.map(|expires| until.min(expires))
            && verified.keys_changed == keys_changed
        {
            verified.tokens.insert(token.to_string(), (identity.clone(), until));
        }
        Ok(identity)
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().expect("no code panics while holding the token memory")
    }

    /// The identity and, as an instant, when the token expires (None when already past).
    async fn verify_signed(&self, token: &str) -> Result<(Identity, Option<Instant>), ApiError> {
        let header = decode_header(token).map_err(|_| invalid("it is not a JWT"))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(invalid(&format!("tokens signed with {:?} are not accepted", header.alg)));
        }
        if self.keys_are_stale().await {
            self.refresh(None).await;
        }
        let jwk = match self.find_key(header.kid.as_deref(), header.alg).await {
            Some(jwk) => jwk,
            None => {
                self.refresh(header.kid.as_deref()).await;
                self.find_key(header.kid.as_deref(), header.alg).await.ok_or_else(|| invalid("it is signed with an unknown key"))?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("its signing key cannot be used"))?;
        let claims = decode::<HashMap<String, Value>>(token, &key, &self.validation(header.alg)).map_err(|e| invalid(reason(e.kind())))?.claims;
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        if subject.trim().is_empty() {
            return Err(invalid("its subject is empty"));
        }
        let identity = Identity {
            subject: subject.to_string(),
            name: claims.get("name").and_then(Value::as_str).map(str::to_string),
            scopes: self.scopes(&claims),
        };
        let seconds_left = claims.get("exp").and_then(Value::as_i64).unwrap_or_default() - chrono::Utc::now().timestamp();
        let expires_at = u64::try_from(seconds_left).ok().map(|seconds| Instant::now() + Duration::from_secs(seconds));
        Ok((identity, expires_at))
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        let mut required = vec!["exp", "sub"];
        if !self.config.issuers.is_empty() {
            validation.set_issuer(&self.config.issuers);
            required.push("iss");
        }
        if self.config.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.config.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        validation.leeway = self.config.leeway.as_secs();
        validation
    }

    fn scopes(&self, claims: &HashMap<String, Value>) -> Vec<String> {
        let names = match &self.config.scopes_claim {
            Some(name) => vec![name.as_str()],
            None => vec!["scope", "scp", "scopes"],
        };
        let Some(value) = names.iter().find_map(|name| claims.get(*name)) else {
            return Vec::new();
        };
        match value {
            Value::String(text) => text.split_whitespace().map(str::to_string).collect(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        }
    }

    /// The key named `kid`, or without a kid the first key for `algorithm`;
    /// a key that declares another algorithm is never used.
    async fn find_key(&self, kid: Option<&str>, algorithm: Algorithm) -> Option<Jwk> {
        let remote = self.remote.read().await;
        let suits = |jwk: &&Jwk| {
            let named = match kid {
                Some(kid) => jwk.common.key_id.as_deref() == Some(kid),
                None => true,
            };
            let algorithm_matches = jwk.common.key_algorithm.is_none_or(|declared| declared == algorithm.into());
            named && algorithm_matches
        };
        self.file_keys.iter().chain(&remote.keys).find(suits).cloned()
    }

    /// Fetches the endpoints again when they were never fetched, when their
    /// keys are stale, or for an unknown `kid` when the last fetch is more
    /// than a second old. Concurrent callers wait for one fetch.
    async fn refresh(&self, unknown_kid: Option<&str>) {
        let urls: Vec<(&str, Duration)> = self
            .config
            .jwks
            .iter()
            .filter_map(|source| match source {
                JwksSource::Url { url, refresh } => Some((url.as_str(), *refresh)),
                JwksSource::File(_) => None,
            })
            .collect();
        if urls.is_empty() {
            return;
        }
        let _one_at_a_time = self.refreshing.lock().await;
        let due = {
            let cache = self.remote.read().await;
            match cache.fetched_at {
                None => true,
                Some(at) => {
                    let stale = urls.iter().any(|(_, refresh)| at.elapsed() >= *refresh);
                    stale || (unknown_kid.is_some() && at.elapsed() >= UNKNOWN_KEY_REFETCH)
                }
            }
        };
        if !due {
            return;
        }
        let mut keys = Vec::new();
        for (url, _) in &urls {
            match self.fetch(url).await {
                Ok(set) => keys.extend(set.keys),
                Err(error) => {
                    tracing::warn!(%url, error = %format!("{error:#}"), "fetching the JWKS failed; keeping the keys we have");
                    return;
                }
            }
        }
        let mut remote = self.remote.write().await;
        if remote.keys != keys {
            let mut verified = self.memory();
            verified.tokens.clear();
            verified.keys_changed += 1;
        }
        *remote = KeyCache { keys, fetched_at: Some(Instant::now()) };
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<JwkSet> {
        let response = self.http.get(url).send().await.context("requesting the JWKS")?.error_for_status()?;
        response.json().await.context("reading the JWKS")
    }

    /// True when fetched keys are older than a source's refresh interval:
    /// keys stay fresh with the traffic, without a timer of their own.
    async fn keys_are_stale(&self) -> bool {
        let fetched_at = self.remote.read().await.fetched_at;
        self.config.jwks.iter().any(|source| match source {
            JwksSource::Url { refresh, .. } => fetched_at.is_none_or(|at| at.elapsed() >= *refresh),
            JwksSource::File(_) => false,
        })
    }
}

fn invalid(reason: &str) -> ApiError {
    ApiError::Unauthenticated(format!("invalid token: {reason}"))
}

/// Why a token failed, in words a client developer can act on (never the
/// library's own text, which names its internals).
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)",
        ErrorKind::InvalidIssuer => "its issuer is not trusted",
        ErrorKind::InvalidAudience => "it is not meant for this shop (aud)",
        ErrorKind::InvalidSignature => "its signature does not verify",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "it has no expiry (exp)",
            "sub" => "it has no subject (sub)",
            "iss" => "it has no issuer (iss)",
            "aud" => "it has no audience (aud)",
            _ => "a required claim is missing",
        },
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "its algorithm does not match its key",
        _ => "it is malformed",
    }
}
