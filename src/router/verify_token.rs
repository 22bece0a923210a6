//! Verifies the JWT at the edge: a request carrying a token that is not ours
//! (another key, expired, wrong issuer or audience, malformed) is answered
//! UNAUTHENTICATED before any planning. A request without a token goes on as
//! anonymous; the subgraphs decide what anonymous callers may see.

use std::path::Path;

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use kit::JwtVerifier;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct VerifyTokenConfig {
    /// The public keys tokens are signed with.
    pub jwks_path: String,
}

pub struct VerifyToken {
    verifier: JwtVerifier,
}

#[async_trait]
impl RouterPlugin for VerifyToken {
    type Config = VerifyTokenConfig;

    fn plugin_name() -> &'static str {
        "verify_token"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        let verifier = JwtVerifier::from_jwks_file(Path::new(&config.jwks_path))?;
        payload.initialize_plugin(VerifyToken { verifier })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let authorization = payload.router_http_request.headers().get("authorization").map(|v| v.as_bytes());
            match self.verifier.viewer_from_authorization(authorization) {
                Ok(_) => payload.proceed(),
                Err(error) => {
                    let body = serde_json::json!({
                        "errors": [{ "message": error.message(), "extensions": { "code": error.code() } }]
                    });
                    let response = Response::build(StatusCode::UNAUTHORIZED)
                        .content_type("application/json")
                        .header("www-authenticate", "Bearer")
                        .body(body.to_string());
                    payload.end_with_response(response)
                }
            }
        })
    }
}
