//! What the router answers to browsers: `/` is a small page of our own that
//! points to the playground and the endpoint; the endpoint opened in a
//! browser is the playground (`playground`), its assets under /playground/;
//! `/health` and `/readiness` are the router's; every other path is 404.
//! Nothing is loaded from anywhere else. (The router alone would answer any
//! path with a landing page, and the endpoint with a playground, that load
//! scripts from a CDN.)

use std::path::Path;

use hive_router::async_trait;
use hive_router::ntex::http::{Method, Response, StatusCode};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

use super::playground::{PREFIX, Playground};

#[derive(Deserialize)]
pub struct LandingConfig {
    /// router-config/ (set by the supergraph binary): the playground bundle,
    /// the storefront operations and their example variables.
    pub config_dir: String,
    /// What the playground's headers editor starts with (dev: the customer token).
    #[serde(default)]
    pub playground_headers: Option<String>,
}

pub struct Landing {
    graphql_endpoint: String,
    playground: Playground,
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
        let config = payload.config()?;
        let playground = Playground::load(Path::new(&config.config_dir), &graphql_endpoint, config.playground_headers.as_deref())?;
        payload.initialize_plugin(Landing { graphql_endpoint, playground })
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &payload.router_http_request;
            let path = request.path();
            if path == self.graphql_endpoint && request.method() == Method::GET && wants_a_page(request.headers(), request.uri().query()) {
                let page = self.playground.page.clone();
                return payload.end_with_response(Response::build(StatusCode::OK).content_type("text/html; charset=utf-8").body(page));
            }
            if let Some(asset) = path.strip_prefix(PREFIX) {
                let response = match self.playground.asset(asset) {
                    // Built file names carry a hash of their content.
                    Some((content_type, bytes)) => Response::build(StatusCode::OK)
                        .content_type(content_type)
                        .header("cache-control", if asset.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" })
                        .body(bytes.to_vec()),
                    None => not_found(),
                };
                return payload.end_with_response(response);
            }
            if path == "/" {
                let page = PAGE.replace("ENDPOINT", &self.graphql_endpoint);
                return payload.end_with_response(Response::build(StatusCode::OK).content_type("text/html; charset=utf-8").body(page));
            }
            let known = path == self.graphql_endpoint || path.starts_with(&format!("{}/", self.graphql_endpoint)) || matches!(path, "/health" | "/readiness");
            if known {
                return payload.proceed();
            }
            payload.end_with_response(not_found())
        })
    }
}

/// A browser opening the endpoint (a GET for HTML, not a query).
fn wants_a_page(headers: &hive_router::ntex::http::HeaderMap, query: Option<&str>) -> bool {
    let accepts_html = headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    let asks_a_query = query.is_some_and(|query| query.split('&').any(|pair| pair.starts_with("query=") || pair.starts_with("documentId=") || pair.starts_with("extensions=")));
    accepts_html && !asks_a_query
}

fn not_found() -> Response {
    Response::build(StatusCode::NOT_FOUND).content_type("text/plain; charset=utf-8").body("not found\n")
}
