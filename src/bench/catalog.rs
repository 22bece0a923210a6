//! `supergraph bench catalog`: search and filtered listings over a large
//! catalog. Seeds `--products` (100,000 in the README's figures), then sends
//! ProductListing one request at a time, as a shopper does: searches for
//! words the catalog holds in several forms, and a filtered, sorted listing
//! with its facets. Prints p50 and p99 of each.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Backend, percentile, with_supergraph};
use crate::supergraph::{Supergraph, config_dir};

pub struct CatalogBenchOptions {
    pub backend: Backend,
    pub products: usize,
    pub requests: usize,
}

/// What shoppers type: plurals, possessives, two words, one rare word.
const SEARCHES: &[&str] = &["knives", "chef's knife", "trail runners", "linen sheets", "walnut", "coffee beans", "wireless headphones", "yoga mat"];

pub async fn run(options: CatalogBenchOptions) -> anyhow::Result<()> {
    if options.products == 0 || options.requests == 0 {
        bail!("--products and --requests must be at least 1");
    }
    eprintln!("seeding {} products on {:?}...", options.products, options.backend);
    let started = Instant::now();
    with_supergraph(options.backend, options.products, false, |running| {
        eprintln!("seeded and started in {:.0} s", started.elapsed().as_secs_f64());
        measure(&options, running)
    })
    .await
}

async fn measure(options: &CatalogBenchOptions, running: Supergraph) -> anyhow::Result<()> {
    let catalog = std::fs::read_to_string(config_dir().join("storefront/catalog.graphql")).context("reading the storefront's catalog operations")?;
    let listing = |variables: Value| json!({ "query": catalog, "operationName": "ProductListing", "variables": variables });
    let searches: Vec<Value> = SEARCHES.iter().map(|search| listing(json!({ "first": 24, "search": search }))).collect();
    let filtered = vec![
        listing(json!({ "first": 24, "category": "home", "inStock": true, "price": { "min": "20", "max": "150" }, "sortKey": "PRICE" })),
        listing(json!({ "first": 24, "category": "apparel", "options": [{ "name": "Color", "value": "Tan" }], "sortKey": "NEWEST" })),
        listing(json!({ "last": 24, "category": "kitchen", "inStock": true, "sortKey": "NAME" })),
    ];
    let http = reqwest::Client::new();
    let url = running.graphql_url();
    for (label, requests) in [("search", searches), ("filtered listing", filtered)] {
        let mut times = Vec::new();
        for index in 0..options.requests {
            let started = Instant::now();
            let body: Value = http.post(&url).json(&requests[index % requests.len()]).send().await?.json().await?;
            times.push(started.elapsed());
            if !body["errors"].is_null() || body["data"]["products"]["totalCount"].as_i64().is_none() {
                bail!("{label} failed: {body}");
            }
        }
        times.sort();
        println!(
            "{:?}, {} products, {label} (24 a page, with facets): p50 {:.1} ms, p99 {:.1} ms over {} requests",
            options.backend,
            options.products,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            times.len()
        );
    }
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
