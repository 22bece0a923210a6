//! Dev tokens, signed with the dev key kept in router-config/. Production
//! tokens come from the shop's identity provider; its public keys replace
//! router-config/jwks.json.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};

/// The key id published in router-config/jwks.json.
const DEV_KEY_ID: &str = "dev-2026";
/// The issuer and audience router-config/router.yaml trusts in dev.
pub const DEV_ISSUER: &str = "commerce-supergraph";
pub const DEV_AUDIENCE: &str = "commerce-storefront";

/// The claims of a dev token, as an identity provider would issue them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Customer id for shoppers; staff, partner or service id for the others.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Space-separated OAuth scopes, e.g. "catalog:write inventory:write".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
}

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
        iss: DEV_ISSUER.to_string(),
        aud: DEV_AUDIENCE.to_string(),
        iat: now,
        nbf: None,
        exp: now + request.ttl.as_secs() as i64,
    }
}

/// Signs `claims` with an ES256 key in PKCS#8 PEM.
pub fn sign(pem: &[u8], claims: &Claims) -> anyhow::Result<String> {
    kit::auth::use_fast_crypto();
    let key = EncodingKey::from_ec_pem(pem).context("parsing the signing key")?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(DEV_KEY_ID.to_string());
    Ok(encode(&header, claims, &key)?)
}

/// The service token subgraphs of a dev process read the graph with (scope
/// `service`, 30 days), signed with the dev key.
pub fn mint_service_token(config_dir: &Path) -> anyhow::Result<String> {
    mint_long_lived(config_dir, "supergraph-service", crate::router::SERVICE_SCOPE)
}

/// The token a dev router presents to the subgraphs as their trusted gateway
/// (scope `gateway`, 30 days), signed with the dev key.
pub fn mint_gateway_token(config_dir: &Path) -> anyhow::Result<String> {
    mint_long_lived(config_dir, "supergraph-router", kit::server::GATEWAY_SCOPE)
}

fn mint_long_lived(config_dir: &Path, subject: &str, scope: &str) -> anyhow::Result<String> {
    let scopes = [scope.to_string()];
    let request = TokenRequest { subject, name: None, scopes: &scopes, ttl: Duration::from_secs(30 * 86_400) };
    mint(&config_dir.join("dev-signing-key.pem"), &request)
}
