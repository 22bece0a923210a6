//! One subgraph down never blanks a page: the listing, the product page and
//! the cart keep the catalog's data, with an error that names the subgraph.

mod common;

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, customer_token, spawn_app};
use serde_json::{Value, json};

on_both_backends!(
    with_reviews_down_listing_and_product_page_keep_the_catalog,
    with_inventory_down_listing_product_page_and_cart_keep_the_catalog,
);

/// The subgraphs the errors of `body` name.
fn failing_subgraphs(body: &Value) -> Vec<String> {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("errors in {body}"));
    let mut names: Vec<String> = errors.iter().filter_map(|e| e["extensions"]["service"].as_str().map(str::to_string)).collect();
    names.dedup();
    names
}

async fn with_reviews_down_listing_and_product_page_keep_the_catalog(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let slug = app.first_products(1).await[0]["slug"].clone();
    app.supergraph.stop_subgraph(Subgraph::Reviews).await.expect("reviews stops");

    let listing = app.operation("ProductListing", json!({ "first": 10 }), None).await;
    let edges = listing["data"]["products"]["edges"].as_array().unwrap_or_else(|| panic!("the listing stays: {listing}"));
    assert_eq!(edges.len(), 10);
    for edge in edges {
        let product = &edge["node"];
        assert!(product["name"].is_string() && product["priceRange"]["min"]["amount"].is_string(), "{product}");
        assert!(product["inStock"].is_boolean(), "inventory still answers: {product}");
        assert!(product["rating"].is_null(), "{product}");
    }
    assert_eq!(failing_subgraphs(&listing), ["reviews"], "{listing}");

    let page = app.operation("ProductPage", json!({ "slug": slug }), None).await;
    let product = &page["data"]["product"];
    assert_eq!(product["slug"], slug, "the product stays: {page}");
    assert!(product["variants"][0]["price"]["amount"].is_string() && product["variants"][0]["stock"]["available"].is_number());
    assert!(product["reviews"].is_null() && product["rating"].is_null(), "{product}");
    assert_eq!(failing_subgraphs(&page), ["reviews"], "{page}");
}

async fn with_inventory_down_listing_product_page_and_cart_keep_the_catalog(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let slug = app.first_products(1).await[0]["slug"].clone();
    let sku = app.sku_with_stock(1).await;
    let token = customer_token("shopper");
    let cart = app.operation("CreateCart", json!({}), Some(&token)).await["data"]["createCart"]["cart"]["id"].clone();
    app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 2 }), Some(&token)).await;
    app.supergraph.stop_subgraph(Subgraph::Inventory).await.expect("inventory stops");

    let listing = app.operation("ProductListing", json!({ "first": 10 }), None).await;
    let edges = listing["data"]["products"]["edges"].as_array().unwrap_or_else(|| panic!("the listing stays: {listing}"));
    assert!(edges.iter().all(|e| e["node"]["inStock"].is_null() && e["node"]["name"].is_string() && e["node"]["rating"].is_object()), "{listing}");
    assert_eq!(failing_subgraphs(&listing), ["inventory"], "{listing}");

    let page = app.operation("ProductPage", json!({ "slug": slug }), None).await;
    let product = &page["data"]["product"];
    assert_eq!(product["slug"], slug, "{page}");
    assert!(product["variants"][0]["stock"].is_null() && product["variants"][0]["inStock"].is_null(), "{product}");
    assert!(product["rating"].is_object() && product["reviews"]["totalCount"].is_number(), "reviews still answers: {product}");

    let shown = app.operation("Cart", json!({ "id": cart }), Some(&token)).await;
    let cart = &shown["data"]["cart"];
    assert_eq!(cart["itemCount"], 2, "the cart stays: {shown}");
    assert!(cart["subtotal"]["amount"].is_string(), "{cart}");
    let line = &cart["lines"][0];
    assert_eq!(line["variant"]["sku"], sku.as_str());
    assert!(line["variant"]["inStock"].is_null() && line["lineTotal"]["amount"].is_string(), "{line}");
    assert_eq!(failing_subgraphs(&shown), ["inventory"], "{shown}");
}
