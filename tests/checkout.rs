//! Checkout through the router (checkout.graphql): the saga over events, on
//! SQLite with the in-process bus and on PostgreSQL with NATS JetStream.

mod common;

use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::shop::{cart_with, count, eventually, exactly_ten_of_two_hundred_sold, order_as, settled_as, statuses_pushed, stock_exactly, stock_of};
use common::{Backend, TestApp, customer_token, spawn_app, spawn_app_with, test_settings, token_with_scopes, user_error_codes};
use futures::StreamExt;
use serde_json::{Value, json};

on_both_backends!(
    two_hundred_concurrent_checkouts_for_ten_units_confirm_exactly_ten,
    fifty_concurrent_placements_with_one_key_make_one_order_and_one_authorization,
    a_consumer_that_crashes_after_its_effect_applies_it_once,
    a_poison_event_is_dead_lettered_and_replayed_once_fixed,
    orders_placed_while_inventory_is_down_settle_when_it_returns,
    a_declined_payment_releases_the_stock_and_reopens_the_cart,
    cancelling_a_confirmed_order_voids_the_payment_and_restores_the_stock,
    checkout_refuses_stale_totals_reused_keys_and_ordered_carts,
    another_customers_order_is_invisible,
    a_cart_of_more_skus_than_one_catalog_read_takes_is_ordered_at_the_catalogs_prices_read_past_the_router,
    an_unsettled_reservation_is_released_after_its_ttl,
    a_confirmation_made_while_inventory_is_down_past_the_ttl_keeps_its_stock_and_payment,
    orders_settling_around_the_ttl_settle_one_way_in_every_subgraph,
    addresses_are_checked_for_their_country_and_kept_on_the_order,
    order_status_changes_are_pushed_through_the_router,
    a_confirmed_order_makes_reviews_verified_purchases,
    the_trace_context_of_placeorder_reaches_every_event_of_the_saga,
);

async fn place_order(app: &TestApp, token: &str, cart: &str, key: &str, payment: &str, expected: Option<&Value>) -> Value {
    let mut input = json!({ "cartId": cart, "idempotencyKey": key, "paymentToken": payment });
    if let Some(expected) = expected {
        input["expectedTotal"] = expected.clone();
    }
    let body = app.operation("PlaceOrder", json!({ "input": input }), Some(token)).await;
    body["data"]["placeOrder"].clone()
}

async fn order(app: &TestApp, token: &str, id: &str) -> Value {
    order_as(app, Some(token), None, id).await
}

/// Waits (bounded) until the order has left PENDING; returns it.
async fn settled(app: &TestApp, token: &str, id: &str) -> Value {
    settled_as(app, Some(token), None, id).await
}

async fn two_hundred_concurrent_checkouts_for_ten_units_confirm_exactly_ten(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 10).await;
    let customers: Vec<String> = (0..200).map(|i| customer_token(&format!("rush-{i}"))).collect();
    let mut carts = Vec::new();
    for token in &customers {
        carts.push(cart_with(&app, token, &sku, 1).await.0);
    }

    let placements = customers.iter().zip(&carts).map(|(token, cart)| place_order(&app, token, cart, "rush", "tok_visa", None));
    let answers = futures::future::join_all(placements).await;
    for answer in &answers {
        assert_eq!(answer["order"]["status"], "PENDING", "{answer}");
    }

    exactly_ten_of_two_hundred_sold(&app, &sku).await;

    let (token, answer) = (&customers[0], &answers[0]);
    let shown = order(&app, token, answer["order"]["id"].as_str().unwrap()).await;
    assert!(["CONFIRMED", "REJECTED"].contains(&shown["status"].as_str().unwrap()));
}

async fn fifty_concurrent_placements_with_one_key_make_one_order_and_one_authorization(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(2).await;
    let token = customer_token("eager");
    let (cart, subtotal) = cart_with(&app, &token, &sku, 2).await;
    let placements = (0..50).map(|_| place_order(&app, &token, &cart, "one-click", "tok_visa", Some(&subtotal)));
    let answers = futures::future::join_all(placements).await;
    let ids: std::collections::HashSet<&str> = answers.iter().map(|a| a["order"]["id"].as_str().unwrap_or_else(|| panic!("{a}"))).collect();
    assert_eq!(ids.len(), 1, "every answer names the same order");
    let id = ids.into_iter().next().unwrap().to_string();
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED");
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders").await, 1);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payments WHERE authorization_id IS NOT NULL").await, 1);
    let again = place_order(&app, &token, &cart, "one-click", "tok_visa", Some(&subtotal)).await;
    assert_eq!(again["order"]["id"], id.as_str(), "the key answers the same order afterwards too");
}

async fn a_consumer_that_crashes_after_its_effect_applies_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(3).await;
    stock_exactly(&app, &sku, 10).await;
    app.faults.crash_after_effect_once("inventory", "OrderPlaced");
    let token = customer_token("unlucky");
    let (cart, _) = cart_with(&app, &token, &sku, 3).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_visa", None).await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED");
    eventually("the sale is committed", || async { stock_of(&app, &sku).await["reserved"] == 0 }).await;
    assert_eq!(stock_of(&app, &sku).await["onHand"], 7, "reserved and sold once, not twice");
    let failures: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT event_id, attempts, last_error FROM delivery_failures WHERE consumer = 'inventory'")
            .fetch_all(app.supergraph.db(Subgraph::Inventory))
            .await
            .unwrap();
    assert_eq!(failures.len(), 1, "the event was delivered again after the crash: {failures:?}");
}

async fn a_poison_event_is_dead_lettered_and_replayed_once_fixed(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    app.faults.poison("cart", "OrderPlaced");
    let token = customer_token("poisoned");
    let (cart, _) = cart_with(&app, &token, &sku, 1).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_visa", None).await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED", "other consumers carry on");

    let cart_db = app.supergraph.db(Subgraph::Cart);
    eventually("a dead letter appears", || async { !events::dead_letters(cart_db).await.unwrap().is_empty() }).await;
    let letters = events::dead_letters(cart_db).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].event_type.as_str(), letters[0].attempts), ("OrderPlaced", common::test_settings().event_retry.attempts));
    let add = json!({ "cartId": cart, "sku": sku, "quantity": 1 });
    let body = app.operation("AddCartLine", add.clone(), Some(&token)).await;
    assert!(user_error_codes(&body["data"]["addCartLine"]).is_empty(), "the cart was not closed: {body}");

    assert!(app.supergraph.replay_dead_letter(Subgraph::Cart, &letters[0].id).await.is_err(), "still poisoned");
    app.faults.cure("cart", "OrderPlaced");
    app.supergraph.replay_dead_letter(Subgraph::Cart, &letters[0].id).await.expect("replayed");
    let body = app.operation("AddCartLine", add, Some(&token)).await;
    assert_eq!(user_error_codes(&body["data"]["addCartLine"]), ["CART_CLOSED"]);
    assert!(app.supergraph.replay_dead_letter(Subgraph::Cart, &letters[0].id).await.is_err(), "a dead letter replays once");
    assert_eq!(count(&app, Subgraph::Cart, "SELECT COUNT(*) FROM processed_events WHERE consumer = 'cart'").await, 1);
}

async fn orders_placed_while_inventory_is_down_settle_when_it_returns(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 20).await;
    let token = customer_token("patient");
    let mut carts = Vec::new();
    for _ in 0..5 {
        carts.push(cart_with(&app, &token, &sku, 2).await.0);
    }
    app.supergraph.stop_subgraph(Subgraph::Inventory).await.expect("inventory stops");
    let mut ids = Vec::new();
    for (i, cart) in carts.iter().enumerate() {
        let placed = place_order(&app, &token, cart, &format!("k{i}"), "tok_visa", None).await;
        ids.push(placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(order(&app, &token, id).await["status"], "PENDING", "nothing settles without inventory");
    }
    app.supergraph.restart_subgraph(Subgraph::Inventory).await.expect("inventory starts again");
    for id in &ids {
        assert_eq!(settled(&app, &token, id).await["status"], "CONFIRMED");
    }
    eventually("the sales are committed", || async { stock_of(&app, &sku).await["reserved"] == 0 }).await;
    assert_eq!(stock_of(&app, &sku).await["onHand"], 10, "five orders of two: nothing lost, nothing doubled");
    assert_eq!(count(&app, Subgraph::Inventory, "SELECT COUNT(*) FROM reservations WHERE status = 'COMMITTED'").await, 5);
}

async fn a_declined_payment_releases_the_stock_and_reopens_the_cart(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(2).await;
    stock_exactly(&app, &sku, 5).await;
    let token = customer_token("declined");
    let (cart, _) = cart_with(&app, &token, &sku, 2).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_declined", None).await;
    let settled = settled(&app, &token, placed["order"]["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "PAYMENT_FAILED");
    let statuses: Vec<&str> = settled["timeline"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["PENDING", "PAYMENT_FAILED"]);
    eventually("the reservation is released", || async { stock_of(&app, &sku).await == json!({ "available": 5, "reserved": 0, "onHand": 5 }) }).await;
    eventually("the cart reopens", || async {
        let body = app.operation("UpdateCartLine", json!({ "cartId": cart, "lineId": "none", "quantity": 1 }), Some(&token)).await;
        user_error_codes(&body["data"]["updateCartLine"]) == ["LINE_NOT_FOUND"]
    })
    .await;
    let again = place_order(&app, &token, &cart, "second-try", "tok_visa", None).await;
    assert_eq!(settled_status(&app, &token, &again).await, "CONFIRMED", "the reopened cart can be ordered");
}

async fn settled_status(app: &TestApp, token: &str, placed: &Value) -> String {
    let id = placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}"));
    settled(app, token, id).await["status"].as_str().unwrap().to_string()
}

async fn cancelling_a_confirmed_order_voids_the_payment_and_restores_the_stock(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 4).await;
    let token = customer_token("regretful");
    let (cart, _) = cart_with(&app, &token, &sku, 3).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_visa", None).await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED");
    eventually("the sale is committed", || async { stock_of(&app, &sku).await["onHand"] == 1 }).await;

    let cancel = |token: String| {
        let app = &app;
        let id = id.clone();
        async move { app.operation("CancelOrder", json!({ "id": id }), Some(&token)).await }
    };
    let body = cancel(customer_token("stranger")).await;
    assert_eq!(user_error_codes(&body["data"]["cancelOrder"]), ["ORDER_NOT_FOUND"]);
    let body = cancel(token.clone()).await;
    assert_eq!(body["data"]["cancelOrder"]["order"]["status"], "CANCELLED", "{body}");
    let body = cancel(token.clone()).await;
    assert_eq!(body["data"]["cancelOrder"]["order"]["status"], "CANCELLED", "cancelling twice changes nothing");

    eventually("the stock is restored", || async { stock_of(&app, &sku).await == json!({ "available": 4, "reserved": 0, "onHand": 4 }) }).await;
    let shown = order(&app, &token, &id).await;
    let statuses: Vec<&str> = shown["timeline"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["PENDING", "CONFIRMED", "CANCELLED"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payments WHERE status = 'VOIDED'").await, 1);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payment_calls WHERE outcome = 'VOIDED'").await, 1);

    let (second_cart, _) = cart_with(&app, &token, &sku, 50).await;
    let rejected = place_order(&app, &token, &second_cart, "too-many", "tok_visa", None).await;
    assert_eq!(settled_status(&app, &token, &rejected).await, "REJECTED");
    let body = app.operation("CancelOrder", json!({ "id": rejected["order"]["id"] }), Some(&token)).await;
    assert_eq!(user_error_codes(&body["data"]["cancelOrder"]), ["ORDER_NOT_CANCELLABLE"]);
}

async fn checkout_refuses_stale_totals_reused_keys_and_ordered_carts(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(2).await;
    let token = customer_token("careful");
    let (cart, subtotal) = cart_with(&app, &token, &sku, 1).await;

    let stale = json!({ "amount": "0.01", "currencyCode": "USD" });
    let refused = place_order(&app, &token, &cart, "k1", "tok_visa", Some(&stale)).await;
    assert_eq!(user_error_codes(&refused), ["PRICE_CHANGED"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders").await, 0, "no order was made");

    // Without a token, a customer's cart is no one's to order.
    let guest = json!({ "cartId": cart, "idempotencyKey": "k", "paymentToken": "tok_visa", "email": "guest@example.com" });
    let body = app.operation("PlaceOrder", json!({ "input": guest }), None).await;
    assert_eq!(user_error_codes(&body["data"]["placeOrder"]), ["CART_NOT_FOUND"], "{body}");
    assert_eq!(user_error_codes(&place_order(&app, &token, "no-such-cart", "k2", "tok_visa", None).await), ["CART_NOT_FOUND"]);
    let body = app.operation("CreateCart", json!({}), Some(&token)).await;
    let empty = body["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_string();
    assert_eq!(user_error_codes(&place_order(&app, &token, &empty, "k3", "tok_visa", None).await), ["CART_EMPTY"]);
    assert_eq!(user_error_codes(&place_order(&app, &token, &cart, &"k".repeat(101), "tok_visa", None).await), ["INVALID_IDEMPOTENCY_KEY"]);

    let placed = place_order(&app, &token, &cart, "k4", "tok_visa", Some(&subtotal)).await;
    assert_eq!(placed["order"]["status"], "PENDING", "{placed}");
    assert_eq!(placed["order"]["total"], subtotal);
    assert_eq!(user_error_codes(&place_order(&app, &token, &cart, "k5", "tok_visa", None).await), ["CART_ALREADY_ORDERED"]);
    let (other_cart, _) = cart_with(&app, &token, &sku, 1).await;
    assert_eq!(user_error_codes(&place_order(&app, &token, &other_cart, "k4", "tok_visa", None).await), ["IDEMPOTENCY_KEY_REUSED"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders").await, 1);
}

async fn another_customers_order_is_invisible(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    let owner = customer_token("owner");
    let (cart, _) = cart_with(&app, &owner, &sku, 1).await;
    let placed = place_order(&app, &owner, &cart, "k", "tok_visa", None).await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let stranger = customer_token("stranger");
    let body = app.operation("Order", json!({ "id": id }), Some(&stranger)).await;
    assert!(body["data"]["order"].is_null() && body["errors"].is_null(), "{body}");
    let body = app.operation("MyOrders", json!({ "first": 10 }), Some(&stranger)).await;
    assert_eq!(body["data"]["me"]["orders"]["totalCount"], 0);
    let body = app.operation("MyOrders", json!({ "first": 10 }), Some(&owner)).await;
    assert_eq!(body["data"]["me"]["orders"]["edges"][0]["node"]["id"], id.as_str());
    let support = token_with_scopes("support", &["orders:read:all"]);
    assert_eq!(app.operation("Order", json!({ "id": id }), Some(&support)).await["data"]["order"]["id"], id.as_str());
}

/// The fetches the router has made from `subgraph` so far (this test's process's counter).
async fn router_fetches_from(app: &TestApp, subgraph: &str) -> u64 {
    let series = reqwest::get(&app.supergraph.metrics_url).await.unwrap().text().await.unwrap();
    let of_subgraph = format!("subgraph=\"{subgraph}\"");
    series
        .lines()
        .filter(|line| line.starts_with("router_subgraph_fetches_total{") && line.contains(&of_subgraph))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

async fn a_cart_of_more_skus_than_one_catalog_read_takes_is_ordered_at_the_catalogs_prices_read_past_the_router(backend: Backend) {
    let app = spawn_app(backend).await;
    // products' `variants` answers at most 100 skus at a time: placeOrder asks for 101 in two reads.
    let body = app.graphql("{ products(first: 100) { edges { node { variants { sku } } } } }", json!({}), None).await;
    let skus: Vec<String> = body["data"]["products"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .flat_map(|edge| edge["node"]["variants"].as_array().cloned().unwrap_or_default())
        .map(|variant| variant["sku"].as_str().unwrap().to_string())
        .take(101)
        .collect();
    assert_eq!(skus.len(), 101, "{body}");
    let shopper = customer_token("many-lines");
    let cart = app.operation("CreateCart", json!({}), Some(&shopper)).await["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_string();
    let mut subtotal = Value::Null;
    for sku in &skus {
        let added = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&shopper)).await;
        assert!(user_error_codes(&added["data"]["addCartLine"]).is_empty(), "{added}");
        subtotal = added["data"]["addCartLine"]["cart"]["subtotal"].clone();
    }
    let fetched = (router_fetches_from(&app, "cart").await, router_fetches_from(&app, "products").await);

    let placed = app
        .graphql(
            "mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { subtotal { amount currencyCode } lines { quantity } } userErrors { code } } }",
            json!({ "input": { "cartId": cart, "idempotencyKey": "many", "paymentToken": "tok_visa" } }),
            Some(&shopper),
        )
        .await;
    let order = &placed["data"]["placeOrder"]["order"];
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(101), "{placed}");
    // The cart prices its lines from the catalog itself: the order holds every line at the same prices.
    assert_eq!(order["subtotal"]["amount"], subtotal["amount"], "{placed}");
    assert_eq!(order["subtotal"]["currencyCode"], subtotal["currencyCode"], "{placed}");
    // placeOrder read the cart and the prices from cart and products themselves, not through the router.
    assert_eq!((router_fetches_from(&app, "cart").await, router_fetches_from(&app, "products").await), fetched);
}

/// A supergraph whose orders expire after `ttl` (looked for every `sweep`)
/// and whose `tok_slow` payments take `slow`, with a sku of exactly `units`.
async fn app_with_timing(backend: Backend, ttl: Duration, sweep: Duration, slow: Duration, units: i64) -> (TestApp, String) {
    let settings = kit::config::Settings { reservation_ttl: ttl, expiry_sweep: sweep, sandbox_slow_delay: slow, ..test_settings() };
    let app = spawn_app_with(backend, settings).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, units).await;
    (app, sku)
}

async fn a_confirmation_made_while_inventory_is_down_past_the_ttl_keeps_its_stock_and_payment(backend: Backend) {
    let (mut app, sku) = app_with_timing(backend, Duration::from_secs(1), Duration::from_millis(50), Duration::from_millis(300), 5).await;
    let token = customer_token("outage");
    let (cart, _) = cart_with(&app, &token, &sku, 2).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_slow", None).await;
    let id = placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string();
    // Reserved: inventory goes down while the slow payment is still out.
    eventually("the stock is reserved", || async { stock_of(&app, &sku).await["reserved"] == 2 }).await;
    app.supergraph.stop_subgraph(Subgraph::Inventory).await.expect("inventory stops");
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED", "orders confirms without inventory");
    // Down for three TTLs after the confirmation, then back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.supergraph.restart_subgraph(Subgraph::Inventory).await.expect("inventory starts again");
    eventually("the sale is committed", || async { stock_of(&app, &sku).await == json!({ "available": 3, "reserved": 0, "onHand": 3 }) }).await;
    let order = order(&app, &token, &id).await;
    let statuses: Vec<&str> = order["timeline"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["PENDING", "CONFIRMED"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payments WHERE status = 'AUTHORIZED'").await, 1);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payments WHERE status = 'VOIDED'").await, 0);
    assert_eq!(count(&app, Subgraph::Inventory, "SELECT COUNT(*) FROM reservations WHERE status = 'COMMITTED'").await, 1);
}

async fn orders_settling_around_the_ttl_settle_one_way_in_every_subgraph(backend: Backend) {
    // Payments that finish right at the TTL: some orders confirm, some expire; none may do both.
    let at_the_ttl = Duration::from_millis(600);
    let (app, sku) = app_with_timing(backend, at_the_ttl, Duration::from_millis(20), at_the_ttl, 40).await;
    let token = customer_token("racer");
    let mut carts = Vec::new();
    for _ in 0..12 {
        carts.push(cart_with(&app, &token, &sku, 2).await.0);
    }
    let keys: Vec<String> = (0..carts.len()).map(|i| format!("k{i}")).collect();
    let placing = carts.iter().zip(&keys).map(|(cart, key)| place_order(&app, &token, cart, key, "tok_slow", None));
    let mut ids = Vec::new();
    for placed in futures::future::join_all(placing).await {
        ids.push(placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string());
    }
    let mut confirmed = 0;
    for id in &ids {
        let settled = settled(&app, &token, id).await;
        let payment = || async {
            sqlx::query_scalar::<_, String>("SELECT status FROM sandbox_payments WHERE order_id = $1")
                .bind(id)
                .fetch_optional(app.supergraph.db(Subgraph::Orders))
                .await
                .unwrap()
        };
        match settled["status"].as_str().unwrap() {
            "CONFIRMED" => {
                confirmed += 1;
                assert_eq!(payment().await.as_deref(), Some("AUTHORIZED"), "a confirmed order keeps its payment");
            }
            "REJECTED" => {
                assert_eq!(settled["timeline"][1]["reason"], "RESERVATION_EXPIRED");
                eventually("an expired order's payment is voided", || async { matches!(payment().await.as_deref(), None | Some("VOIDED")) }).await;
            }
            other => panic!("order {id} settled as {other}"),
        }
    }
    // Inventory agrees: every confirmed order's units are sold, every expired one's are back.
    eventually("every reservation settles", || async { stock_of(&app, &sku).await["reserved"] == 0 }).await;
    assert_eq!(stock_of(&app, &sku).await["onHand"], 40 - 2 * confirmed, "{confirmed} confirmed of {}", ids.len());
    assert_eq!(count(&app, Subgraph::Inventory, "SELECT COUNT(*) FROM reservations WHERE status = 'COMMITTED'").await, confirmed);
}

async fn an_unsettled_reservation_is_released_after_its_ttl(backend: Backend) {
    let (app, sku) = app_with_timing(backend, Duration::from_millis(500), test_settings().expiry_sweep, Duration::from_secs(4), 3).await;
    let token = customer_token("slow");
    let (cart, _) = cart_with(&app, &token, &sku, 2).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_slow", None).await;
    let settled = settled(&app, &token, placed["order"]["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "REJECTED");
    assert_eq!(settled["timeline"][1]["reason"], "RESERVATION_EXPIRED");
    assert_eq!(stock_of(&app, &sku).await, json!({ "available": 3, "reserved": 0, "onHand": 3 }));
    eventually("the late authorization is voided", || async {
        count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM sandbox_payments WHERE status = 'VOIDED'").await == 1
    })
    .await;
}

async fn order_status_changes_are_pushed_through_the_router(backend: Backend) {
    // A slow payment keeps the order PENDING long enough to subscribe first.
    let settings = kit::config::Settings { sandbox_slow_delay: Duration::from_secs(5), ..test_settings() };
    let app = spawn_app_with(backend, settings).await;
    let sku = app.sku_with_stock(1).await;
    let token = customer_token("watcher");
    let (cart, _) = cart_with(&app, &token, &sku, 1).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_slow", None).await;
    let id = placed["order"]["id"].as_str().unwrap().to_string();

    let (seen, ()) = statuses_pushed(&app, Some(&token), json!({ "id": id }), "CONFIRMED", async {}).await;
    assert_eq!(seen, ["PENDING", "CONFIRMED"]);

    let stranger = reqwest::Client::new()
        .post(app.supergraph.graphql_url())
        .bearer_auth(customer_token("stranger"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": common::storefront_document("OrderStatus"), "variables": { "id": id } }))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), stranger.bytes_stream().next()).await.expect("an answer");
    let text = String::from_utf8_lossy(&first.unwrap().unwrap()).to_string();
    assert!(text.contains("errors") && !text.contains("CONFIRMED"), "{text}");
}

async fn a_confirmed_order_makes_reviews_verified_purchases(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = app.first_products(1).await.remove(0);
    let page = app.operation("ProductPage", json!({ "slug": product["slug"] }), None).await;
    let sku = page["data"]["product"]["variants"][0]["sku"].as_str().unwrap().to_string();
    stock_exactly(&app, &sku, 5).await;
    let token = customer_token("buyer");
    let early = app
        .operation("SubmitReview", json!({ "input": { "productId": product["id"], "rating": 5, "body": "Bought it in store." } }), Some(&token))
        .await;
    assert_eq!(early["data"]["submitReview"]["review"]["verifiedPurchase"], false);
    let (cart, _) = cart_with(&app, &token, &sku, 1).await;
    let placed = place_order(&app, &token, &cart, "k", "tok_visa", None).await;
    assert_eq!(settled_status(&app, &token, &placed).await, "CONFIRMED");
    eventually("the review becomes a verified purchase", || async {
        let page = app.operation("ProductPage", json!({ "slug": product["slug"] }), None).await;
        page["data"]["product"]["reviews"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["id"] == early["data"]["submitReview"]["review"]["id"] && e["node"]["verifiedPurchase"] == true)
    })
    .await;
}

async fn the_trace_context_of_placeorder_reaches_every_event_of_the_saga(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 2).await;
    let token = customer_token("traced");
    let stock_events = "SELECT COUNT(*) FROM outbox WHERE event_type = 'StockLevelChanged'";
    let before = count(&app, Subgraph::Inventory, stock_events).await;
    // An order that leaves the sku in stock tells the catalog nothing.
    let (first_cart, _) = cart_with(&app, &token, &sku, 1).await;
    let first = place_order(&app, &token, &first_cart, "first", "tok_visa", None).await;
    assert_eq!(settled_status(&app, &token, &first).await, "CONFIRMED");
    assert_eq!(count(&app, Subgraph::Inventory, stock_events).await, before, "an order that leaves stock records no stock level");
    let (cart, _) = cart_with(&app, &token, &sku, 1).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let input = json!({ "cartId": cart, "idempotencyKey": "k", "paymentToken": "tok_visa" });
    let body: Value = reqwest::Client::new()
        .post(app.supergraph.graphql_url())
        .bearer_auth(&token)
        .header("traceparent", traceparent)
        .json(&json!({ "query": common::storefront_document("PlaceOrder"), "variables": { "input": input } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = body["data"]["placeOrder"]["order"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
    assert_eq!(settled(&app, &token, &id).await["status"], "CONFIRMED");

    let traced = |subgraph: Subgraph| {
        let app = &app;
        async move {
            let types: Vec<(String,)> = sqlx::query_as("SELECT event_type FROM outbox WHERE traceparent = $1 ORDER BY id")
                .bind(traceparent)
                .fetch_all(app.supergraph.db(subgraph))
                .await
                .unwrap();
            types.into_iter().map(|(t,)| t).collect::<Vec<String>>()
        }
    };
    assert_eq!(traced(Subgraph::Orders).await, ["OrderPlaced", "OrderConfirmed"]);
    // The reservation and the stock level it changed, as this order sells the
    // sku out (the sale leaves what is available as it was).
    assert_eq!(traced(Subgraph::Inventory).await, ["StockLevelChanged", "InventoryReserved"]);
    assert_eq!(count(&app, Subgraph::Inventory, stock_events).await, before + 1);
    let availability = format!("SELECT available FROM stock_availability WHERE sku = '{sku}'");
    eventually("the catalog learns the sku is sold out", || async { count(&app, Subgraph::Products, &availability).await == 0 }).await;
}

async fn addresses_are_checked_for_their_country_and_kept_on_the_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 20).await;
    let token = customer_token("addressed");
    let address = |region: Option<&str>, postal: &str, country: &str| {
        json!({ "name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "Somewhere", "region": region, "postalCode": postal, "country": country })
    };
    let place = |cart: String, key: &str, shipping: Value, billing: Option<Value>| {
        let (app, token, key) = (&app, &token, key.to_string());
        async move {
            let input = json!({ "cartId": cart, "idempotencyKey": key, "paymentToken": "tok_visa", "shippingAddress": shipping, "billingAddress": billing });
            app.operation("PlaceOrder", json!({ "input": input }), Some(token)).await["data"]["placeOrder"].clone()
        }
    };

    // Refused, naming the part at fault; nothing is ordered.
    let refusals = [
        (address(None, "10001", "US"), "INVALID_ADDRESS", "input.shippingAddress.region"),
        (address(Some("NY"), "1000", "US"), "INVALID_ADDRESS", "input.shippingAddress.postalCode"),
        (address(None, "SW1A", "GB"), "INVALID_ADDRESS", "input.shippingAddress.postalCode"),
        (address(None, "123", "DE"), "INVALID_ADDRESS", "input.shippingAddress.postalCode"),
        (address(None, "75001", "XX"), "INVALID_COUNTRY", "input.shippingAddress.country"),
    ];
    let (cart, _) = cart_with(&app, &token, &sku, 1).await;
    for (index, (shipping, code, field)) in refusals.into_iter().enumerate() {
        let refused = place(cart.clone(), &format!("bad-{index}"), shipping, None).await;
        assert_eq!(user_error_codes(&refused), [code], "{refused}");
        let at: Vec<&str> = refused["userErrors"][0]["field"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(at.join("."), field);
    }
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders").await, 0);

    // Kept on the order as checked (the UK postcode in its usual form); billing defaults to shipping.
    let placed = place(cart, "us", address(Some("ny"), "10001-1234", "us"), None).await;
    let id = placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string();
    let shown = order(&app, &token, &id).await;
    assert_eq!(shown["shippingAddress"]["region"], "NY", "{shown}");
    assert_eq!(shown["shippingAddress"]["country"], "US");
    assert_eq!(shown["billingAddress"], shown["shippingAddress"]);
    for (key, shipping) in [("gb", address(None, "sw1a1aa", "GB")), ("de", address(None, "10115", "DE")), ("fr", address(None, "75001", "FR"))] {
        let (cart, _) = cart_with(&app, &token, &sku, 1).await;
        let billing = address(Some("Ontario"), "K1A 0B1", "CA");
        let placed = place(cart, key, shipping.clone(), Some(billing.clone())).await;
        let shown = order(&app, &token, placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}"))).await;
        assert_eq!(shown["shippingAddress"]["country"], shipping["country"], "{shown}");
        assert_eq!(shown["billingAddress"]["country"], "CA");
        if key == "gb" {
            assert_eq!(shown["shippingAddress"]["postalCode"], "SW1A 1AA");
        }
    }
}
