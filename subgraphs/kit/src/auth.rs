//! Token verification. The router validates every JWT, and each subgraph
//! verifies it again with the same public keys: a subgraph never trusts a bare
//! user header, because anything that reaches its port could have set one.

use std::path::Path;

use anyhow::Context as _;
use axum::http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const ISSUER: &str = "commerce-supergraph";
pub const AUDIENCE: &str = "commerce-storefront";

/// The claims every token of this shop carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Customer id for shoppers; staff or partner id for back-office tokens.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Space-separated OAuth scopes, e.g. "catalog:write inventory:write".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Who is asking: put into every GraphQL request's data by the server.
#[derive(Clone, Debug)]
pub enum Viewer {
    Anonymous,
    Authenticated(Claims),
}

impl Viewer {
    /// The signed-in subject, or UNAUTHENTICATED.
    pub fn subject(&self) -> Result<&str, ApiError> {
        match self {
            Viewer::Authenticated(claims) => Ok(&claims.sub),
            Viewer::Anonymous => Err(ApiError::unauthenticated()),
        }
    }

    pub fn subject_opt(&self) -> Option<&str> {
        self.subject().ok()
    }

    pub fn display_name(&self) -> Option<&str> {
        match self {
            Viewer::Authenticated(claims) => claims.name.as_deref(),
            Viewer::Anonymous => None,
        }
    }

    /// UNAUTHENTICATED without a token, FORBIDDEN when the token lacks `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        match self {
            Viewer::Anonymous => Err(ApiError::Unauthenticated(format!("a token with scope {scope} is required"))),
            Viewer::Authenticated(claims) if claims.scope.split(' ').any(|s| s == scope) => Ok(()),
            Viewer::Authenticated(_) => Err(ApiError::Forbidden(format!("this operation needs scope {scope}"))),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.require_scope(scope).is_ok()
    }
}

/// Verifies ES256 tokens against a JWKS document (router-config/jwks.json).
pub struct JwtVerifier {
    keys: JwkSet,
    validation: Validation,
}

impl JwtVerifier {
    pub fn from_jwks_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading JWKS {}", path.display()))?;
        Self::from_jwks_json(&text)
    }

    pub fn from_jwks_json(text: &str) -> anyhow::Result<Self> {
        let keys: JwkSet = serde_json::from_str(text).context("parsing JWKS")?;
        let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(JwtVerifier { keys, validation })
    }

    /// Anonymous without an Authorization header; UNAUTHENTICATED for any
    /// token that does not verify (bad signature, expired, wrong issuer or
    /// audience, malformed).
    pub fn viewer_from_headers(&self, headers: &HeaderMap) -> Result<Viewer, ApiError> {
        self.viewer_from_authorization(headers.get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes()))
    }

    /// The same, from the raw Authorization header value (the router's HTTP
    /// stack has its own header types).
    pub fn viewer_from_authorization(&self, value: Option<&[u8]>) -> Result<Viewer, ApiError> {
        let Some(value) = value else {
            return Ok(Viewer::Anonymous);
        };
        let token = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".into()))?;
        self.verify(token).map(Viewer::Authenticated)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let invalid = |reason: String| ApiError::Unauthenticated(format!("invalid token: {reason}"));
        let header = decode_header(token).map_err(|e| invalid(e.to_string()))?;
        let jwk = match header.kid.as_deref() {
            Some(kid) => self.keys.find(kid),
            None => self.keys.keys.first(),
        }
        .ok_or_else(|| invalid("unknown signing key".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(e.to_string()))?;
        decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| invalid(e.to_string()))
    }
}
