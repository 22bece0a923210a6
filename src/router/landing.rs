//! What the router answers outside its GraphQL endpoint: `/` is a small page
//! of our own (no asset from anywhere else) that points to the playground
//! and the endpoint; `/health` and `/readiness` are the router's; every
//! other path is 404. (The router alone would answer any path with a landing
//! page that loads scripts from a CDN.)

use hive_router::async_trait;
use hive_router::ntex::http::{Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LandingConfig {}

pub struct Landing {
    graphql_endpoint: String,
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Commerce supergraph</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .3rem}</style>
</head>
<body>
<h1>Commerce supergraph</h1>
<p>The GraphQL endpoint is <code>ENDPOINT</code>: POST queries to it, or open it in a browser for the playground.</p>
<p><a href="ENDPOINT">Open the playground</a></p>
</body>
</html>
"#;

#[async_trait]
impl RouterPlugin for Landing {
    type Config = LandingConfig;

    fn plugin_name() -> &'static str {
        "landing"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let graphql_endpoint = payload.router_config().http.graphql_endpoint.clone();
        payload.initialize_plugin(Landing { graphql_endpoint })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let path = payload.router_http_request.path();
            if path == "/" {
                let page = PAGE.replace("ENDPOINT", &self.graphql_endpoint);
                return payload.end_with_response(Response::build(StatusCode::OK).content_type("text/html; charset=utf-8").body(page));
            }
            let known = path == self.graphql_endpoint || path.starts_with(&format!("{}/", self.graphql_endpoint)) || matches!(path, "/health" | "/readiness");
            if known {
                return payload.proceed();
            }
            payload.end_with_response(Response::build(StatusCode::NOT_FOUND).content_type("text/plain; charset=utf-8").body("not found\n"))
        })
    }
}
