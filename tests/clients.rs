//! Standard clients and tools nobody here wrote, against the supergraph:
//! the GraphQL-over-HTTP audit (graphql-http) on the router and on every
//! subgraph, and orderStatusChanged followed with graphql-ws over
//! WebSocket, graphql-sse in distinct-connections mode and Apollo Client's
//! multipart HTTP subscriptions. The clients run in Node (tests/js; `npm ci
//! --prefix tests/js` installs them, as .ci/run does).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, TestApp, customer_token, spawn_app_with, test_settings};
use serde_json::{Value, json};

on_both_backends!(
    the_graphql_over_http_audit_passes_on_the_router_and_every_subgraph,
    a_subgraph_answers_a_query_once_in_the_type_the_caller_accepts,
    every_subscription_transport_delivers_pending_then_confirmed,
);

/// Runs `script` from tests/js with `args`; returns its exit status and its output.
fn node(script: &str, args: &[&str]) -> (bool, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(dir.join("node_modules").exists(), "the Node clients are not installed: run `npm ci --prefix tests/js`");
    let output = Command::new("node").arg(script).args(args).current_dir(&dir).output().expect("node runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

async fn the_graphql_over_http_audit_passes_on_the_router_and_every_subgraph(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let mut endpoints = vec![app.supergraph.graphql_url()];
    endpoints.extend(Subgraph::ALL.iter().map(|s| app.subgraph_url(*s)));
    for url in endpoints {
        let audit = tokio::task::spawn_blocking(move || {
            let (passed, report) = node("audit.mjs", &[&url]);
            (url, passed, report)
        })
        .await
        .unwrap();
        let (url, passed, report) = audit;
        let failed: Vec<&str> = report.lines().filter(|line| line.contains("\"status\":\"error\"")).collect();
        assert!(passed && failed.is_empty(), "{url}: {failed:#?}");
    }
}

async fn a_subgraph_answers_a_query_once_in_the_type_the_caller_accepts(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let http = reqwest::Client::new();
    let query = json!({ "query": "{ categories { slug } }" });
    for (accept, content_type) in [
        ("application/graphql-response+json, application/json, multipart/mixed", "application/graphql-response+json"),
        ("application/json", "application/json"),
    ] {
        let response = http.post(app.subgraph_url(Subgraph::Products)).header("accept", accept).json(&query).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type, "{accept}");
        let body: Value = response.json().await.unwrap();
        assert!(body["data"]["categories"].as_array().is_some_and(|c| !c.is_empty()), "one JSON answer with data: {body}");
    }
}

/// An order that stays PENDING for a few seconds (a slow payment), so a
/// client can subscribe before it is CONFIRMED.
async fn slow_order(app: &TestApp, token: &str, key: &str) -> String {
    let sku = app.sku_with_stock(1).await;
    let cart = app.operation("CreateCart", json!({}), Some(token)).await["data"]["createCart"]["cart"]["id"].clone();
    app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(token)).await;
    let input = json!({ "cartId": cart, "idempotencyKey": key, "paymentToken": "tok_slow" });
    let placed = app.operation("PlaceOrder", json!({ "input": input }), Some(token)).await;
    placed["data"]["placeOrder"]["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string()
}

async fn every_subscription_transport_delivers_pending_then_confirmed(backend: Backend) {
    let settings = kit::config::Settings { sandbox_slow_delay: Duration::from_secs(4), ..test_settings() };
    let app = spawn_app_with(backend, settings).await;
    for transport in ["graphql-ws", "graphql-sse", "apollo-multipart"] {
        let token = customer_token(&format!("follower-{transport}"));
        let order = slow_order(&app, &token, transport).await;
        let url = app.supergraph.graphql_url();
        let (passed, output) = tokio::task::spawn_blocking(move || node("subscribe.mjs", &[transport, &url, &token, &order])).await.unwrap();
        let statuses: Vec<&str> = output.lines().collect();
        assert!(passed, "{transport}: {output}");
        assert_eq!(statuses, ["PENDING", "CONFIRMED"], "{transport}");
    }
}
