//! The playground and the router's other pages: everything a browser loads
//! comes from the router; the storefront operations are preloaded with
//! working variables; in headless Chromium with no route but loopback,
//! ProductListing runs from its tab and shows products.

mod common;

use std::path::PathBuf;
use std::process::Command;

use commerce_supergraph::schema_check::operations;
use commerce_supergraph::supergraph;
use serde_json::{Value, json};

/// What dev puts in the headers editor: a customer's token.
fn token_headers() -> String {
    serde_json::to_string_pretty(&json!({ "Authorization": format!("Bearer {}", common::customer_token("playground-visitor")) })).unwrap()
}

/// The configuration the playground page carries.
fn page_config(page: &str) -> Value {
    let start = page.find(r#"<script id="playground-config" type="application/json">"#).expect("the page carries its configuration");
    let json = &page[start..];
    let json = &json[json.find('>').unwrap() + 1..json.find("</script>").unwrap()];
    serde_json::from_str(json).expect("the configuration is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_opening_the_endpoint_gets_the_playground_and_only_our_assets() {
    let headers = token_headers();
    let app = common::spawn_app_with_playground_headers(&headers).await;
    let http = reqwest::Client::new();
    let url = app.supergraph.graphql_url();
    let page = http.get(&url).header("accept", "text/html,application/xhtml+xml").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let page = page.text().await.unwrap();

    let config = page_config(&page);
    assert_eq!(config["endpoint"], "/graphql");
    assert_eq!(config["headers"], headers);
    let tabs = config["tabs"].as_array().unwrap();
    let operations = operations::load(&[supergraph::config_dir().join("storefront")]).unwrap().len();
    assert_eq!(tabs.len(), operations, "a tab for each storefront operation");
    let listing = tabs.iter().find(|tab| tab["query"].as_str().unwrap().contains("query ProductListing(")).expect("a ProductListing tab");
    assert!(listing["query"].as_str().unwrap().starts_with("# "), "it opens with the operation's comment");

    // Every script and stylesheet the page names is the router's own, and is served.
    let mut assets = 0;
    for reference in page.split(['"', '\'']).filter(|part| part.starts_with("/playground/")) {
        let asset = http.get(format!("{}{reference}", app.supergraph.router_url)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{reference}");
        assets += 1;
    }
    assert!(assets >= 2, "the page loads its script and styles from /playground/: {page}");
    assert!(!page.contains("https://") && !page.contains("http://"), "no absolute URL in the page");

    let missing = http.get(format!("{}/playground/nothing-here.js", app.supergraph.router_url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    // A query sent with GET is a query, not a page.
    let query = http.get(&url).query(&[("query", "{ __typename }")]).header("accept", "application/json").header("apollo-require-preflight", "true");
    let query = query.send().await.unwrap();
    assert_eq!(query.json::<Value>().await.unwrap(), json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_points_to_the_playground_and_unknown_paths_are_404() {
    let app = common::spawn_app_with_playground_headers("{}").await;
    let http = reqwest::Client::new();
    let root = http.get(format!("{}/", app.supergraph.router_url)).send().await.unwrap();
    assert_eq!(root.status(), 200);
    let root = root.text().await.unwrap();
    assert!(root.contains(r#"href="/graphql""#), "{root}");
    assert!(!root.contains("<script") && !root.contains("https://"), "no external or scripted asset: {root}");
    let unknown = http.get(format!("{}/wp-admin", app.supergraph.router_url)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_chromium_with_no_network_product_listing_runs_from_its_tab() {
    let app = common::spawn_app_with_playground_headers(&token_headers()).await;
    let url = app.supergraph.graphql_url();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(dir.join("node_modules").exists(), "the Node clients are not installed: run `npm ci --prefix tests/js`");
    let output = tokio::task::spawn_blocking(move || Command::new("node").args(["playground.mjs", &url]).current_dir(dir).output().expect("node runs"))
        .await
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{printed}");
    assert!(printed.lines().any(|line| line == "requests outside the machine: 0"), "{printed}");
    assert!(printed.lines().any(|line| line.starts_with("ProductListing answered ") && line.contains("products")), "{printed}");
}
