//! Authentication at the router and again at every subgraph, and the orders
//! a customer may see.

mod common;

use commerce_supergraph::subgraphs::Subgraph;
use common::{
    Backend, customer_claims, customer_token, error_code, sign_with_dev_key, sign_with_foreign_key, spawn_app, spawn_app_limited,
    test_settings,
};
use serde_json::json;

on_both_backends!(
    tokens_that_do_not_verify_are_unauthenticated_at_the_router,
    subgraphs_verify_tokens_again_and_ignore_bare_user_headers,
    my_orders_need_a_token_and_start_empty,
    router_enforces_query_limits,
    each_client_is_rate_limited_with_retry_after,
);

async fn tokens_that_do_not_verify_are_unauthenticated_at_the_router(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut expired = customer_claims("customer-1");
    expired.exp = chrono::Utc::now().timestamp() - 3600;
    let mut wrong_issuer = customer_claims("customer-1");
    wrong_issuer.iss = "someone-else".into();
    let mut wrong_audience = customer_claims("customer-1");
    wrong_audience.aud = "another-api".into();
    let bad_tokens = [
        ("signed by another key", sign_with_foreign_key(&customer_claims("customer-1"))),
        ("expired", sign_with_dev_key(&expired)),
        ("wrong issuer", sign_with_dev_key(&wrong_issuer)),
        ("wrong audience", sign_with_dev_key(&wrong_audience)),
        ("malformed", "not.a.jwt".to_string()),
    ];
    for (what, token) in &bad_tokens {
        let (status, body) = app.post(&app.supergraph.graphql_url(), json!({ "query": "{ categories { slug } }" }), Some(token)).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    }
    let body = app.graphql("{ me { id } }", json!({}), Some(&customer_token("customer-1"))).await;
    assert_eq!(body["data"]["me"]["id"], "customer-1");
}

async fn subgraphs_verify_tokens_again_and_ignore_bare_user_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let forged = sign_with_foreign_key(&customer_claims("customer-1"));
    let (_, body) = app.post(&app.subgraph_url(Subgraph::Orders), json!({ "query": "{ me { id } }" }), Some(&forged)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");

    let owner = customer_token("customer-owner");
    let created = app.operation("CreateCart", json!({}), Some(&owner)).await;
    let cart = created["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_string();
    let response = reqwest::Client::new()
        .post(app.subgraph_url(Subgraph::Cart))
        .header("x-user-id", "customer-owner")
        .header("x-customer-id", "customer-owner")
        .json(&json!({ "query": "query ($id: ID!) { cart(id: $id) { id } }", "variables": { "id": cart } }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["data"]["cart"].is_null(), "a header naming the owner is not a token: {body}");
}

async fn my_orders_need_a_token_and_start_empty(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("MyOrders", json!({ "first": 10 }), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app.operation("MyOrders", json!({ "first": 10 }), Some(&customer_token("customer-1"))).await;
    assert_eq!(body["data"]["me"]["orders"]["totalCount"], 0, "{body}");
    assert_eq!(body["data"]["me"]["orders"]["edges"], json!([]));
    let body = app.operation("MyOrders", json!({ "first": 101 }), Some(&customer_token("customer-1"))).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = app.operation("Order", json!({ "id": "no-such-order" }), Some(&customer_token("customer-1"))).await;
    assert!(body["data"]["order"].is_null() && body["errors"].is_null(), "{body}");
}

async fn router_enforces_query_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let deep = "{ products(first: 1) { edges { node { variants { product { variants { product { variants { product { variants { product { variants { product { slug } } } } } } } } } } } } } }";
    let body = app.graphql(deep, json!({}), None).await;
    assert_eq!(error_code(&body), "MAX_DEPTH_EXCEEDED", "{body}");
    let aliases: String = (0..40).map(|i| format!("a{i}: categories {{ slug }} ")).collect();
    let body = app.graphql(&format!("{{ {aliases} }}"), json!({}), None).await;
    assert_eq!(error_code(&body), "MAX_ALIASES_EXCEEDED", "{body}");
}

async fn each_client_is_rate_limited_with_retry_after(backend: Backend) {
    let app = spawn_app_limited(backend, test_settings(), Some(5)).await;
    let categories = json!({ "query": "{ categories { slug } }" });
    let send = |token: Option<String>| {
        let client = reqwest::Client::new();
        let mut request = client.post(app.supergraph.graphql_url()).json(&categories);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let heavy = customer_token("heavy-user");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(send(Some(heavy.clone())).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let limited = send(Some(heavy)).await.unwrap();
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert_eq!(send(Some(customer_token("light-user"))).await.unwrap().status(), 200, "another client has its own budget");
}
