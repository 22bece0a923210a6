//! The subgraphs behind independent federation gateways: Apollo Gateway and
//! Hive Gateway (tests/js/gateway.mjs) compose the SDL the subgraphs
//! advertise and plan every request themselves. A shop may put any Federation v2 gateway in front
//! of the subgraphs; the catalog must read the same and a checkout must
//! complete.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, TestApp, customer_token, spawn_app_with, test_settings};
use kit::server::AuthorizationDirectives;
use serde_json::{Value, json};

on_both_backends!(
    every_subgraph_advertises_the_sdl_the_supergraph_is_composed_from,
    the_storefront_reads_and_checks_out_through_apollo_gateway,
    the_storefront_reads_and_checks_out_through_hive_gateway,
);

async fn every_subgraph_advertises_the_sdl_the_supergraph_is_composed_from(backend: Backend) {
    let app = common::spawn_app(backend).await;
    for subgraph in Subgraph::ALL {
        let (_, answer) = app.post(&app.subgraph_url(subgraph), json!({ "query": "{ _service { sdl } }" }), None).await;
        let advertised = answer["data"]["_service"]["sdl"].as_str().unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(advertised, (subgraph.definition().sdl)(), "{}", subgraph.name());
        assert!(advertised.contains("federation/v2.9"), "{advertised}");
    }
}

/// A gateway in Node over the app's subgraphs; stopped when dropped.
struct NodeGateway {
    process: Child,
    url: String,
}

impl NodeGateway {
    /// Starts `kind` (apollo or hive) over `app`'s subgraphs.
    fn start(kind: &str, app: &TestApp) -> NodeGateway {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        assert!(dir.join("node_modules").exists(), "the Node clients are not installed: run `npm ci --prefix tests/js`");
        let subgraphs = Subgraph::ALL.iter().map(|s| format!("{}={}", s.name(), app.subgraph_url(*s)));
        let mut process = Command::new("node")
            .args(["gateway.mjs", kind])
            .args(subgraphs)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        BufReader::new(process.stdout.take().unwrap()).read_line(&mut line).expect("the gateway prints its URL");
        assert!(line.starts_with("http://"), "{kind} gateway did not start: {line:?}");
        NodeGateway { process, url: line.trim().to_string() }
    }
}

impl Drop for NodeGateway {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Apollo Gateway refuses a supergraph that links authorization directives
/// (it cannot enforce them), so these subgraphs leave them out of their SDL
/// and enforce the rules themselves.
async fn the_storefront_reads_and_checks_out_through_apollo_gateway(backend: Backend) {
    let settings = kit::config::Settings { authorization_directives: AuthorizationDirectives::Omitted, ..test_settings() };
    let app = spawn_app_with(backend, settings).await;
    let gateway = NodeGateway::start("apollo", &app);
    the_catalog_reads_as_through_the_router(&app, &gateway).await;
    let token = customer_token("through-apollo-gateway");
    let cart = cart_with_a_line(&app, &gateway.url, &token).await;
    let through_gateway = app.operation_at(&gateway.url, "Cart", json!({ "id": cart }), Some(&token)).await;
    let through_router = app.operation("Cart", json!({ "id": cart }), Some(&token)).await;
    assert!(through_gateway["data"]["cart"]["subtotal"]["amount"].is_string(), "{through_gateway}");
    assert_eq!(numbers_as_floats(&through_gateway["data"]), numbers_as_floats(&through_router["data"]), "the cart's prices and totals agree");
    assert_eq!(order_placed_and_settled(&app, &gateway.url, &token, &cart).await, "CONFIRMED");

    let sku = app.sku_with_stock(1).await;
    let change = json!({ "sku": sku, "delta": 1000, "reason": "restock", "idempotencyKey": "not-staff" });
    let refused = app.operation_at(&gateway.url, "AdjustStock", change, Some(&token)).await;
    assert_eq!(common::error_code(&refused), "FORBIDDEN", "the subgraph still checks the scope: {refused}");
}

/// Hive Gateway takes the authorization directives as they are. Its
/// JavaScript planner cannot satisfy `Cart.subtotal` (a `@requires` through
/// the cart's own lines: SATISFIABILITY_ERROR), so the cart is filled
/// through the router and ordered through Hive Gateway.
async fn the_storefront_reads_and_checks_out_through_hive_gateway(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let gateway = NodeGateway::start("hive", &app);
    the_catalog_reads_as_through_the_router(&app, &gateway).await;
    let token = customer_token("through-hive-gateway");
    let cart = cart_with_a_line(&app, &app.supergraph.graphql_url(), &token).await;
    assert_eq!(order_placed_and_settled(&app, &gateway.url, &token, &cart).await, "CONFIRMED");
}

/// The catalog's pages answer through `gateway` exactly as through the router.
async fn the_catalog_reads_as_through_the_router(app: &TestApp, gateway: &NodeGateway) {
    let slug = app.first_products(1).await[0]["slug"].as_str().unwrap().to_string();
    for (name, variables) in [
        ("Categories", json!({})),
        ("ProductListing", json!({ "first": 10 })),
        ("ProductListing", json!({ "first": 5, "search": "classic" })),
        ("ProductPage", json!({ "slug": slug })),
    ] {
        let ours = app.operation(name, variables.clone(), None).await;
        let theirs = app.operation_at(&gateway.url, name, variables.clone(), None).await;
        assert!(theirs["errors"].is_null(), "{name}: {theirs}");
        assert_eq!(numbers_as_floats(&theirs["data"]), numbers_as_floats(&ours["data"]), "{name} {variables}");
    }
}

/// A new cart with two units of a sku in stock, made through `url`; its id.
async fn cart_with_a_line(app: &TestApp, url: &str, token: &str) -> Value {
    let sku = app.sku_with_stock(2).await;
    let created = app.operation_at(url, "CreateCart", json!({}), Some(token)).await;
    let cart = created["data"]["createCart"]["cart"]["id"].clone();
    assert!(cart.is_string(), "{created}");
    let added = app.operation_at(url, "AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 2 }), Some(token)).await;
    assert_eq!(added["data"]["addCartLine"]["userErrors"], json!([]), "{added}");
    cart
}

/// Places an order for `cart` through `url` and follows it there until it
/// leaves PENDING; its status.
async fn order_placed_and_settled(app: &TestApp, url: &str, token: &str, cart: &Value) -> Value {
    let input = json!({ "cartId": cart, "idempotencyKey": "through-a-gateway", "paymentToken": "tok_visa" });
    let placed = app.operation_at(url, "PlaceOrder", json!({ "input": input }), Some(token)).await;
    let order = placed["data"]["placeOrder"]["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string();
    for _ in 0..600 {
        let status = app.operation_at(url, "Order", json!({ "id": order }), Some(token)).await["data"]["order"]["status"].clone();
        if status != "PENDING" {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("order {order} stayed PENDING for 60 s")
}

/// `value` with every number a float: JavaScript prints the average 4.0 as 4.
fn numbers_as_floats(value: &Value) -> Value {
    match value {
        Value::Number(number) => json!(number.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_floats).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), numbers_as_floats(v))).collect()),
        other => other.clone(),
    }
}
