//! After the cart: guest checkout, signing in with a guest cart, shipping and
//! tax, and the back office shipping, refunding and taking back orders
//! (checkout.graphql, cart.graphql, admin.graphql), on SQLite with the
//! in-process bus and on PostgreSQL with NATS JetStream. Totals are
//! recomputed here from the rates the README states.

mod common;

use common::shop::{cart_with, count, eventually, exactly_ten_of_two_hundred_sold, guest_cart_with, price_in_euros, order_as, settled_as, statuses_pushed, stock_exactly, stock_of};
use common::{Backend, TestApp, customer_token, error_code, spawn_app, token_with_scopes, user_error_codes};
use commerce_supergraph::subgraphs::Subgraph;
use serde_json::{Value, json};
use sha2::Digest;

on_both_backends!(
    a_guest_checks_out_with_an_email_and_follows_the_order_with_its_token,
    two_hundred_concurrent_guest_checkouts_for_ten_units_confirm_exactly_ten,
    a_guest_cart_becomes_the_customers_on_sign_in,
    shipping_and_tax_make_the_total_for_each_destination,
    the_back_office_ships_in_parts_refunds_and_takes_lines_back,
    concurrent_back_office_requests_never_ship_or_refund_more_than_the_order,
    a_cancellation_racing_the_first_shipment_settles_one_way,
);

/// Minor units of a Money value ("12.34" → 1234).
fn minor(money: &Value) -> i64 {
    let amount = money["amount"].as_str().unwrap_or_else(|| panic!("an amount: {money}"));
    kit::money::Decimal::parse(amount).expect("a decimal").0
}

fn usd(minor_units: i64) -> Value {
    json!({ "amount": kit::money::Decimal(minor_units).to_string(), "currencyCode": "USD" })
}

fn address(region: Option<&str>, postal: &str, country: &str) -> Value {
    json!({ "name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "Somewhere", "region": region, "postalCode": postal, "country": country })
}

/// The README's rule: tax on lines and shipping at `rate_basis_points`,
/// rounded half up; added (USD) or contained (EUR).
fn expected(subtotal: i64, shipping: i64, rate_basis_points: i64, included: bool) -> (i64, i64) {
    let taxed = subtotal + shipping;
    if included {
        let tax = (2 * taxed * rate_basis_points + 10_000 + rate_basis_points) / (2 * (10_000 + rate_basis_points));
        (tax, taxed)
    } else {
        let tax = (2 * taxed * rate_basis_points + 10_000) / 20_000;
        (tax, taxed + tax)
    }
}

async fn place(app: &TestApp, token: Option<&str>, input: Value) -> Value {
    app.operation("PlaceOrder", json!({ "input": input }), token).await["data"]["placeOrder"].clone()
}

fn staff() -> String {
    token_with_scopes("warehouse", &["orders:write"])
}

async fn back_office(app: &TestApp, operation: &str, input: Value) -> Value {
    let field = format!("{}{}", operation[..1].to_lowercase(), &operation[1..]);
    let body = app.operation(operation, json!({ "input": input }), Some(&staff())).await;
    assert!(body["data"][&field].is_object(), "{body}");
    body["data"][field].clone()
}

async fn a_guest_checks_out_with_an_email_and_follows_the_order_with_its_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(3).await;
    let (cart, subtotal) = guest_cart_with(&app, &sku, 2).await;
    let to_london = address(None, "SW1A 1AA", "GB");
    // A slow payment keeps the order PENDING long enough to follow it.
    let input = |key: &str, email: Option<&str>| {
        json!({ "cartId": cart, "idempotencyKey": key, "paymentToken": "tok_slow", "email": email, "shippingAddress": to_london, "shippingMethod": "STANDARD" })
    };

    // A guest must say where the receipt goes.
    assert_eq!(user_error_codes(&place(&app, None, input("k", None)).await), ["EMAIL_REQUIRED"]);
    assert_eq!(user_error_codes(&place(&app, None, input("k", Some("not an email"))).await), ["INVALID_EMAIL"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders").await, 0);

    // The checkout page's quote is what placeOrder charges: $19.99 to the UK, 20% VAT added on top in dollars.
    let quote = app.operation("CheckoutQuote", json!({ "cartId": cart, "country": "GB", "shippingMethod": "STANDARD" }), None).await;
    let quote = &quote["data"]["checkoutQuote"];
    let (tax, total) = expected(minor(&subtotal), 1999, 2000, false);
    assert_eq!((minor(&quote["shippingTotal"]), minor(&quote["taxTotal"]), minor(&quote["total"])), (1999, tax, total), "{quote}");

    let mut as_shown = input("k", Some("ada@example.com"));
    as_shown["expectedTotal"] = quote["total"].clone();
    let placed = place(&app, None, as_shown.clone()).await;
    let id = placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string();
    let access = placed["orderAccessToken"].as_str().expect("a guest gets an access token").to_string();
    assert_eq!(minor(&placed["order"]["total"]), total);

    // The token follows and reads the order; nothing else does.
    let (pushed, ()) = statuses_pushed(&app, None, json!({ "id": id, "accessToken": access }), "CONFIRMED", async {}).await;
    assert_eq!(pushed, ["PENDING", "CONFIRMED"]);
    let shown = settled_as(&app, None, Some(&access), &id).await;
    assert_eq!((shown["status"].as_str(), shown["email"].as_str()), (Some("CONFIRMED"), Some("ada@example.com")), "{shown}");
    assert_eq!(shown["shippingAddress"]["postalCode"], "SW1A 1AA");
    let body = app.operation("Order", json!({ "id": id }), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "no token, no access token: {body}");
    assert_eq!(order_as(&app, None, Some("oat_guessed"), &id).await, Value::Null);
    assert_eq!(order_as(&app, Some(&customer_token("nosy")), None, &id).await, Value::Null, "a customer sees only their own");
    let (other_cart, _) = guest_cart_with(&app, &sku, 1).await;
    let other = place(&app, None, json!({ "cartId": other_cart, "idempotencyKey": "k", "paymentToken": "tok_visa", "email": "bob@example.com" })).await;
    let other_access = other["orderAccessToken"].as_str().unwrap_or_else(|| panic!("{other}"));
    assert_eq!(order_as(&app, None, Some(other_access), &id).await, Value::Null, "one order's token reads no other");

    // Sent again (a lost answer), the same request answers the same order with a new token that works too.
    let again = place(&app, None, as_shown).await;
    assert_eq!(again["order"]["id"], id.as_str(), "{again}");
    let second = again["orderAccessToken"].as_str().unwrap();
    assert_ne!(second, access);
    assert_eq!(order_as(&app, None, Some(second), &id).await["id"], id.as_str());
    let tokens = format!("SELECT COUNT(*) FROM order_access_tokens WHERE order_id = '{id}'");
    assert_eq!(count(&app, Subgraph::Orders, &tokens).await, 2, "one per answer");
    let mut hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM order_access_tokens WHERE order_id = $1")
        .bind(&id)
        .fetch_all(app.supergraph.db(Subgraph::Orders))
        .await
        .unwrap();
    let sha256 = |token: &str| sha2::Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect::<String>();
    let mut expected_hashes = vec![sha256(&access), sha256(second)];
    expected_hashes.sort();
    hashes.sort();
    assert_eq!(hashes, expected_hashes, "only SHA-256 hashes are stored");
}

async fn two_hundred_concurrent_guest_checkouts_for_ten_units_confirm_exactly_ten(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 10).await;
    let mut carts = Vec::new();
    for _ in 0..200 {
        carts.push(guest_cart_with(&app, &sku, 1).await.0);
    }
    let countries = [address(Some("NY"), "10001", "US"), address(None, "SW1A 1AA", "GB"), address(None, "10115", "DE"), address(None, "75001", "FR")];
    let placements = carts.iter().enumerate().map(|(i, cart)| {
        let input = json!({
            "cartId": cart, "idempotencyKey": "rush", "paymentToken": "tok_visa", "email": format!("guest-{i}@example.com"),
            "shippingAddress": countries[i % countries.len()],
        });
        place(&app, None, input)
    });
    let answers = futures::future::join_all(placements).await;
    for answer in &answers {
        assert_eq!(answer["order"]["status"], "PENDING", "{answer}");
        assert!(answer["orderAccessToken"].is_string());
    }
    exactly_ten_of_two_hundred_sold(&app, &sku).await;
    let authorized = "SELECT COUNT(*) FROM sandbox_payments p JOIN orders o ON o.id = p.order_id \
                      WHERE p.status = 'AUTHORIZED' AND o.status = 'CONFIRMED' AND p.amount_minor = o.total_minor";
    assert_eq!(count(&app, Subgraph::Orders, authorized).await, 10, "each confirmed order holds its whole total");
}

async fn a_guest_cart_becomes_the_customers_on_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let skus = app.first_skus(3).await;
    let merge = |token: String, guest: String| {
        let app = &app;
        async move { app.operation("MergeCart", json!({ "guestCartId": guest }), Some(&token)).await["data"]["mergeCart"].clone() }
    };
    let lines = |cart: &Value| -> Vec<(String, i64)> {
        let mut lines: Vec<(String, i64)> =
            cart["lines"].as_array().unwrap().iter().map(|l| (l["variant"]["sku"].as_str().unwrap().to_string(), l["quantity"].as_i64().unwrap())).collect();
        lines.sort();
        lines
    };

    // Without a cart of their own, the customer takes the guest cart over: the guest link no longer reads it.
    let (guest, _) = guest_cart_with(&app, &skus[0], 1).await;
    let newcomer = customer_token("newcomer");
    let adopted = merge(newcomer.clone(), guest.clone()).await;
    assert_eq!(adopted["cart"]["id"], guest.as_str(), "{adopted}");
    assert_eq!(app.operation("Cart", json!({ "id": guest }), None).await["data"]["cart"], Value::Null);
    assert_eq!(app.operation("Cart", json!({ "id": guest }), Some(&newcomer)).await["data"]["cart"]["id"], guest.as_str());
    assert_eq!(user_error_codes(&merge(customer_token("other"), guest.clone()).await), ["CART_NOT_FOUND"], "another customer's cart is not a guest cart");

    // With one, the guest's lines move in: a sku in both adds up to at most 50.
    let regular = customer_token("regular");
    let (own, _) = cart_with(&app, &regular, &skus[0], 2).await;
    let (guest, _) = guest_cart_with(&app, &skus[0], 49).await;
    app.operation("AddCartLine", json!({ "cartId": guest, "sku": skus[1], "quantity": 3 }), None).await;
    let merged = merge(regular.clone(), guest.clone()).await;
    assert_eq!(merged["cart"]["id"], own.as_str(), "{merged}");
    let mut want = vec![(skus[0].clone(), 50), (skus[1].clone(), 3)];
    want.sort();
    assert_eq!(lines(&merged["cart"]), want);
    let left = app.operation("Cart", json!({ "id": guest }), None).await;
    assert_eq!(left["data"]["cart"]["lines"], json!([]), "the guest cart is emptied: {left}");
    let edit = app.operation("AddCartLine", json!({ "cartId": guest, "sku": skus[2], "quantity": 1 }), None).await;
    assert_eq!(user_error_codes(&edit["data"]["addCartLine"]), ["CART_CLOSED"]);
    // Asked again (a lost answer), the merge answers the same cart and adds nothing.
    let again = merge(regular.clone(), guest.clone()).await;
    assert_eq!((again["cart"]["id"].as_str(), lines(&again["cart"])), (Some(own.as_str()), want.clone()), "{again}");
    assert_eq!(user_error_codes(&merge(customer_token("latecomer"), guest.clone()).await), ["CART_CLOSED"]);

    // Carts in two currencies are not merged, and nothing changes.
    price_in_euros(&app, &skus[2], "19.99").await;
    let (euros, _) = guest_cart_with(&app, &skus[2], 1).await;
    assert_eq!(user_error_codes(&merge(regular.clone(), euros.clone()).await), ["CURRENCY_MISMATCH"]);
    let own_now = app.operation("Cart", json!({ "id": own }), Some(&regular)).await;
    assert_eq!(lines(&own_now["data"]["cart"]), want);
    assert_eq!(app.operation("Cart", json!({ "id": euros }), None).await["data"]["cart"]["lines"].as_array().unwrap().len(), 1);
    let still_open = app.operation("AddCartLine", json!({ "cartId": euros, "sku": skus[2], "quantity": 1 }), None).await;
    assert_eq!(user_error_codes(&still_open["data"]["addCartLine"]), Vec::<String>::new(), "the guest cart is still the guest's: {still_open}");
    assert_eq!(error_code(&app.operation("MergeCart", json!({ "guestCartId": euros }), None).await), "UNAUTHENTICATED");
}

async fn shipping_and_tax_make_the_total_for_each_destination(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(10).await;
    stock_exactly(&app, &sku, 100).await;
    let shopper = customer_token("traveller");
    let (probe, subtotal) = cart_with(&app, &shopper, &sku, 1).await;
    let unit = minor(&subtotal);

    // (address, method, shipping in cents for one unit, tax rate in basis points), per the README's tables.
    let free_from = 7500;
    let destinations = [
        (address(Some("NY"), "10001", "US"), "STANDARD", if unit >= free_from { 0 } else { 599 }, 400),
        (address(Some("CA"), "94105", "US"), "EXPRESS", 1999, 725),
        (address(Some("OR"), "97201", "US"), "STANDARD", if unit >= free_from { 0 } else { 599 }, 0),
        (address(None, "SW1A 1AA", "GB"), "EXPRESS", 4499, 2000),
        (address(None, "10115", "DE"), "STANDARD", 1999, 1900),
        (address(None, "75001", "FR"), "FREIGHT", if unit >= 20000 { 999 } else { 1499 }, 2000),
        (address(None, "100-0001", "JP"), "STANDARD", 2999, 0),
    ];
    for (index, (to, method, shipping, rate)) in destinations.into_iter().enumerate() {
        let (cart, _) = cart_with(&app, &shopper, &sku, 1).await;
        let (tax, total) = expected(unit, shipping, rate, false);
        if shipping + tax > 0 {
            // A stale total (the lines only) is refused.
            let stale = place(&app, Some(&shopper), json!({ "cartId": cart, "idempotencyKey": format!("stale-{index}"), "paymentToken": "tok_visa",
                "shippingAddress": to, "shippingMethod": method, "expectedTotal": usd(unit) })).await;
            assert_eq!(user_error_codes(&stale), ["PRICE_CHANGED"], "{to}: {stale}");
        }
        let placed = place(&app, Some(&shopper), json!({ "cartId": cart, "idempotencyKey": format!("k-{index}"), "paymentToken": "tok_visa",
            "shippingAddress": to, "shippingMethod": method, "expectedTotal": usd(total) })).await;
        let order = &placed["order"];
        assert_eq!(
            (minor(&order["subtotal"]), minor(&order["shippingTotal"]), minor(&order["taxTotal"]), minor(&order["total"]), order["taxesIncluded"].as_bool()),
            (unit, shipping, tax, total, Some(false)),
            "{to} by {method}: {placed}"
        );
        let id = order["id"].as_str().unwrap();
        assert_eq!(settled_as(&app, Some(&shopper), None, id).await["status"], "CONFIRMED");
        let authorized: i64 = sqlx::query_scalar("SELECT amount_minor FROM sandbox_payments WHERE order_id = $1")
            .bind(id)
            .fetch_one(app.supergraph.db(Subgraph::Orders))
            .await
            .unwrap();
        assert_eq!(authorized, total, "the payment is for the whole total");
    }

    // The quote lists what ships there, cheapest first; a method that does not go there is refused.
    let quote = app.operation("CheckoutQuote", json!({ "cartId": probe, "country": "JP" }), Some(&shopper)).await;
    let codes: Vec<&str> = quote["data"]["checkoutQuote"]["shippingMethods"].as_array().unwrap().iter().map(|m| m["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["FREIGHT", "STANDARD"], "{quote}");
    let refused = place(&app, Some(&shopper), json!({ "cartId": probe, "idempotencyKey": "express-to-japan", "paymentToken": "tok_visa",
        "shippingAddress": address(None, "100-0001", "JP"), "shippingMethod": "EXPRESS" })).await;
    assert_eq!(user_error_codes(&refused), ["SHIPPING_METHOD_UNAVAILABLE"]);
    for (country, region) in [("ZZ", None), ("US", None), ("US", Some("XX"))] {
        let unknown = app.operation("CheckoutQuote", json!({ "cartId": probe, "country": country, "region": region }), Some(&shopper)).await;
        assert_eq!(error_code(&unknown), "BAD_USER_INPUT", "{country} {region:?}: {unknown}");
    }
    let nowhere = place(&app, Some(&shopper), json!({ "cartId": probe, "idempotencyKey": "no-address", "paymentToken": "tok_visa", "shippingMethod": "STANDARD" })).await;
    assert_eq!(user_error_codes(&nowhere), ["SHIPPING_ADDRESS_REQUIRED"]);

    // Euro prices include VAT: the total is lines and shipping, of which the tax is part.
    price_in_euros(&app, &sku, "119.00").await;
    let (cart, _) = cart_with(&app, &shopper, &sku, 1).await;
    let (tax, total) = expected(11_900, 0, 1900, true);
    let expected_total = json!({ "amount": kit::money::Decimal(total).to_string(), "currencyCode": "EUR" });
    let placed = place(&app, Some(&shopper), json!({ "cartId": cart, "idempotencyKey": "eur", "paymentToken": "tok_visa",
        "shippingAddress": address(None, "10115", "DE"), "expectedTotal": expected_total })).await;
    let order = &placed["order"];
    assert_eq!((minor(&order["taxTotal"]), minor(&order["total"]), order["taxesIncluded"].as_bool()), (tax, total, Some(true)), "{placed}");
    assert_eq!(order["total"]["currencyCode"], "EUR");
}

/// A customer's confirmed order of `units` of `sku`.
async fn confirmed_order(app: &TestApp, customer: &str, sku: &str, units: i64) -> String {
    let (cart, _) = cart_with(app, customer, sku, units).await;
    let placed = place(app, Some(customer), json!({ "cartId": cart, "idempotencyKey": "k", "paymentToken": "tok_visa" })).await;
    let id = placed["order"]["id"].as_str().unwrap_or_else(|| panic!("{placed}")).to_string();
    assert_eq!(settled_as(app, Some(customer), None, &id).await["status"], "CONFIRMED");
    id
}

fn ship(id: &str, key: &str, lines: Value) -> Value {
    json!({ "orderId": id, "lines": lines, "carrier": "UPS", "trackingNumber": format!("1Z{key}"), "idempotencyKey": key })
}

async fn payment_status(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM sandbox_payments WHERE order_id = $1").bind(id).fetch_one(app.supergraph.db(Subgraph::Orders)).await.unwrap()
}

async fn the_back_office_ships_in_parts_refunds_and_takes_lines_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(3).await;
    stock_exactly(&app, &sku, 10).await;
    let customer = customer_token("shipped-to");
    let id = confirmed_order(&app, &customer, &sku, 3).await;
    eventually("the sale is committed", || async { stock_of(&app, &sku).await["reserved"] == 0 }).await;
    assert_eq!(stock_of(&app, &sku).await["onHand"], 7);
    let line = |units: i64| json!([{ "sku": sku, "quantity": units }]);

    // Only the back office ships, and nothing is refunded before it does.
    let forbidden = app.operation("FulfillOrder", json!({ "input": ship(&id, "a", line(1)) }), Some(&customer)).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN", "{forbidden}");
    let early = back_office(&app, "RefundOrder", json!({ "orderId": id, "amount": usd(100), "reason": "goodwill", "idempotencyKey": "r0" })).await;
    assert_eq!(user_error_codes(&early), ["ORDER_NOT_REFUNDABLE"]);
    let not_ordered = json!([{ "sku": "NOT-ORDERED-1", "quantity": 1 }]);
    for (bad, code) in [(line(4), "QUANTITY_EXCEEDS_ORDER"), (json!([]), "INVALID_LINES"), (not_ordered, "QUANTITY_EXCEEDS_ORDER")] {
        assert_eq!(user_error_codes(&back_office(&app, "FulfillOrder", ship(&id, "bad", bad)).await), [code]);
    }
    assert_eq!(payment_status(&app, &id).await, "AUTHORIZED", "a refused shipment takes no money");

    // Two units ship: partly fulfilled, the payment captured; the same key ships once.
    let first = back_office(&app, "FulfillOrder", ship(&id, "a", line(2))).await;
    assert_eq!(first["order"]["status"], "PARTIALLY_FULFILLED", "{first}");
    assert_eq!(back_office(&app, "FulfillOrder", ship(&id, "a", line(2))).await["order"]["fulfilments"].as_array().unwrap().len(), 1);
    assert_eq!(user_error_codes(&back_office(&app, "FulfillOrder", ship(&id, "a", line(1))).await), ["IDEMPOTENCY_KEY_REUSED"]);
    assert_eq!(payment_status(&app, &id).await, "CAPTURED");
    assert_eq!(user_error_codes(&back_office(&app, "FulfillOrder", ship(&id, "b", line(2))).await), ["QUANTITY_EXCEEDS_ORDER"], "one unit is left");
    let cancel = app.operation("CancelOrder", json!({ "id": id }), Some(&customer)).await;
    assert_eq!(user_error_codes(&cancel["data"]["cancelOrder"]), ["ORDER_NOT_CANCELLABLE"]);

    // The last unit ships while the customer watches: FULFILLED is pushed.
    let last = back_office(&app, "FulfillOrder", ship(&id, "b", line(1)));
    let (pushed, last) = statuses_pushed(&app, Some(&customer), json!({ "id": id }), "FULFILLED", last).await;
    assert_eq!(last["order"]["status"], "FULFILLED", "{last}");
    assert_eq!(pushed, ["PARTIALLY_FULFILLED", "FULFILLED"]);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM outbox WHERE event_type = 'OrderFulfilled'").await, 2);

    // A refund pays money back and puts nothing back on sale.
    let total = minor(&order_as(&app, Some(&customer), None, &id).await["total"]);
    let refund = json!({ "orderId": id, "amount": usd(500), "reason": "late delivery", "idempotencyKey": "r1" });
    let refunded = back_office(&app, "RefundOrder", refund.clone()).await;
    assert_eq!(refunded["order"]["refunds"], json!([{ "amount": usd(500), "reason": "late delivery", "paid": true }]), "{refunded}");
    assert_eq!(back_office(&app, "RefundOrder", refund).await["order"]["refunds"].as_array().unwrap().len(), 1, "the same key refunds once");
    let too_much = back_office(&app, "RefundOrder", json!({ "orderId": id, "amount": usd(total - 499), "reason": "all", "idempotencyKey": "r2" })).await;
    assert_eq!(user_error_codes(&too_much), ["REFUND_EXCEEDS_PAYMENT"]);
    let euros = back_office(&app, "RefundOrder", json!({ "orderId": id, "amount": { "amount": "1.00", "currencyCode": "EUR" }, "reason": "x", "idempotencyKey": "r3" })).await;
    assert_eq!(user_error_codes(&euros), ["CURRENCY_MISMATCH"]);
    let nothing = back_office(&app, "RefundOrder", json!({ "orderId": id, "amount": usd(0), "reason": "x", "idempotencyKey": "r4" })).await;
    assert_eq!(user_error_codes(&nothing), ["INVALID_AMOUNT"]);
    let sandbox_refunded: i64 = count(&app, Subgraph::Orders, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_refunds").await;
    assert_eq!(sandbox_refunded, 500, "the provider paid back once");

    // Returned lines go back on sale; never more than shipped.
    let returned = back_office(&app, "ReturnOrderLines", json!({ "orderId": id, "lines": line(2), "idempotencyKey": "ret-1" })).await;
    assert_eq!(returned["order"]["returns"][0]["lines"][0]["quantity"], 2, "{returned}");
    eventually("returned units are back on sale", || async { stock_of(&app, &sku).await["onHand"] == 9 }).await;
    assert_eq!(stock_of(&app, &sku).await, json!({ "available": 9, "reserved": 0, "onHand": 9 }), "the refund restored nothing; the return two units");
    let again = back_office(&app, "ReturnOrderLines", json!({ "orderId": id, "lines": line(2), "idempotencyKey": "ret-2" })).await;
    assert_eq!(user_error_codes(&again), ["QUANTITY_EXCEEDS_ORDER"], "one unit is left to return");
}

async fn concurrent_back_office_requests_never_ship_or_refund_more_than_the_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(3).await;
    stock_exactly(&app, &sku, 10).await;
    let customer = customer_token("busy");
    let id = confirmed_order(&app, &customer, &sku, 3).await;

    let shipments = (0..20).map(|i| back_office(&app, "FulfillOrder", ship(&id, &format!("s{i}"), json!([{ "sku": sku, "quantity": 1 }]))));
    let answers = futures::future::join_all(shipments).await;
    let shipped = answers.iter().filter(|answer| answer["order"].is_object()).count();
    let refused = answers.iter().filter(|answer| user_error_codes(answer) == ["QUANTITY_EXCEEDS_ORDER"] || user_error_codes(answer) == ["ORDER_NOT_FULFILLABLE"]).count();
    assert_eq!((shipped, refused), (3, 17), "{answers:?}");
    assert_eq!(count(&app, Subgraph::Orders, "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM fulfilment_lines").await, 3);
    assert_eq!(order_as(&app, Some(&customer), None, &id).await["status"], "FULFILLED");

    let total = minor(&order_as(&app, Some(&customer), None, &id).await["total"]);
    let share = total * 2 / 5;
    let refunds = (0..10).map(|i| back_office(&app, "RefundOrder", json!({ "orderId": id, "amount": usd(share), "reason": "split", "idempotencyKey": format!("r{i}") })));
    let answers = futures::future::join_all(refunds).await;
    let paid = answers.iter().filter(|answer| answer["order"].is_object()).count();
    assert_eq!(paid, 2, "two refunds of 40% fit in the total: {answers:?}");
    assert_eq!(count(&app, Subgraph::Orders, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds").await, 2 * share);
    assert_eq!(count(&app, Subgraph::Orders, "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_refunds").await, 2 * share);
}

async fn a_cancellation_racing_the_first_shipment_settles_one_way(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    stock_exactly(&app, &sku, 20).await;
    for round in 0..5 {
        let customer = customer_token(&format!("undecided-{round}"));
        let id = confirmed_order(&app, &customer, &sku, 1).await;
        let cancel = app.operation("CancelOrder", json!({ "id": id }), Some(&customer));
        let fulfil = back_office(&app, "FulfillOrder", ship(&id, "race", json!([{ "sku": sku, "quantity": 1 }])));
        let (cancelled, fulfilled) = tokio::join!(cancel, fulfil);
        let status = order_as(&app, Some(&customer), None, &id).await["status"].as_str().unwrap().to_string();
        let payment = payment_status(&app, &id).await;
        match status.as_str() {
            "CANCELLED" => {
                assert_eq!(payment, "VOIDED", "{fulfilled}");
                assert_eq!(user_error_codes(&fulfilled), ["ORDER_NOT_FULFILLABLE"]);
            }
            "FULFILLED" => {
                assert_eq!(payment, "CAPTURED", "{cancelled}");
                assert_eq!(user_error_codes(&cancelled["data"]["cancelOrder"]), ["ORDER_NOT_CANCELLABLE"]);
            }
            other => panic!("the order ended {other}"),
        }
    }
    eventually("cancelled orders' stock is back", || async {
        let cancelled = count(&app, Subgraph::Orders, "SELECT COUNT(*) FROM orders WHERE status = 'CANCELLED'").await;
        stock_of(&app, &sku).await["onHand"].as_i64().unwrap() == 20 - 5 + cancelled
    })
    .await;
}
