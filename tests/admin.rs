//! The back office's operations through the router (admin.graphql), and reviews.

mod common;

use common::{Backend, customer_token, error_code, spawn_app, token_with_scopes, user_error_codes};
use serde_json::{Value, json};

on_both_backends!(
    set_variant_price_needs_catalog_write_and_validates,
    adjust_stock_applies_once_per_key_and_never_below_zero,
    concurrent_stock_removals_never_oversell,
    moderation_hides_a_rejected_review_from_reviews_and_rating,
    submit_review_enforces_its_rules,
);

async fn stock_of(app: &common::TestApp, sku: &str) -> Value {
    let body = app.graphql("query ($sku: ID!) { variant(sku: $sku) { stock { available reserved onHand } } }", json!({ "sku": sku }), None).await;
    body["data"]["variant"]["stock"].clone()
}

async fn price_of(app: &common::TestApp, sku: &str) -> Value {
    let body = app.graphql("query ($sku: ID!) { variant(sku: $sku) { price { amount currencyCode } } }", json!({ "sku": sku }), None).await;
    body["data"]["variant"]["price"].clone()
}

async fn set_variant_price_needs_catalog_write_and_validates(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    let before = price_of(&app, &sku).await;
    let price = |amount: &str| json!({ "sku": sku, "price": { "amount": amount, "currencyCode": "USD" } });

    let body = app.operation("SetVariantPrice", price("1.00"), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = app.operation("SetVariantPrice", price("1.00"), Some(&customer_token("customer-1"))).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.operation("SetVariantPrice", price("1.00"), Some(&token_with_scopes("partner", &["inventory:write"]))).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(price_of(&app, &sku).await, before, "nothing changed");

    let admin = token_with_scopes("staff-1", &["catalog:write"]);
    for bad in ["0", "-5.00", "99999999999.00"] {
        let body = app.operation("SetVariantPrice", price(bad), Some(&admin)).await;
        assert_eq!(user_error_codes(&body["data"]["setVariantPrice"]), ["INVALID_PRICE"], "{bad}: {body}");
    }
    let body = app.operation("SetVariantPrice", price("1.234"), Some(&admin)).await;
    assert!(body["errors"].is_array(), "three decimals is not a Decimal: {body}");
    let body = app
        .operation("SetVariantPrice", json!({ "sku": "NO-SUCH-SKU", "price": { "amount": "5", "currencyCode": "USD" } }), Some(&admin))
        .await;
    assert_eq!(user_error_codes(&body["data"]["setVariantPrice"]), ["UNKNOWN_SKU"]);
    assert_eq!(price_of(&app, &sku).await, before, "nothing changed");

    let body = app.operation("SetVariantPrice", price("19.5"), Some(&admin)).await;
    assert_eq!(body["data"]["setVariantPrice"]["variant"]["price"], json!({ "amount": "19.50", "currencyCode": "USD" }));
    assert_eq!(price_of(&app, &sku).await["amount"], "19.50");
}

async fn adjust_stock_applies_once_per_key_and_never_below_zero(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    let before = stock_of(&app, &sku).await;
    let on_hand = before["onHand"].as_i64().unwrap();
    let adjust = |delta: i64, key: &str| json!({ "sku": sku, "delta": delta, "reason": "cycle count", "idempotencyKey": key });

    let body = app.operation("AdjustStock", adjust(5, "k1"), Some(&customer_token("customer-1"))).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app.operation("AdjustStock", adjust(5, "k1"), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert_eq!(stock_of(&app, &sku).await, before);

    let staff = token_with_scopes("staff-1", &["inventory:write"]);
    for _ in 0..3 {
        let body = app.operation("AdjustStock", adjust(5, "k1"), Some(&staff)).await;
        assert_eq!(body["data"]["adjustStock"]["variant"]["stock"]["onHand"], on_hand + 5, "{body}");
    }
    let body = app.operation("AdjustStock", adjust(7, "k1"), Some(&staff)).await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["IDEMPOTENCY_KEY_REUSED"]);

    let body = app.operation("AdjustStock", adjust(-(on_hand + 6), "k2"), Some(&staff)).await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["INSUFFICIENT_STOCK"]);
    let body = app.operation("AdjustStock", adjust(0, "k3"), Some(&staff)).await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["INVALID_DELTA"]);
    let body = app.operation("AdjustStock", json!({ "sku": sku, "delta": 1, "reason": "", "idempotencyKey": "k4" }), Some(&staff)).await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["INVALID_REASON"]);
    let body = app.operation("AdjustStock", adjust(1, &"k".repeat(101)), Some(&staff)).await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["INVALID_IDEMPOTENCY_KEY"]);
    let body = app
        .operation("AdjustStock", json!({ "sku": "NO-SUCH-SKU", "delta": 1, "reason": "x", "idempotencyKey": "k5" }), Some(&staff))
        .await;
    assert_eq!(user_error_codes(&body["data"]["adjustStock"]), ["UNKNOWN_SKU"]);
    assert_eq!(stock_of(&app, &sku).await["onHand"], on_hand + 5, "only the first adjustment applied");

    let body = app.operation("AdjustStock", adjust(-(on_hand + 5), "k6"), Some(&staff)).await;
    assert_eq!(body["data"]["adjustStock"]["variant"]["stock"]["available"], 0, "down to exactly zero");
}

async fn concurrent_stock_removals_never_oversell(backend: Backend) {
    let app = spawn_app(backend).await;
    let sku = app.sku_with_stock(1).await;
    let staff = token_with_scopes("staff-1", &["inventory:write"]);
    let on_hand = stock_of(&app, &sku).await["onHand"].as_i64().unwrap();
    let body = app
        .operation("AdjustStock", json!({ "sku": sku, "delta": 10 - on_hand, "reason": "reset", "idempotencyKey": "reset" }), Some(&staff))
        .await;
    assert_eq!(body["data"]["adjustStock"]["variant"]["stock"]["available"], 10, "{body}");

    let removals = (0..30).map(|i| {
        app.operation(
            "AdjustStock",
            json!({ "sku": sku, "delta": -1, "reason": "shrinkage", "idempotencyKey": format!("remove-{i}") }),
            Some(&staff),
        )
    });
    let answers = futures::future::join_all(removals).await;
    let applied = answers.iter().filter(|b| user_error_codes(&b["data"]["adjustStock"]).is_empty()).count();
    let refused = answers
        .iter()
        .filter(|b| user_error_codes(&b["data"]["adjustStock"]) == ["INSUFFICIENT_STOCK"])
        .count();
    assert_eq!((applied, refused), (10, 20));
    assert_eq!(stock_of(&app, &sku).await["available"], 0);
}

async fn submit(app: &common::TestApp, token: Option<&str>, input: Value) -> Value {
    app.operation("SubmitReview", json!({ "input": input }), token).await
}

async fn moderation_hides_a_rejected_review_from_reviews_and_rating(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = app.first_products(1).await.remove(0);
    let before = product["rating"]["count"].as_i64().unwrap();
    let token = customer_token("customer-critic");
    let body = submit(&app, Some(&token), json!({ "productId": product["id"], "rating": 1, "body": "Terrible." })).await;
    let review = body["data"]["submitReview"]["review"]["id"].as_str().expect("a review").to_string();

    let page = app.operation("ProductPage", json!({ "slug": product["slug"] }), None).await;
    assert_eq!(page["data"]["product"]["rating"]["count"], before + 1);

    let body = app.operation("ModerateReview", json!({ "id": review, "decision": "REJECT" }), Some(&token)).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let moderator = token_with_scopes("moderator", &["reviews:moderate"]);
    let body = app.operation("ModerateReview", json!({ "id": "no-such-review", "decision": "REJECT" }), Some(&moderator)).await;
    assert_eq!(user_error_codes(&body["data"]["moderateReview"]), ["REVIEW_NOT_FOUND"]);
    let body = app.operation("ModerateReview", json!({ "id": review, "decision": "REJECT" }), Some(&moderator)).await;
    assert_eq!(body["data"]["moderateReview"]["review"], json!({ "id": review, "status": "REJECTED" }));

    let page = app.operation("ProductPage", json!({ "slug": product["slug"] }), None).await;
    let product_page = &page["data"]["product"];
    assert_eq!(product_page["rating"]["count"], before);
    assert_eq!(product_page["reviews"]["totalCount"], before);
    let ids: Vec<&str> = product_page["reviews"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&review.as_str()));
}

async fn submit_review_enforces_its_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let product = app.first_products(1).await.remove(0);
    let token = customer_token("customer-reviewer");
    let review = |rating: i64| json!({ "productId": product["id"], "rating": rating, "title": "Nice", "body": "Works well." });

    let body = submit(&app, None, review(5)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    for rating in [0, 6, -1] {
        let body = submit(&app, Some(&token), review(rating)).await;
        assert_eq!(user_error_codes(&body["data"]["submitReview"]), ["INVALID_RATING"]);
    }
    let body = submit(&app, Some(&token), json!({ "productId": product["id"], "rating": 4, "body": "x".repeat(5001) })).await;
    assert_eq!(user_error_codes(&body["data"]["submitReview"]), ["INVALID_BODY"]);
    let body = submit(&app, Some(&token), json!({ "productId": "no-such-product", "rating": 4, "body": "Nice." })).await;
    assert_eq!(user_error_codes(&body["data"]["submitReview"]), ["UNKNOWN_PRODUCT"]);

    let body = submit(&app, Some(&token), review(5)).await;
    assert_eq!(body["data"]["submitReview"]["review"]["rating"], 5, "{body}");
    assert_eq!(body["data"]["submitReview"]["review"]["verifiedPurchase"], false, "no confirmed order yet");
    let body = submit(&app, Some(&token), review(4)).await;
    assert_eq!(user_error_codes(&body["data"]["submitReview"]), ["DUPLICATE_REVIEW"]);
}
