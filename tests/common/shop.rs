//! Shopping through the router as a storefront and a back office do it:
//! carts, orders, stock, and waiting for the saga.

use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{TestApp, token_with_scopes};

/// Sets a sku's on-hand stock to exactly `units` through the back office.
pub async fn stock_exactly(app: &TestApp, sku: &str, units: i64) {
    let staff = token_with_scopes("staff", &["inventory:write"]);
    let stock = stock_of(app, sku).await;
    let delta = units - stock["onHand"].as_i64().unwrap();
    if delta != 0 {
        let body = app
            .operation(
                "AdjustStock",
                json!({ "sku": sku, "delta": delta, "reason": "test setup", "idempotencyKey": uuid::Uuid::new_v4().to_string() }),
                Some(&staff),
            )
            .await;
        assert_eq!(body["data"]["adjustStock"]["variant"]["stock"]["onHand"], units, "{body}");
    }
}

/// Prices a sku in euros through the back office.
pub async fn price_in_euros(app: &TestApp, sku: &str, amount: &str) {
    let staff = token_with_scopes("staff", &["catalog:write"]);
    let priced = app.operation("SetVariantPrice", json!({ "sku": sku, "price": { "amount": amount, "currencyCode": "EUR" } }), Some(&staff)).await;
    assert_eq!(priced["data"]["setVariantPrice"]["variant"]["price"]["currencyCode"], "EUR", "{priced}");
}

pub async fn stock_of(app: &TestApp, sku: &str) -> Value {
    let body = app.graphql("query ($sku: ID!) { variant(sku: $sku) { stock { available reserved onHand } } }", json!({ "sku": sku }), None).await;
    body["data"]["variant"]["stock"].clone()
}

/// A customer's open cart holding `quantity` of `sku`; returns its id and subtotal.
pub async fn cart_with(app: &TestApp, token: &str, sku: &str, quantity: i64) -> (String, Value) {
    fill_cart(app, Some(token), sku, quantity).await
}

/// A guest cart (made without a token) holding `quantity` of `sku`; returns its id and subtotal.
pub async fn guest_cart_with(app: &TestApp, sku: &str, quantity: i64) -> (String, Value) {
    fill_cart(app, None, sku, quantity).await
}

async fn fill_cart(app: &TestApp, token: Option<&str>, sku: &str, quantity: i64) -> (String, Value) {
    let body = app.operation("CreateCart", json!({}), token).await;
    let cart = body["data"]["createCart"]["cart"]["id"].as_str().expect("a cart").to_string();
    let body = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": quantity }), token).await;
    let subtotal = body["data"]["addCartLine"]["cart"]["subtotal"].clone();
    assert!(subtotal.is_object(), "{body}");
    (cart, subtotal)
}

/// The Order operation as the storefront sends it: with the customer's
/// token, or a guest's access token.
pub async fn order_as(app: &TestApp, token: Option<&str>, access_token: Option<&str>, id: &str) -> Value {
    app.operation("Order", json!({ "id": id, "accessToken": access_token }), token).await["data"]["order"].clone()
}

/// Waits (bounded) until the order has left PENDING; returns it.
pub async fn settled_as(app: &TestApp, token: Option<&str>, access_token: Option<&str>, id: &str) -> Value {
    for _ in 0..600 {
        let current = order_as(app, token, access_token, id).await;
        if current["status"] != "PENDING" {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {id} did not settle within 60 s")
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 120 s")
}

pub async fn count(app: &TestApp, subgraph: Subgraph, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.supergraph.db(subgraph)).await.expect("a count")
}

/// After 200 checkouts of one unit each for 10 units of `sku`: every order
/// settles, available never going below zero on the way; exactly 10 are
/// confirmed and 190 rejected, and the 10 units are sold.
pub async fn exactly_ten_of_two_hundred_sold(app: &TestApp, sku: &str) {
    eventually("every order settles", || async {
        assert!(stock_of(app, sku).await["available"].as_i64().unwrap() >= 0, "available never goes negative");
        count(app, Subgraph::Orders, "SELECT COUNT(*) FROM orders WHERE status = 'PENDING'").await == 0
    })
    .await;
    assert_eq!(count(app, Subgraph::Orders, "SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'").await, 10);
    assert_eq!(count(app, Subgraph::Orders, "SELECT COUNT(*) FROM orders WHERE status = 'REJECTED'").await, 190);
    let rejected_for_stock = "SELECT COUNT(*) FROM order_timeline WHERE status = 'REJECTED' AND reason = 'OUT_OF_STOCK'";
    assert_eq!(count(app, Subgraph::Orders, rejected_for_stock).await, 190);
    eventually("the sales are committed", || async { stock_of(app, sku).await["reserved"] == 0 }).await;
    assert_eq!(stock_of(app, sku).await, json!({ "available": 0, "reserved": 0, "onHand": 0 }));
}

/// Follows OrderStatus over server-sent events through the router until
/// the order reaches `until`, running `meanwhile` once the first status has
/// arrived; answers every status pushed, in order, and what `meanwhile` answered.
pub async fn statuses_pushed<T>(app: &TestApp, token: Option<&str>, variables: Value, until: &str, meanwhile: impl Future<Output = T>) -> (Vec<String>, T) {
    let mut request = reqwest::Client::new().post(app.supergraph.graphql_url()).header("accept", "text/event-stream");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .json(&json!({ "query": super::storefront_document("OrderStatus"), "variables": variables }))
        .send()
        .await
        .expect("the router answers");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = response.bytes_stream();
    let mut seen = Vec::new();
    let mut buffer = String::new();
    let mut meanwhile = Some(meanwhile);
    let mut answered = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|status| status == until) {
        if !seen.is_empty()
            && let Some(meanwhile) = meanwhile.take()
        {
            answered = Some(meanwhile.await);
        }
        let chunk = tokio::time::timeout_at(deadline, events.next()).await.expect("an update within 60 s").expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data: ")) {
                let update: Value = serde_json::from_str(data).unwrap();
                assert_eq!(update["data"]["orderStatusChanged"]["id"], variables["id"], "{update}");
                seen.push(update["data"]["orderStatusChanged"]["status"].as_str().unwrap().to_string());
            }
        }
    }
    let answered = match (answered, meanwhile) {
        (Some(answered), _) => answered,
        (None, Some(meanwhile)) => meanwhile.await,
        (None, None) => unreachable!("meanwhile runs once"),
    };
    (seen, answered)
}
