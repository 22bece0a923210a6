//! `supergraph bench router`: the storefront's reads (ProductListing of 24,
//! ProductPage, Cart, from the storefront contract) from `--concurrency`
//! clients for `--seconds` each, through every GraphQL endpoint measured one
//! after another, then the owning subgraph's part of each made directly, so
//! what federation costs reads as a ratio. Prints requests per second, p50
//! and p99 per endpoint and operation.
//!
//! Without `--target` it starts a supergraph of its own and measures its
//! router (`--record-usage` turns on the usage plugin there). With
//! `--target URL` (repeatable) it measures those endpoints, which serve the
//! subgraphs of a running `supergraph dev` (ports 4001-4005): our router on
//! 4000, and other gateways composed over the same subgraphs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Backend, Client, peak_rss, percentile, with_supergraph};
use crate::subgraphs::Subgraph;
use crate::supergraph::config_dir;

pub struct RouterBenchOptions {
    pub concurrency: usize,
    pub seconds: u64,
    pub record_usage: bool,
    pub targets: Vec<String>,
}

/// The products subgraph's part of ProductListing and ProductPage, and the
/// cart subgraph's part of Cart (what needs no other subgraph), as a gateway
/// fetches them first.
const PRODUCTS_PART_OF_LISTING: &str = "query ($first: Int) { products(first: $first) { totalCount \
    pageInfo { hasNextPage endCursor hasPreviousPage startCursor } \
    edges { cursor node { id slug name featuredImage { url altText width height } \
    priceRange { min { amount currencyCode } max { amount currencyCode } } } } \
    facets { categories { category { slug name } count } options { name values { value count } } \
    prices { min { amount currencyCode } max { amount currencyCode } count } inStock } } }";
const PRODUCTS_PART_OF_PAGE: &str = "query ($slug: String!) { product(slug: $slug) { id slug name description \
    category { slug name breadcrumbs { slug name } } images { url altText width height } options { name values } \
    variantBySelectedOptions(selectedOptions: []) { sku } \
    variants { sku name selectedOptions { name value } image { url altText width height } price { amount currencyCode } } } }";
const CART_PART_OF_CART: &str = "query ($id: ID!) { cart(id: $id) { id itemCount lines { id quantity variant { sku } } } }";

pub async fn run(options: RouterBenchOptions) -> anyhow::Result<()> {
    if options.concurrency == 0 || options.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1");
    }
    if options.targets.is_empty() {
        return with_supergraph(Backend::Sqlite, 240, options.record_usage, |running| async move {
            let endpoints = Endpoints {
                targets: vec![running.graphql_url()],
                products: running.subgraphs[&Subgraph::Products].url.clone(),
                cart: running.subgraphs[&Subgraph::Cart].url.clone(),
            };
            measure(&options, &endpoints).await?;
            println!("peak RSS of this process (router, five subgraphs and the load): {} MiB", peak_rss()? / 1024);
            running.stop().await
        })
        .await;
    }
    if options.record_usage {
        bail!("--record-usage applies to the router this command starts, not to a --target");
    }
    let at = |subgraph: Subgraph| format!("http://127.0.0.1:{}/graphql", subgraph.default_port());
    let endpoints = Endpoints { targets: options.targets.clone(), products: at(Subgraph::Products), cart: at(Subgraph::Cart) };
    measure(&options, &endpoints).await
}

struct Endpoints {
    /// Gateways serving the whole graph.
    targets: Vec<String>,
    /// The subgraphs behind them, fetched directly.
    products: String,
    cart: String,
}

/// Request bodies, sent in turn: different pages, as shoppers ask for
/// them, so that no gateway can answer many clients with one subgraph fetch.
struct Workload {
    name: &'static str,
    bodies: Vec<Value>,
}

/// How many different pages (products, carts, listings) each workload asks for.
const PAGES: usize = 96;

async fn measure(options: &RouterBenchOptions, endpoints: &Endpoints) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    // The pages are made through the first endpoint.
    let client = Client { http: http.clone(), url: endpoints.targets[0].clone() };
    let products = client.graphql(&format!("{{ products(first: {PAGES}) {{ edges {{ cursor node {{ slug variants {{ sku }} }} }} }} }}"), json!({}), None).await?;
    let products = products["products"]["edges"].as_array().context("products")?.clone();
    let (mut slugs, mut cursors, mut carts) = (Vec::new(), Vec::new(), Vec::new());
    for edge in &products {
        slugs.push(edge["node"]["slug"].as_str().context("a slug")?.to_string());
        cursors.push(edge["cursor"].as_str().context("a cursor")?.to_string());
        carts.push(client.cart_with(None, edge["node"]["variants"][0]["sku"].as_str().context("a sku")?, 2).await?);
    }

    let catalog = std::fs::read_to_string(config_dir().join("storefront/catalog.graphql")).context("reading the storefront's catalog operations")?;
    let contract = std::fs::read_to_string(config_dir().join("storefront/cart.graphql")).context("reading the storefront's cart operations")?;
    let each = |query: &str, operation: Option<&str>, variables: &dyn Fn(usize) -> Value| -> Vec<Value> {
        (0..PAGES).map(|page| json!({ "query": query, "operationName": operation, "variables": variables(page) })).collect()
    };
    // A listing of 24 from the start, or after one of the first products.
    let listing = |page: usize| if page == 0 { json!({ "first": 24 }) } else { json!({ "first": 24, "after": cursors[page - 1] }) };
    let page = |page: usize| json!({ "slug": slugs[page] });
    let cart = |page: usize| json!({ "id": carts[page] });
    let through_gateway = [
        Workload { name: "ProductListing", bodies: each(&catalog, Some("ProductListing"), &listing) },
        Workload { name: "ProductPage", bodies: each(&catalog, Some("ProductPage"), &page) },
        Workload { name: "Cart", bodies: each(&contract, Some("Cart"), &cart) },
    ];
    let direct = [
        (endpoints.products.as_str(), Workload { name: "ProductListing: products' part", bodies: each(PRODUCTS_PART_OF_LISTING, None, &listing) }),
        (endpoints.products.as_str(), Workload { name: "ProductPage: products' part", bodies: each(PRODUCTS_PART_OF_PAGE, None, &page) }),
        (endpoints.cart.as_str(), Workload { name: "Cart: cart's part", bodies: each(CART_PART_OF_CART, None, &cart) }),
    ];

    println!("{} clients, {} s per row", options.concurrency, options.seconds);
    println!("| endpoint | operation | requests/s | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|");
    for target in &endpoints.targets {
        for workload in &through_gateway {
            report(target, workload, drive(&http, target, &workload.bodies, options).await?);
        }
    }
    for (subgraph, workload) in &direct {
        report(subgraph, workload, drive(&http, subgraph, &workload.bodies, options).await?);
    }
    Ok(())
}

struct Measured {
    times: Vec<Duration>,
    errors: usize,
    /// What the first failed request was answered, to say why.
    first_error: Option<String>,
    seconds: u64,
}

/// Sends `bodies` in turn to `url` from `options.concurrency` clients for `options.seconds`.
async fn drive(http: &reqwest::Client, url: &str, bodies: &[Value], options: &RouterBenchOptions) -> anyhow::Result<Measured> {
    let bodies = Arc::new(bodies.to_vec());
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let clients = (0..options.concurrency).map(|client| {
        let (http, url, bodies) = (http.clone(), url.to_string(), bodies.clone());
        tokio::spawn(async move {
            let (mut times, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            let mut next = client;
            while Instant::now() < until {
                let started = Instant::now();
                let body = &bodies[next % bodies.len()];
                next += 1;
                let failure = match http.post(&url).json(body).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.json::<Value>().await {
                            Ok(body) if status.is_success() && body["errors"].is_null() => None,
                            Ok(body) => Some(format!("{status}: {body}")),
                            Err(error) => Some(format!("{status}: {error}")),
                        }
                    }
                    Err(error) => Some(error.to_string()),
                };
                times.push(started.elapsed());
                if let Some(failure) = failure {
                    errors += 1;
                    first_error.get_or_insert(failure);
                }
            }
            (times, errors, first_error)
        })
    });
    let mut measured = Measured { times: Vec::new(), errors: 0, first_error: None, seconds: options.seconds };
    for client in futures::future::join_all(clients).await {
        let (times, errors, first_error) = client?;
        measured.times.extend(times);
        measured.errors += errors;
        measured.first_error = measured.first_error.or(first_error);
    }
    measured.times.sort();
    Ok(measured)
}

fn report(url: &str, workload: &Workload, measured: Measured) {
    let ms = |p: f64| percentile(&measured.times, p).as_secs_f64() * 1000.0;
    println!(
        "| {url} | {} | {:.0} | {:.1} ms | {:.1} ms | {} of {} |",
        workload.name,
        measured.times.len() as f64 / measured.seconds as f64,
        ms(0.5),
        ms(0.99),
        measured.errors,
        measured.times.len(),
    );
    if let Some(error) = measured.first_error {
        eprintln!("  the first error: {}", error.chars().take(300).collect::<String>());
    }
}
