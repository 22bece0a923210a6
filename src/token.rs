//! Dev tokens, signed with the dev key kept in router-config/. Production
//! tokens come from the shop's identity provider; its public keys replace
//! router-config/jwks.json.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use kit::auth::{AUDIENCE, Claims, ISSUER};

/// The key id published in router-config/jwks.json.
const DEV_KEY_ID: &str = "dev-2026";

pub struct TokenRequest<'a> {
    pub subject: &'a str,
    pub name: Option<&'a str>,
    pub scopes: &'a [String],
    pub ttl: Duration,
}

pub fn mint(signing_key: &Path, request: &TokenRequest<'_>) -> anyhow::Result<String> {
    let pem = std::fs::read(signing_key).with_context(|| format!("reading {}", signing_key.display()))?;
    sign(&pem, &claims_for(request))
}

/// The claims of a token for `request`, valid from now for its ttl.
pub fn claims_for(request: &TokenRequest<'_>) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: request.subject.to_string(),
        name: request.name.map(str::to_string),
        scope: request.scopes.join(" "),
        iss: ISSUER.to_string(),
        aud: AUDIENCE.to_string(),
        iat: now,
        exp: now + request.ttl.as_secs() as i64,
    }
}

/// Signs `claims` with an ES256 key in PKCS#8 PEM.
pub fn sign(pem: &[u8], claims: &Claims) -> anyhow::Result<String> {
    let key = EncodingKey::from_ec_pem(pem).context("parsing the signing key")?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(DEV_KEY_ID.to_string());
    Ok(encode(&header, claims, &key)?)
}
