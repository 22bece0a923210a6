//! The public edge, tried as an attacker and as a shop wiring in its own
//! identity provider would: documents that would stall the router, requests
//! that cost too much, metrics, tokens, scopes, rate budgets, entities asked
//! for directly, bad input, and reused idempotency keys.

mod common;

use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::{
    Backend, TestApp, customer_claims, customer_token, error_code, sign_with_dev_key, spawn_app, spawn_app_configured, spawn_app_limited,
    test_settings, token_with_scopes, user_error_codes,
};
use serde_json::{Value, json};

on_both_backends!(
    thousands_of_repeated_fields_are_refused_before_any_subgraph_is_called,
    the_cost_limit_counts_list_sizes,
    metrics_stay_off_the_public_port_and_ignore_client_names,
    a_shops_rs256_identity_provider_works_and_its_keys_rotate,
    tokens_that_are_not_yet_valid_or_have_no_subject_are_refused,
    the_router_refuses_fields_the_caller_may_not_ask_for,
    subgraph_reads_have_their_own_budget_and_clients_are_counted_by_subject,
    cart_entities_obey_the_cart_rule_and_untrusted_prices_are_not_believed,
    bad_input_is_a_clear_error_and_never_a_panic,
    subgraphs_called_directly_enforce_their_own_limits,
    idempotency_keys_refuse_a_different_request,
);

/// Statements each subgraph has run so far.
fn statements(app: &TestApp) -> Vec<u64> {
    Subgraph::ALL.iter().map(|s| app.statements(*s)).collect()
}

async fn thousands_of_repeated_fields_are_refused_before_any_subgraph_is_called(backend: Backend) {
    let app = spawn_app(backend).await;
    let slug = app.first_products(1).await[0]["slug"].as_str().unwrap().to_string();
    let before = statements(&app);
    let repeated = format!("{{ product(slug: \"{slug}\") {{ {} }} }}", "slug ".repeat(3985));
    let body = app.graphql(&repeated, json!({}), None).await;
    assert_eq!(error_code(&body), "FIELD_LIMIT_EXCEEDED", "{body}");
    let mut bomb = String::from("{ ...F0 }");
    for i in 0..30 {
        bomb.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1));
    }
    bomb.push_str(" fragment F30 on Query { categories { slug } }");
    let body = app.graphql(&bomb, json!({}), None).await;
    assert_eq!(error_code(&body), "FIELD_LIMIT_EXCEEDED", "fragments count where they are spread: {body}");
    assert_eq!(statements(&app), before, "no subgraph was called");
    let body = app.graphql(&format!("{{ product(slug: \"{slug}\") {{ {} }} }}", "slug ".repeat(300)), json!({}), None).await;
    assert_eq!(body["data"]["product"]["slug"], slug.as_str(), "a document within the limit is answered: {body}");
}

async fn the_cost_limit_counts_list_sizes(backend: Backend) {
    let app = spawn_app(backend).await;
    let aliases: String = (0..30)
        .map(|i| {
            format!(
                "a{i}: products(first: 100) {{ edges {{ node {{ variants {{ stock {{ available }} }} reviews(first: 100) {{ edges {{ node {{ body }} }} }} }} }} }} "
            )
        })
        .collect();
    let before = statements(&app);
    let body = app.graphql(&format!("{{ {aliases} }}"), json!({}), None).await;
    assert_eq!(error_code(&body), "COST_ESTIMATED_TOO_EXPENSIVE", "{body}");
    assert_eq!(statements(&app), before, "no subgraph was called");
    let listing = app.operation("ProductListing", json!({ "first": 100 }), None).await;
    assert_eq!(listing["data"]["products"]["edges"].as_array().map(Vec::len), Some(100), "a full storefront page is well within the limit: {listing}");
}

async fn metrics_stay_off_the_public_port_and_ignore_client_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let http = reqwest::Client::new();
    let public = http.get(format!("{}/metrics", app.supergraph.router_url)).send().await.unwrap();
    assert_eq!(public.status(), 404, "no metrics on the public port");
    for subgraph in Subgraph::ALL {
        let url = app.subgraph_url(subgraph).replace("/graphql", "/metrics");
        assert_eq!(http.get(url).send().await.unwrap().status(), 404, "no metrics on {}'s port", subgraph.name());
    }
    assert_eq!(http.get(format!("{}/anything-else", app.supergraph.router_url)).send().await.unwrap().status(), 404);

    let long_name = format!("Op{}", "x".repeat(10_000));
    let body = app.post(&app.supergraph.graphql_url(), json!({ "query": format!("query {long_name} {{ categories {{ slug }} }}"), "operationName": long_name }), None).await.1;
    assert!(body["data"]["categories"].is_array(), "{body}");
    let metrics = http.get(&app.supergraph.metrics_url).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.unwrap();
    assert!(text.contains("router_requests_total{operation=\"query\",status=\"200\"}"), "{text}");
    assert!(text.contains("subgraph_graphql_requests_total{outcome=\"ok\",subgraph=\"products\"}"), "{text}");
    assert!(!text.contains("xxxxxxxxxx"), "no client input in a label");
}

/// A copy of router-config/ whose router.yaml trusts a shop's identity
/// provider at `jwks_url` (RS256) besides the dev key.
fn shop_config(jwks_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = commerce_supergraph::supergraph::config_dir();
    common::copy_folder(&source, dir.path());
    let router_yaml = std::fs::read_to_string(source.join("router.yaml")).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&router_yaml).unwrap();
    let jwt = format!(
        "enabled: true
require_authentication: false
jwks_providers:
  - {{ source: file, path: jwks.json }}
  - {{ source: remote, url: {jwks_url:?}, polling_interval: 10m }}
issuers: [commerce-supergraph, https://idp.shop.example/]
audiences: [commerce-storefront, shop-storefront]
allowed_algorithms: [ES256, RS256]"
    );
    config["jwt"] = serde_yaml::from_str(&jwt).unwrap();
    // The config names the supergraph relative to itself.
    config["supergraph"]["path"] = source.parent().unwrap().join("supergraph.graphql").to_string_lossy().into_owned().into();
    std::fs::write(dir.path().join("router.yaml"), serde_yaml::to_string(&config).unwrap()).unwrap();
    dir
}

/// A shop's identity provider: serves a JWKS that a test can rotate.
struct IdentityProvider {
    jwks: std::sync::Arc<std::sync::Mutex<String>>,
    url: String,
}

impl IdentityProvider {
    async fn start(jwks: &str) -> Self {
        let served = std::sync::Arc::new(std::sync::Mutex::new(jwks.to_string()));
        let state = served.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let state = state.clone();
                async move { ([("content-type", "application/json")], state.lock().unwrap().clone()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        IdentityProvider { jwks: served, url }
    }

    fn rotate(&self, jwks: &str) {
        *self.jwks.lock().unwrap() = jwks.to_string();
    }

    /// An RS256 token for `subject`, signed with `key` (a fixture) under `kid`.
    fn token(key: &str, kid: &str, subject: &str) -> String {
        kit::auth::use_fast_crypto();
        let pem = std::fs::read(fixture(key)).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = json!({ "sub": subject, "iss": "https://idp.shop.example/", "aud": ["shop-storefront"], "iat": now, "exp": now + 600, "scope": "" });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shop-idp").join(name)
}

async fn a_shops_rs256_identity_provider_works_and_its_keys_rotate(backend: Backend) {
    let idp = IdentityProvider::start(&std::fs::read_to_string(fixture("jwks-a.json")).unwrap()).await;
    let config = shop_config(&idp.url);
    let app = spawn_app_configured(backend, test_settings(), None, config.path().to_path_buf()).await;
    let me = "{ me { id } }";

    let body = app.graphql(me, json!({}), Some(&IdentityProvider::token("key-a.pem", "shop-key-a", "shopper-a"))).await;
    assert_eq!(body["data"]["me"]["id"], "shopper-a", "{body}");

    // The shop rotates: key B is published and new tokens are signed with it.
    idp.rotate(&std::fs::read_to_string(fixture("jwks-a-b.json")).unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = IdentityProvider::token("key-b.pem", "shop-key-b", "shopper-b");
    let cart = app.operation("CreateCart", json!({}), Some(&rotated)).await;
    let cart_id = cart["data"]["createCart"]["cart"]["id"].as_str().unwrap_or_else(|| panic!("a new key works at once: {cart}")).to_string();
    let seen = app.operation("Cart", json!({ "id": cart_id }), Some(&rotated)).await;
    assert_eq!(seen["data"]["cart"]["id"], cart_id.as_str(), "the subgraph knows the new key too: {seen}");

    let forged = IdentityProvider::token("key-b.pem", "shop-key-a", "intruder");
    let (status, body) = app.post(&app.supergraph.graphql_url(), json!({ "query": me }), Some(&forged)).await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"), "a key id that does not match its signature: {body}");

    // The shop withdraws key A. Its tokens, verified a moment ago and
    // remembered, are refused once the new keys are fetched (here at once,
    // for a token naming a key nobody has).
    let old = IdentityProvider::token("key-a.pem", "shop-key-a", "shopper-a");
    let body = app.graphql(me, json!({}), Some(&old)).await;
    assert_eq!(body["data"]["me"]["id"], "shopper-a", "{body}");
    idp.rotate(&std::fs::read_to_string(fixture("jwks-b.json")).unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = IdentityProvider::token("key-b.pem", "shop-key-c", "intruder");
    let (status, _) = app.post(&app.supergraph.graphql_url(), json!({ "query": me }), Some(&unknown)).await;
    assert_eq!(status, 401, "an unknown key id");
    let (status, body) = app.post(&app.supergraph.graphql_url(), json!({ "query": me }), Some(&old)).await;
    assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"), "a withdrawn key's token: {body}");
}

async fn tokens_that_are_not_yet_valid_or_have_no_subject_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut early = customer_claims("customer-1");
    early.nbf = Some(chrono::Utc::now().timestamp() + 3600);
    let nobody = customer_claims("");
    for (what, claims) in [("not yet valid", early), ("empty subject", nobody)] {
        let token = sign_with_dev_key(&claims);
        let (status, body) = app.post(&app.supergraph.graphql_url(), json!({ "query": "{ categories { slug } }" }), Some(&token)).await;
        assert_eq!((status, error_code(&body)), (401, "UNAUTHENTICATED"), "{what}: {body}");
        let (_, body) = app.post(&app.subgraph_url(Subgraph::Orders), json!({ "query": "{ me { id } }" }), Some(&token)).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "the subgraph refuses it too ({what}): {body}");
    }
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJjdXN0b21lci0xIn0.";
    let (status, body) = app.post(&app.supergraph.graphql_url(), json!({ "query": "{ categories { slug } }" }), Some(unsigned)).await;
    assert_eq!(status, 401, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("JSON") && !message.contains('`'), "a message for people, not the library's: {message}");
}

async fn the_router_refuses_fields_the_caller_may_not_ask_for(backend: Backend) {
    let app = spawn_app(backend).await;
    let supergraph = std::fs::read_to_string(commerce_supergraph::supergraph::config_dir().join("../supergraph.graphql")).unwrap();
    assert!(supergraph.contains("@requiresScopes(scopes: [[\"inventory:write\"]])"), "the schema says who may adjust stock");
    let sku = app.sku_with_stock(1).await;
    let adjust = json!({ "sku": sku, "delta": 5, "reason": "count", "idempotencyKey": "edge-1" });
    let before = app.statements(Subgraph::Inventory);
    let body = app.operation("AdjustStock", adjust.clone(), Some(&customer_token("customer-1"))).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    let body = app.operation("AdjustStock", adjust, None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let body = app.operation("MyOrders", json!({ "first": 5 }), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(app.statements(Subgraph::Inventory), before, "the router refused before calling inventory");
}

async fn subgraph_reads_have_their_own_budget_and_clients_are_counted_by_subject(backend: Backend) {
    let app = spawn_app_limited(backend, test_settings(), Some(5)).await;
    let status = |token: Option<String>, forwarded_for: &'static str| {
        let request = reqwest::Client::new().post(app.supergraph.graphql_url()).header("x-forwarded-for", forwarded_for).json(&json!({ "query": "{ categories { slug } }" }));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Finding a sku spends the first of the anonymous budget's five requests.
    let sku = app.sku_with_stock(1).await;
    // Anonymous callers from one address share a budget, whatever X-Forwarded-For they claim.
    let mut statuses = Vec::new();
    for forwarded in ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5"] {
        statuses.push(status(None, forwarded).await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    // The cart still checks skus through the router: its reads are its own, not the public's.
    let shopper = customer_token("shopper");
    let cart = app.operation("CreateCart", json!({}), Some(&shopper)).await["data"]["createCart"]["cart"]["id"].clone();
    let added = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&shopper)).await;
    assert!(user_error_codes(&added["data"]["addCartLine"]).is_empty(), "{added}");
    // Two tokens of one customer share one budget.
    let mut claims = customer_claims("twice");
    let first = sign_with_dev_key(&claims);
    claims.name = Some("Another session".into());
    let second = sign_with_dev_key(&claims);
    assert_ne!(first, second);
    let mut statuses = Vec::new();
    for token in [&first, &second, &first, &second, &first, &second] {
        statuses.push(status(Some(token.clone()), "9.9.9.9").await);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
}

async fn cart_entities_obey_the_cart_rule_and_untrusted_prices_are_not_believed(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = customer_token("owner");
    let sku = app.sku_with_stock(2).await;
    let cart = app.operation("CreateCart", json!({}), Some(&owner)).await["data"]["createCart"]["cart"]["id"].clone();
    let added = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 2 }), Some(&owner)).await;
    let line = &added["data"]["addCartLine"]["cart"]["lines"][0];
    let catalog_total = line["lineTotal"].clone();
    let forged = json!({ "r": [{ "__typename": "CartLine", "id": line["id"], "variant": { "price": { "amount": "0.01", "currencyCode": "USD" } } }] });
    let query = "query ($r: [_Any!]!) { _entities(representations: $r) { ... on CartLine { id lineTotal { amount currencyCode } } } }";
    let post = |token: Option<&str>, gateway: Option<String>| {
        let mut request = reqwest::Client::new().post(app.subgraph_url(Subgraph::Cart)).json(&json!({ "query": query, "variables": forged }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(gateway) = gateway {
            request = request.header(kit::server::GATEWAY_TOKEN_HEADER, gateway);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let body = post(Some(&customer_token("stranger")), None).await;
    assert_eq!(body["data"]["_entities"], json!([null]), "a stranger cannot read the line: {body}");
    let body = post(None, None).await;
    assert_eq!(body["data"]["_entities"], json!([null]), "nor can an anonymous caller: {body}");
    let body = post(Some(&owner), None).await;
    assert_eq!(body["data"]["_entities"][0]["lineTotal"], catalog_total, "a made-up price is not believed: {body}");
    let gateway = commerce_supergraph::token::mint_gateway_token(&commerce_supergraph::supergraph::config_dir()).unwrap();
    let body = post(Some(&owner), Some(gateway)).await;
    assert_eq!(body["data"]["_entities"][0]["lineTotal"]["amount"], "0.02", "a trusted gateway's prices are: {body}");
}

async fn bad_input_is_a_clear_error_and_never_a_panic(backend: Backend) {
    let app = spawn_app(backend).await;
    let staff = token_with_scopes("staff", &["inventory:write", "reviews:moderate", "catalog:write"]);
    let sku = app.sku_with_stock(1).await;
    let body = app
        .operation("AdjustStock", json!({ "sku": sku, "delta": -2147483648i64, "reason": "oops", "idempotencyKey": "k" }), Some(&staff))
        .await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["INVALID_DELTA"], "{body}");
    let body = app.operation("AdjustStock", json!({ "sku": sku, "delta": 1, "reason": "after", "idempotencyKey": "k2" }), Some(&staff)).await;
    assert!(user_error_codes(&body["data"]["adjustStock"]).is_empty(), "inventory is still up: {body}");

    for (what, operation, variables) in [
        ("an Int out of range", "AdjustStock", json!({ "sku": sku, "delta": 1_099_511_627_776i64, "reason": "typo", "idempotencyKey": "k3" })),
        ("an unknown enum value", "ModerateReview", json!({ "id": "r", "decision": "MAYBE" })),
        ("a Decimal that is an object", "SetVariantPrice", json!({ "sku": sku, "price": { "amount": { "x": 1 }, "currencyCode": "USD" } })),
        ("a Decimal with three places", "SetVariantPrice", json!({ "sku": sku, "price": { "amount": "1.999", "currencyCode": "USD" } })),
    ] {
        let body = app.operation(operation, variables, Some(&staff)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{what}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.contains("Object(") && !message.contains("Number("), "{what}: {message}");
    }
}

async fn subgraphs_called_directly_enforce_their_own_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let products = app.subgraph_url(Subgraph::Products);
    let repeated = format!("{{ categories {{ {} }} }}", "slug ".repeat(3985));
    let deep = format!("{{ variant(sku: \"x\") {}{}", "{ product { variants ".repeat(10), "{ sku }".to_string() + &" } }".repeat(10) + " }");
    let aliases: String = (0..70).map(|i| format!("a{i}: categories {{ slug }} ")).collect();
    for (what, query, code) in [
        ("repeated fields", repeated, "FIELD_LIMIT_EXCEEDED"),
        ("aliases", format!("{{ {aliases} }}"), "MAX_ALIASES_EXCEEDED"),
        ("depth", deep, "BAD_USER_INPUT"),
    ] {
        let (_, body) = app.post(&products, json!({ "query": query }), None).await;
        assert_eq!(error_code(&body), code, "{what}: {body}");
    }
}

async fn idempotency_keys_refuse_a_different_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    let token = customer_token("keyed");
    let cart = app.operation("CreateCart", json!({}), Some(&token)).await["data"]["createCart"]["cart"]["id"].clone();
    let added = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&token)).await;
    let subtotal = added["data"]["addCartLine"]["cart"]["subtotal"].clone();
    let place = |payment: &str, expected: Value| {
        let input = json!({ "cartId": cart, "idempotencyKey": "same-key", "paymentToken": payment, "expectedTotal": expected });
        let (app, token) = (&app, &token);
        async move { app.operation("PlaceOrder", json!({ "input": input }), Some(token)).await["data"]["placeOrder"].clone() }
    };
    let first = place("tok_visa", subtotal.clone()).await;
    assert!(first["order"]["id"].is_string(), "{first}");
    assert_eq!(place("tok_visa", subtotal.clone()).await["order"]["id"], first["order"]["id"], "the same request is answered the same");
    assert_eq!(user_error_codes(&place("tok_declined", subtotal.clone()).await), ["IDEMPOTENCY_KEY_REUSED"], "another payment");
    assert_eq!(user_error_codes(&place("tok_visa", Value::Null).await), ["IDEMPOTENCY_KEY_REUSED"], "another expected total");

    let adjust = |who: &str, reason: &str| {
        let staff = token_with_scopes(who, &["inventory:write"]);
        let variables = json!({ "sku": sku, "delta": 1, "reason": reason, "idempotencyKey": "stock-key" });
        let app = &app;
        async move { app.operation("AdjustStock", variables, Some(&staff)).await["data"]["adjustStock"].clone() }
    };
    assert!(user_error_codes(&adjust("staff-1", "delivery").await).is_empty());
    assert!(user_error_codes(&adjust("staff-1", "delivery").await).is_empty(), "replayed");
    assert_eq!(user_error_codes(&adjust("staff-1", "recount").await), ["IDEMPOTENCY_KEY_REUSED"], "another reason");
    assert_eq!(user_error_codes(&adjust("staff-2", "delivery").await), ["IDEMPOTENCY_KEY_REUSED"], "another staff member");
}
