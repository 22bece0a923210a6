//! The storefront's cart operations through the router (cart.graphql).

mod common;

use common::shop::price_in_euros;
use common::{Backend, customer_token, error_code, spawn_app, token_with_scopes, user_error_codes};
use serde_json::{Value, json};

on_both_backends!(
    a_guest_fills_a_cart_and_sees_catalog_totals,
    adding_a_sku_twice_adds_to_its_line,
    quantity_rules_are_enforced_and_change_nothing,
    unknown_carts_skus_and_lines_are_user_errors,
    a_customer_cart_is_invisible_and_forbidden_to_others,
    a_price_change_shows_in_the_cart_at_once,
    concurrent_adds_all_land,
    a_cart_holds_one_currency,
);

async fn create_cart(app: &common::TestApp, token: Option<&str>) -> String {
    let body = app.operation("CreateCart", json!({}), token).await;
    assert_eq!(user_error_codes(&body["data"]["createCart"]), Vec::<String>::new(), "{body}");
    body["data"]["createCart"]["cart"]["id"].as_str().unwrap().to_string()
}

async fn add(app: &common::TestApp, cart: &str, sku: &str, quantity: i64, token: Option<&str>) -> Value {
    let body = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": quantity }), token).await;
    body["data"]["addCartLine"].clone()
}

fn amount(money: &Value) -> i64 {
    let text = money["amount"].as_str().unwrap();
    kit::Decimal::parse(text).unwrap().0
}

async fn a_guest_fills_a_cart_and_sees_catalog_totals(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(3).await;
    let payload = add(&app, &cart, &sku, 3, None).await;
    let view = &payload["cart"];
    assert_eq!(view["itemCount"], 3, "{payload}");
    let line = &view["lines"][0];
    assert_eq!(line["variant"]["sku"], sku.as_str());
    assert!(line["variant"]["product"]["slug"].is_string());
    let unit = amount(&line["variant"]["price"]);
    assert_eq!(amount(&line["lineTotal"]), unit * 3);
    assert_eq!(amount(&view["subtotal"]), unit * 3);
    assert_eq!(view["subtotal"]["currencyCode"], "USD");

    let line_id = line["id"].as_str().unwrap();
    let body = app.operation("UpdateCartLine", json!({ "cartId": cart, "lineId": line_id, "quantity": 1 }), None).await;
    assert_eq!(amount(&body["data"]["updateCartLine"]["cart"]["subtotal"]), unit);

    let body = app.operation("RemoveCartLine", json!({ "cartId": cart, "lineId": line_id }), None).await;
    let emptied = &body["data"]["removeCartLine"]["cart"];
    assert_eq!(emptied["itemCount"], 0);
    assert_eq!(emptied["lines"], json!([]));
    assert_eq!(amount(&emptied["subtotal"]), 0);

    let body = app.operation("Cart", json!({ "id": cart }), None).await;
    assert_eq!(body["data"]["cart"]["id"], cart.as_str());
}

async fn adding_a_sku_twice_adds_to_its_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(1).await;
    add(&app, &cart, &sku, 2, None).await;
    let payload = add(&app, &cart, &sku, 5, None).await;
    let lines = payload["cart"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["quantity"], 7);
}

async fn quantity_rules_are_enforced_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(1).await;
    for quantity in [0, -3, 51, i64::from(i32::MAX)] {
        let payload = add(&app, &cart, &sku, quantity, None).await;
        assert_eq!(user_error_codes(&payload), ["INVALID_QUANTITY"], "quantity {quantity}: {payload}");
        assert!(payload["cart"].is_null());
    }
    add(&app, &cart, &sku, 45, None).await;
    let payload = add(&app, &cart, &sku, 6, None).await;
    assert_eq!(user_error_codes(&payload), ["INVALID_QUANTITY"], "a line total above 50");
    let body = app.operation("Cart", json!({ "id": cart }), None).await;
    assert_eq!(body["data"]["cart"]["itemCount"], 45, "nothing changed");

    let line = body["data"]["cart"]["lines"][0]["id"].as_str().unwrap().to_string();
    let body = app.operation("UpdateCartLine", json!({ "cartId": cart, "lineId": line, "quantity": 51 }), None).await;
    assert_eq!(user_error_codes(&body["data"]["updateCartLine"]), ["INVALID_QUANTITY"]);
    let body = app.operation("UpdateCartLine", json!({ "cartId": cart, "lineId": line, "quantity": -1 }), None).await;
    assert_eq!(user_error_codes(&body["data"]["updateCartLine"]), ["INVALID_QUANTITY"]);
    let body = app.operation("UpdateCartLine", json!({ "cartId": cart, "lineId": line, "quantity": 0 }), None).await;
    assert_eq!(body["data"]["updateCartLine"]["cart"]["lines"], json!([]), "quantity 0 removes the line");
}

async fn unknown_carts_skus_and_lines_are_user_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(1).await;
    assert_eq!(user_error_codes(&add(&app, "no-such-cart", &sku, 1, None).await), ["CART_NOT_FOUND"]);
    assert_eq!(user_error_codes(&add(&app, &cart, "NO-SUCH-SKU", 1, None).await), ["UNKNOWN_SKU"]);
    assert_eq!(user_error_codes(&add(&app, &cart, &"X".repeat(10_000), 1, None).await), ["UNKNOWN_SKU"]);
    let body = app.operation("RemoveCartLine", json!({ "cartId": cart, "lineId": "no-such-line" }), None).await;
    assert_eq!(user_error_codes(&body["data"]["removeCartLine"]), ["LINE_NOT_FOUND"]);
    let body = app.operation("Cart", json!({ "id": "no-such-cart" }), None).await;
    assert!(body["data"]["cart"].is_null() && body["errors"].is_null(), "{body}");
}

async fn a_customer_cart_is_invisible_and_forbidden_to_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = customer_token("customer-owner");
    let cart = create_cart(&app, Some(&owner)).await;
    let sku = app.sku_with_stock(1).await;
    assert_eq!(user_error_codes(&add(&app, &cart, &sku, 1, Some(&owner)).await), Vec::<String>::new());

    let stranger = customer_token("customer-stranger");
    for token in [Some(stranger.as_str()), None] {
        let body = app.operation("Cart", json!({ "id": cart }), token).await;
        assert!(body["data"]["cart"].is_null(), "{body}");
        let body = app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), token).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    }
    let body = app.operation("Cart", json!({ "id": cart }), Some(&owner)).await;
    assert_eq!(body["data"]["cart"]["itemCount"], 1, "the others changed nothing");
}

async fn a_price_change_shows_in_the_cart_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(2).await;
    add(&app, &cart, &sku, 2, None).await;
    let admin = token_with_scopes("staff-1", &["catalog:write"]);
    let body = app
        .operation("SetVariantPrice", json!({ "sku": sku, "price": { "amount": "12.34", "currencyCode": "USD" } }), Some(&admin))
        .await;
    assert_eq!(body["data"]["setVariantPrice"]["variant"]["price"]["amount"], "12.34", "{body}");
    let body = app.operation("Cart", json!({ "id": cart }), None).await;
    assert_eq!(body["data"]["cart"]["subtotal"]["amount"], "24.68", "{body}");
    assert_eq!(body["data"]["cart"]["lines"][0]["lineTotal"]["amount"], "24.68");
}

async fn concurrent_adds_all_land(backend: Backend) {
    let app = spawn_app(backend).await;
    let cart = create_cart(&app, None).await;
    let sku = app.sku_with_stock(1).await;
    let adds = (0..20).map(|_| add(&app, &cart, &sku, 1, None));
    let payloads = futures::future::join_all(adds).await;
    assert!(payloads.iter().all(|p| user_error_codes(p).is_empty()), "{payloads:?}");
    let body = app.operation("Cart", json!({ "id": cart }), None).await;
    assert_eq!(body["data"]["cart"]["lines"][0]["quantity"], 20);
    assert_eq!(body["data"]["cart"]["lines"].as_array().unwrap().len(), 1);
}

async fn a_cart_holds_one_currency(backend: Backend) {
    let app = spawn_app(backend).await;
    let skus = app.first_skus(2).await;
    let (dollars, euros) = (&skus[0], &skus[1]);
    price_in_euros(&app, euros, "19.99").await;

    let cart = create_cart(&app, None).await;
    add(&app, &cart, dollars, 1, None).await;
    let refused = add(&app, &cart, euros, 1, None).await;
    assert_eq!(user_error_codes(&refused), ["CURRENCY_MISMATCH"], "{refused}");
    let body = app.operation("Cart", json!({ "id": cart }), None).await;
    let view = &body["data"]["cart"];
    assert_eq!(view["lines"].as_array().unwrap().len(), 1, "nothing changed: {body}");
    assert_eq!(view["subtotal"]["currencyCode"], "USD");

    // A cart in euros refuses dollars until its last euro line goes.
    let cart = create_cart(&app, None).await;
    let first = add(&app, &cart, euros, 2, None).await;
    assert_eq!(first["cart"]["subtotal"], json!({ "amount": "39.98", "currencyCode": "EUR" }), "{first}");
    assert_eq!(user_error_codes(&add(&app, &cart, dollars, 1, None).await), ["CURRENCY_MISMATCH"]);
    let line = first["cart"]["lines"][0]["id"].clone();
    app.operation("RemoveCartLine", json!({ "cartId": cart, "lineId": line }), None).await;
    let switched = add(&app, &cart, dollars, 1, None).await;
    assert_eq!(switched["cart"]["subtotal"]["currencyCode"], "USD", "{switched}");
}
