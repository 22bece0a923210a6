//! Verifies the JWT at the edge, with the shop's auth configuration (the
//! `jwt` block of router.yaml and this plugin's `leeway`): a request carrying
//! a token that does not verify (unknown key, bad signature, expired or not
//! yet valid, wrong issuer or audience, empty subject, malformed) is answered
//! 401 UNAUTHENTICATED before any planning. A request without a token goes on
//! as anonymous; the schema's `@authenticated` and `@requiresScopes` and the
//! subgraphs decide what anonymous callers may see. The verified viewer is
//! left in the request's context for the plugins after this one.
//!
//! The router's own `jwt` verification runs too, later in the pipeline, for
//! the authorization directives; it treats a token it cannot verify as
//! anonymous, so this plugin is what refuses a bad token outright. When a
//! directive hides a field, this plugin words the error as the subgraphs
//! would: UNAUTHENTICATED without a token, FORBIDDEN with one.

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_graphql_error::{OnGraphQLErrorHookPayload, OnGraphQLErrorHookResult};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use kit::{JwtVerifier, Viewer};

use crate::auth::{VerifyTokenConfig, auth_config};

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
        let verifier = JwtVerifier::new(auth_config(payload.router_config())?)?;
        payload.initialize_plugin(VerifyToken { verifier })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let authorization = payload.router_http_request.headers().get("authorization").map(|v| v.as_bytes());
            match self.verifier.viewer_from_authorization(authorization).await {
                Ok(viewer) => {
                    payload.context.insert(viewer);
                    payload.proceed()
                }
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

    fn on_graphql_error<'req>(&'req self, mut payload: OnGraphQLErrorHookPayload<'req>) -> OnGraphQLErrorHookResult<'req> {
        if payload.error.extensions.code.as_deref() != Some("UNAUTHORIZED_FIELD_OR_TYPE") {
            return payload.proceed();
        }
        let field = payload.error.extensions.affected_path.clone().unwrap_or_else(|| "this field".into());
        let signed_in = matches!(payload.context.get_ref::<Viewer>().as_deref(), Some(Viewer::Authenticated(_)));
        let (code, message) = if signed_in {
            ("FORBIDDEN", format!("this token may not ask for {field}: it lacks the scope the schema requires"))
        } else {
            ("UNAUTHENTICATED", format!("a token is required to ask for {field}"))
        };
        payload.error.extensions.code = Some(code.into());
        payload.error.message = message;
        payload.proceed()
    }
}
