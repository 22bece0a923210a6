//! `supergraph bench checkout`: drives checkouts end to end through the
//! router and reports throughput and the time from placeOrder to CONFIRMED.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{Backend, percentile, with_supergraph};
use crate::subgraphs::Subgraph;
use crate::supergraph::{self, Supergraph};
use crate::token::{self, TokenRequest};

pub struct BenchOptions {
    pub backend: Backend,
    pub orders: usize,
    pub concurrency: usize,
}

/// How often a checkout looks at its order's status; bounds the error of each latency.
const POLL: Duration = Duration::from_millis(5);

pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    if options.orders == 0 || options.concurrency == 0 {
        bail!("--orders and --concurrency must be at least 1");
    }
    with_supergraph(options.backend, 40, false, |running| measure(&options, running)).await
}

async fn measure(options: &BenchOptions, running: Supergraph) -> anyhow::Result<()> {
    sqlx::query("UPDATE stock_levels SET on_hand = 1000000, reserved = 0")
        .execute(running.db(Subgraph::Inventory))
        .await
        .context("stocking up for the benchmark")?;
    let client = Client { http: reqwest::Client::new(), url: running.graphql_url() };
    let sku = client.any_sku().await?;

    eprintln!("preparing {} carts...", options.orders);
    let mut checkouts = Vec::new();
    for i in 0..options.orders {
        let token = token::mint(
            &supergraph::config_dir().join("dev-signing-key.pem"),
            &TokenRequest { subject: &format!("bench-{i}"), name: None, scopes: &[], ttl: Duration::from_secs(3600) },
        )?;
        let cart = client.cart_with(&token, &sku).await?;
        checkouts.push((token, cart));
    }

    eprintln!("placing {} orders, {} at a time...", options.orders, options.concurrency);
    let started = Instant::now();
    let latencies: Vec<anyhow::Result<Duration>> = futures::stream::iter(checkouts)
        .map(|(token, cart)| {
            let client = &client;
            async move { client.checkout(&token, &cart).await }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies = latencies.into_iter().collect::<anyhow::Result<Vec<Duration>>>()?;
    latencies.sort();
    println!(
        "backend={:?} orders={} concurrency={} elapsed={:.2}s throughput={:.1} orders/s placeOrder->CONFIRMED p50={}ms p99={}ms",
        options.backend,
        latencies.len(),
        options.concurrency,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_millis(),
        percentile(&latencies, 0.99).as_millis(),
    );
    running.stop().await
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self.http.post(&self.url).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.json().await?;
        if body.get("errors").is_some() {
            bail!("the router answered with errors: {body}");
        }
        Ok(body["data"].clone())
    }

    async fn any_sku(&self) -> anyhow::Result<String> {
        let data = self.graphql("{ products(first: 1) { edges { node { variants { sku } } } } }", json!({}), None).await?;
        data["products"]["edges"][0]["node"]["variants"][0]["sku"].as_str().map(str::to_string).context("a sku")
    }

    async fn cart_with(&self, token: &str, sku: &str) -> anyhow::Result<String> {
        let data = self.graphql("mutation { createCart { cart { id } } }", json!({}), Some(token)).await?;
        let cart = data["createCart"]["cart"]["id"].as_str().context("a cart")?.to_string();
        self.graphql(
            "mutation ($cart: ID!, $sku: ID!) { addCartLine(cartId: $cart, sku: $sku, quantity: 1) { userErrors { code } } }",
            json!({ "cart": cart, "sku": sku }),
            Some(token),
        )
        .await?;
        Ok(cart)
    }

    /// Places the order and waits for CONFIRMED; returns how long that took.
    async fn checkout(&self, token: &str, cart: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let data = self
            .graphql(
                "mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { code } } }",
                json!({ "input": { "cartId": cart, "idempotencyKey": cart, "paymentToken": "tok_visa" } }),
                Some(token),
            )
            .await?;
        let id = data["placeOrder"]["order"]["id"].as_str().with_context(|| format!("an order: {data}"))?.to_string();
        loop {
            let data = self.graphql("query ($id: ID!) { order(id: $id) { status } }", json!({ "id": id }), Some(token)).await?;
            match data["order"]["status"].as_str() {
                Some("CONFIRMED") => return Ok(started.elapsed()),
                Some("PENDING") => tokio::time::sleep(POLL).await,
                other => bail!("order {id} ended {other:?}"),
            }
        }
    }
}
