//! The storefront's catalog operations through the router (catalog.graphql).

mod common;

use std::collections::HashSet;

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, TEST_CATALOG, error_code, spawn_app};
use serde_json::json;

on_both_backends!(
    product_listing_pages_through_the_whole_catalog,
    product_listing_filters_by_category_and_search,
    product_listing_refuses_bad_paging_input,
    product_page_shows_variants_stock_rating_and_reviews,
    product_page_is_null_for_an_unknown_slug,
    categories_count_their_products,
    product_listing_costs_a_few_statements_whatever_the_page_size,
);

async fn product_listing_pages_through_the_whole_catalog(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut seen = HashSet::new();
    let mut after = None;
    loop {
        let body = app.operation("ProductListing", json!({ "first": 50, "after": after }), None).await;
        let products = &body["data"]["products"];
        assert_eq!(products["totalCount"], TEST_CATALOG, "{body}");
        for edge in products["edges"].as_array().unwrap() {
            let node = &edge["node"];
            assert!(seen.insert(node["slug"].as_str().unwrap().to_string()), "no product twice");
            assert!(node["priceRange"]["min"]["amount"].as_str().unwrap().contains('.'));
            assert!(node["inStock"].is_boolean());
            assert!(node["rating"]["count"].is_number());
        }
        if !products["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = products["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), TEST_CATALOG);
}

async fn product_listing_filters_by_category_and_search(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("ProductListing", json!({ "first": 100, "category": "kitchen" }), None).await;
    let edges = body["data"]["products"]["edges"].as_array().unwrap().clone();
    assert!(!edges.is_empty());
    let page = app
        .graphql(
            "query ($slug: String!) { product(slug: $slug) { category { slug } } }",
            json!({ "slug": edges[0]["node"]["slug"] }),
            None,
        )
        .await;
    assert_eq!(page["data"]["product"]["category"]["slug"], "kitchen");

    let body = app.operation("ProductListing", json!({ "first": 100, "search": "SKILLET" }), None).await;
    let names: Vec<&str> =
        body["data"]["products"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap()).collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.to_lowercase().contains("skillet")), "{names:?}");

    let body = app.operation("ProductListing", json!({ "first": 10, "search": "100%_match" }), None).await;
    assert_eq!(body["data"]["products"]["totalCount"], 0, "LIKE wildcards in a search are literal");
}

async fn product_listing_refuses_bad_paging_input(backend: Backend) {
    let app = spawn_app(backend).await;
    for variables in [
        json!({ "first": 101 }),
        json!({ "first": -1 }),
        json!({ "first": 10, "after": "not-a-cursor" }),
        json!({ "first": 10, "search": "x".repeat(101) }),
    ] {
        let body = app.operation("ProductListing", variables.clone(), None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables} -> {body}");
        assert!(body["data"].is_null() || body["data"]["products"].is_null());
    }
    let body = app
        .graphql("{ reviews: product(slug: \"x\") { reviews(first: 1, after: \"bad\") { totalCount } } }", json!({}), None)
        .await;
    assert!(body["errors"].is_null(), "an unknown product has no reviews to page: {body}");
}

async fn product_page_shows_variants_stock_rating_and_reviews(backend: Backend) {
    let app = spawn_app(backend).await;
    let listing = app.operation("ProductListing", json!({ "first": 100 }), None).await;
    let reviewed = listing["data"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["rating"]["count"].as_i64().unwrap() > 0)
        .expect("the demo catalog has reviewed products")["node"]
        .clone();
    let body = app.operation("ProductPage", json!({ "slug": reviewed["slug"] }), None).await;
    let product = &body["data"]["product"];
    assert_eq!(product["id"], reviewed["id"], "{body}");
    assert!(product["description"].as_str().unwrap().len() > 20);
    assert!(product["category"]["name"].is_string());
    let variants = product["variants"].as_array().unwrap();
    assert!((1..=4).contains(&variants.len()));
    for variant in variants {
        let available = variant["stock"]["available"].as_i64().unwrap();
        assert_eq!(variant["inStock"].as_bool().unwrap(), available > 0);
    }
    assert_eq!(product["rating"], reviewed["rating"]);
    let reviews = &product["reviews"];
    assert_eq!(reviews["totalCount"], product["rating"]["count"]);
    let edges = reviews["edges"].as_array().unwrap();
    assert_eq!(edges.len() as i64, reviews["totalCount"].as_i64().unwrap().min(5));
    let first = &edges[0]["node"];
    assert!((1..=5).contains(&first["rating"].as_i64().unwrap()));
    assert!(first["authorName"].is_string() && first["createdAt"].is_string());
    assert_eq!(first["verifiedPurchase"], false);
}

async fn product_page_is_null_for_an_unknown_slug(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("ProductPage", json!({ "slug": "no-such-product" }), None).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["product"].is_null());
}

async fn categories_count_their_products(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("Categories", json!({}), None).await;
    let categories = body["data"]["categories"].as_array().unwrap();
    assert!(categories.len() >= 8);
    // The departments at the top hold every product once; their sub-categories count again beneath them.
    let total: i64 = categories.iter().filter(|c| c["parent"].is_null()).map(|c| c["productCount"].as_i64().unwrap()).sum();
    assert_eq!(total, TEST_CATALOG as i64);
}

async fn product_listing_costs_a_few_statements_whatever_the_page_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let subgraphs = [Subgraph::Products, Subgraph::Inventory, Subgraph::Reviews];
    let mut costs = Vec::new();
    for first in [1, 10, 100] {
        let before: Vec<u64> = subgraphs.iter().map(|s| app.statements(*s)).collect();
        let body = app.operation("ProductListing", json!({ "first": first }), None).await;
        assert_eq!(body["data"]["products"]["edges"].as_array().unwrap().len(), first, "{body}");
        let after: Vec<u64> = subgraphs.iter().map(|s| app.statements(*s)).collect();
        costs.push(before.iter().zip(&after).map(|(b, a)| a - b).collect::<Vec<u64>>());
    }
    // Batch loaders run once the walk over a response level has gathered all
    // its keys (kit::db::Batches), so a page costs the same statements per
    // subgraph however many products it holds, on a busy machine too:
    // products counts the total, reads the page and the four facets and
    // batches each loader; the category tree is read at most once a second.
    for (first, cost) in [1, 10, 100].iter().zip(&costs) {
        let bounds = [8..=9, 1..=1, 1..=1];
        assert!(cost.iter().zip(&bounds).all(|(n, bound)| bound.contains(n)), "statements per subgraph (products, inventory, reviews) for first {first}: {costs:?}");
    }
}
