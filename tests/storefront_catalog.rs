//! What a storefront renders from the catalog (catalog.graphql): search,
//! sorting, paging both ways, filters and facets, images and options, and
//! the availability read model that follows inventory's events.

mod common;

use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, TestApp, error_code, spawn_app, token_with_scopes};
use serde_json::{Value, json};

on_both_backends!(
    search_finds_chefs_knives_in_any_form_best_match_first,
    every_sort_pages_both_ways_over_the_same_products,
    a_cursor_belongs_to_its_sort,
    filters_narrow_and_facets_count_what_they_would_narrow_to,
    a_category_holds_its_sub_categories_products,
    the_product_page_has_images_options_and_the_chosen_variant,
    availability_follows_inventorys_stock_events,
    a_listing_with_every_option_on_costs_a_few_statements_whatever_the_page_size,
);

fn names(body: &Value) -> Vec<String> {
    body["data"]["products"]["edges"].as_array().unwrap_or_else(|| panic!("a listing: {body}")).iter().map(|e| e["node"]["name"].as_str().unwrap().to_string()).collect()
}

fn slugs(body: &Value) -> Vec<String> {
    body["data"]["products"]["edges"].as_array().unwrap_or_else(|| panic!("a listing: {body}")).iter().map(|e| e["node"]["slug"].as_str().unwrap().to_string()).collect()
}

async fn search_finds_chefs_knives_in_any_form_best_match_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let all = app.operation("ProductListing", json!({ "first": 100, "category": "kitchen" }), None).await;
    let knives: Vec<String> = names(&all).into_iter().filter(|name| name.contains("Chef's Knife")).collect();
    assert!(!knives.is_empty(), "the test catalog has chef's knives: {all}");
    for search in ["knives", "chef knife", "Chef's Knife", "CHEF\u{2019}S KNIVES"] {
        let body = app.operation("ProductListing", json!({ "first": 100, "search": search }), None).await;
        let found = names(&body);
        // Every chef's knife, best first: a knife in the name outranks one only in a description.
        assert!(found.len() >= knives.len(), "{search}: {found:?}");
        assert!(found[..knives.len()].iter().all(|name| name.contains("Chef's Knife")), "{search}: {found:?}");
    }
    // A search the project never wrote down, over two words of a name.
    let body = app.operation("ProductListing", json!({ "first": 5, "search": "cutting boards" }), None).await;
    assert!(names(&body).first().is_some_and(|name| name.contains("Cutting Board")), "{body}");
    let body = app.operation("ProductListing", json!({ "first": 5, "search": "zeppelin" }), None).await;
    assert_eq!(body["data"]["products"]["totalCount"], 0, "{body}");
    let body = app.operation("ProductListing", json!({ "first": 5, "search": "the of" }), None).await;
    assert_eq!(body["data"]["products"]["totalCount"], 0, "only stop words match nothing: {body}");
    let body = app.operation("ProductListing", json!({ "first": 5, "sortKey": "RELEVANCE" }), None).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "relevance needs a search: {body}");
}

/// Every product of `variables`' listing, walking forward with `first`, then
/// backward with `last`: (forward order, backward order turned round).
async fn walk_both_ways(app: &TestApp, variables: Value) -> (Vec<String>, Vec<String>) {
    let mut forward = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut asked = variables.clone();
        asked["first"] = json!(7);
        asked["after"] = json!(after);
        let body = app.operation("ProductListing", asked, None).await;
        forward.extend(slugs(&body));
        let info = &body["data"]["products"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], after.is_some(), "{body}");
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_string);
    }
    let mut backward = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut asked = variables.clone();
        asked["last"] = json!(7);
        asked["before"] = json!(before);
        let body = app.operation("ProductListing", asked, None).await;
        let mut page = slugs(&body);
        page.reverse();
        backward.extend(page);
        let info = &body["data"]["products"]["pageInfo"];
        assert_eq!(info["hasNextPage"], before.is_some(), "{body}");
        if !info["hasPreviousPage"].as_bool().unwrap() {
            break;
        }
        before = info["startCursor"].as_str().map(str::to_string);
    }
    backward.reverse();
    (forward, backward)
}

async fn every_sort_pages_both_ways_over_the_same_products(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        json!({ "category": "home", "sortKey": "NAME" }),
        json!({ "category": "home", "sortKey": "PRICE" }),
        json!({ "category": "home", "sortKey": "PRICE", "direction": "DESC" }),
        json!({ "category": "home", "sortKey": "NEWEST" }),
        json!({ "search": "classic", "sortKey": "RELEVANCE" }),
    ];
    for variables in cases {
        let total = app.operation("ProductListing", json!({ "first": 0, "category": variables["category"], "search": variables["search"] }), None).await;
        let total = total["data"]["products"]["totalCount"].as_u64().unwrap() as usize;
        assert!(total > 14, "more than two pages: {variables}");
        let (forward, backward) = walk_both_ways(&app, variables.clone()).await;
        assert_eq!(forward.len(), total, "{variables}");
        assert_eq!(forward, backward, "{variables}");
        let mut distinct = forward.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), total, "no product twice: {variables}");
    }
    // The orders themselves: prices never fall going forward, names never go back.
    let body = app.operation("ProductListing", json!({ "first": 100, "category": "home", "sortKey": "PRICE" }), None).await;
    let prices: Vec<f64> = body["data"]["products"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["priceRange"]["min"]["amount"].as_str().unwrap().parse().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let by_name = names(&app.operation("ProductListing", json!({ "first": 100, "category": "home" }), None).await);
    assert!(by_name.windows(2).all(|w| w[0] <= w[1]), "{by_name:?}");
}

async fn a_cursor_belongs_to_its_sort(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("ProductListing", json!({ "first": 2, "sortKey": "PRICE" }), None).await;
    let cursor = body["data"]["products"]["pageInfo"]["endCursor"].clone();
    let other = app.operation("ProductListing", json!({ "first": 2, "after": cursor, "sortKey": "NAME" }), None).await;
    assert_eq!(error_code(&other), "BAD_USER_INPUT", "{other}");
    let reversed = app.operation("ProductListing", json!({ "first": 2, "after": cursor, "sortKey": "PRICE", "direction": "DESC" }), None).await;
    assert_eq!(error_code(&reversed), "BAD_USER_INPUT", "{reversed}");
    // The router's cost analysis refuses both ends at once before the catalog sees it.
    let both = app.operation("ProductListing", json!({ "first": 2, "last": 2 }), None).await;
    assert_eq!(error_code(&both), "COST_INVALID_SLICING_ARGUMENTS", "{both}");
    let too_many = app.operation("ProductListing", json!({ "last": 101 }), None).await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT", "{too_many}");
    let same = app.operation("ProductListing", json!({ "first": 2, "after": cursor, "sortKey": "PRICE" }), None).await;
    assert_eq!(slugs(&same).len(), 2, "{same}");
}

async fn filters_narrow_and_facets_count_what_they_would_narrow_to(backend: Backend) {
    let app = spawn_app(backend).await;
    let listing = |variables: Value| app.operation("ProductListing", variables, None);
    let total = |body: &Value| body["data"]["products"]["totalCount"].as_i64().unwrap_or_else(|| panic!("{body}"));
    let base = json!({ "first": 0, "category": "apparel" });
    let body = listing(base.clone()).await;
    let facets = body["data"]["products"]["facets"].clone();
    // An option value's count is what filtering by it finds.
    let color = facets["options"].as_array().unwrap().iter().find(|o| o["name"] == "Color").expect("apparel has colours").clone();
    let tan = color["values"].as_array().unwrap().iter().find(|v| v["value"] == "Tan").expect("some tan").clone();
    let filtered = listing(json!({ "first": 0, "category": "apparel", "options": [{ "name": "Color", "value": "Tan" }] })).await;
    assert_eq!(total(&filtered), tan["count"].as_i64().unwrap(), "{filtered}");
    // So is the in-stock count, and the sold-out rest makes up the whole.
    let in_stock = listing(json!({ "first": 0, "category": "apparel", "inStock": true })).await;
    let sold_out = listing(json!({ "first": 0, "category": "apparel", "inStock": false })).await;
    assert_eq!(total(&in_stock), facets["inStock"].as_i64().unwrap());
    assert_eq!(total(&in_stock) + total(&sold_out), total(&body));
    // Price buckets cover every match; a price range keeps products with a variant inside it.
    let bucketed: i64 = facets["prices"].as_array().unwrap().iter().map(|b| b["count"].as_i64().unwrap()).sum();
    assert_eq!(bucketed, total(&body));
    let priced = listing(json!({ "first": 100, "category": "apparel", "price": { "min": "100", "max": "120" } })).await;
    assert!(total(&priced) > 0 && total(&priced) < total(&body), "{priced}");
    let bad = listing(json!({ "first": 1, "price": { "min": "50", "max": "10" } })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    // Two options narrow to variants that have both.
    let both = listing(json!({ "first": 100, "category": "apparel", "options": [{ "name": "Color", "value": "Tan" }, { "name": "Size", "value": "EU 39" }] })).await;
    assert!(total(&both) > 0 && total(&both) <= total(&filtered), "{both}");
    for slug in slugs(&both) {
        let page = app.operation("ProductPage", json!({ "slug": slug, "selectedOptions": [{ "name": "Size", "value": "EU 39" }, { "name": "Color", "value": "Tan" }] }), None).await;
        assert!(page["data"]["product"]["variantBySelectedOptions"]["sku"].is_string(), "{page}");
    }
}

async fn a_category_holds_its_sub_categories_products(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.operation("Categories", json!({}), None).await;
    let categories = body["data"]["categories"].as_array().unwrap();
    let count = |slug: &str| categories.iter().find(|c| c["slug"] == slug).unwrap_or_else(|| panic!("{slug}: {body}"))["productCount"].as_i64().unwrap();
    let children: Vec<&str> = categories.iter().filter(|c| c["parent"]["slug"] == "home").map(|c| c["slug"].as_str().unwrap()).collect();
    assert!(children.contains(&"kitchen"), "{body}");
    assert_eq!(count("home"), children.iter().map(|slug| count(slug)).sum::<i64>());
    let listing = app.operation("ProductListing", json!({ "first": 0, "category": "home" }), None).await;
    assert_eq!(listing["data"]["products"]["totalCount"].as_i64().unwrap(), count("home"));
    let facets = &listing["data"]["products"]["facets"]["categories"];
    let kitchen = facets.as_array().unwrap().iter().find(|f| f["category"]["slug"] == "kitchen").unwrap();
    assert_eq!(kitchen["count"].as_i64().unwrap(), count("kitchen"));
}

async fn the_product_page_has_images_options_and_the_chosen_variant(backend: Backend) {
    let app = spawn_app(backend).await;
    let listing = app.operation("ProductListing", json!({ "first": 1, "category": "footwear" }), None).await;
    let slug = slugs(&listing)[0].clone();
    let featured = listing["data"]["products"]["edges"][0]["node"]["featuredImage"].clone();
    let body = app.operation("ProductPage", json!({ "slug": slug }), None).await;
    let product = &body["data"]["product"];
    assert_eq!(product["images"][0], featured, "the featured image is the first");
    assert_eq!(product["category"]["breadcrumbs"], json!([{ "slug": "apparel", "name": "Apparel" }, { "slug": "footwear", "name": "Footwear" }]));
    let options = product["options"].as_array().unwrap();
    assert_eq!(options.iter().map(|o| o["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Size", "Color"], "{body}");
    assert!(product["variantBySelectedOptions"].is_null(), "no options chosen, no variant");
    // Each variant is found by its own options, and shows an image.
    for variant in product["variants"].as_array().unwrap() {
        let chosen = &variant["selectedOptions"];
        let page = app.operation("ProductPage", json!({ "slug": slug, "selectedOptions": chosen }), None).await;
        assert_eq!(page["data"]["product"]["variantBySelectedOptions"]["sku"], variant["sku"], "{page}");
        assert!(variant["image"]["url"].is_string(), "{variant}");
    }
    // The images are served, with no network beyond the machine.
    let image = reqwest::get(featured["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    assert!(image.text().await.unwrap().starts_with("<svg"));
    let missing = reqwest::get(format!("{}/media/products/x/../../etc/passwd", app.subgraph_url(Subgraph::Products).trim_end_matches("/graphql"))).await.unwrap();
    assert_eq!(missing.status(), 404);
}

/// The slugs of the products listed as sold out.
async fn sold_out(app: &TestApp) -> Vec<String> {
    slugs(&app.operation("ProductListing", json!({ "first": 100, "inStock": false }), None).await)
}

async fn availability_follows_inventorys_stock_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let staff = token_with_scopes("staff-1", &["inventory:write"]);
    let before = sold_out(&app).await;
    // A product in stock with one variant: selling out its one sku sells it out.
    let listing = app.operation("ProductListing", json!({ "first": 100, "inStock": true }), None).await;
    let mut target = None;
    for slug in slugs(&listing) {
        let page = app.operation("ProductPage", json!({ "slug": slug }), None).await;
        let variants = page["data"]["product"]["variants"].as_array().unwrap().clone();
        if variants.len() == 1 {
            target = Some((slug, variants[0]["sku"].as_str().unwrap().to_string(), variants[0]["stock"]["available"].as_i64().unwrap()));
            break;
        }
    }
    let (slug, sku, available) = target.expect("a product with one variant in stock");
    assert!(!before.contains(&slug));
    let adjust = json!({ "sku": sku, "delta": -available, "reason": "damaged", "idempotencyKey": format!("sell-out-{sku}") });
    let body = app.operation("AdjustStock", adjust, Some(&staff)).await;
    assert!(body["data"]["adjustStock"]["userErrors"].as_array().unwrap().is_empty(), "{body}");
    // The catalog learns of it from StockLevelChanged, not by asking inventory.
    let mut listed = false;
    for _ in 0..100 {
        if sold_out(&app).await.contains(&slug) {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "{slug} is listed as sold out once inventory's event arrives");
}

async fn a_listing_with_every_option_on_costs_a_few_statements_whatever_the_page_size(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut costs = Vec::new();
    for first in [1, 5, 15] {
        let before = app.statements(Subgraph::Products);
        // Every apparel variant's first colour is Black or Navy: the filters hold most of apparel's 24 products.
        let variables = json!({
            "first": first, "search": "classic", "sortKey": "PRICE", "direction": "DESC", "category": "apparel",
            "price": { "min": "1" }, "options": [{ "name": "Color", "value": "Black" }, { "name": "Color", "value": "Navy" }], "inStock": true,
        });
        let body = app.operation("ProductListing", variables, None).await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(slugs(&body).len(), first, "{body}");
        costs.push(app.statements(Subgraph::Products) - before);
    }
    // Total, page, tree, four facets and the loaders of one response level:
    // the same few statements for a page of one as for a page of fifteen.
    assert!(costs.iter().all(|&cost| (7..=14).contains(&cost)), "products statements for pages of 1, 5, 15: {costs:?}");
}
