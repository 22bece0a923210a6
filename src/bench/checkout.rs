//! `supergraph bench checkout`: drives checkouts end to end through the
//! router and reports throughput and the time from placeOrder to CONFIRMED.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{Backend, Client, peak_rss, percentile, with_supergraph};
use crate::subgraphs::Subgraph;
use crate::supergraph::{self, Supergraph};
use crate::token::{self, TokenRequest};

pub struct BenchOptions {
    pub backend: Backend,
    pub orders: usize,
    pub concurrency: usize,
    pub replicas: usize,
}

pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    if options.orders == 0 || options.concurrency == 0 || options.replicas == 0 {
        bail!("--orders, --concurrency and --replicas must be at least 1");
    }
    if options.replicas > 1 && matches!(options.backend, Backend::Sqlite) {
        bail!("--replicas needs --backend postgres: replicas share their work through NATS, and the in-process bus has one consumer per subgraph");
    }
    with_supergraph(options.backend, 40, false, |running| measure(&options, running)).await
}

async fn measure(options: &BenchOptions, mut running: Supergraph) -> anyhow::Result<()> {
    for _ in 1..options.replicas {
        running.add_replica(Subgraph::Orders).await?;
        running.add_replica(Subgraph::Inventory).await?;
    }
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
        let cart = client.cart_with(Some(&token), &sku, 1).await?;
        checkouts.push((token, cart));
    }

    if let Backend::Postgres = options.backend {
        // The measured orders pay for their own writes' checkpoint, not for
        // the setup's or an earlier run's.
        sqlx::query("CHECKPOINT").execute(running.db(Subgraph::Orders)).await.context("checkpointing PostgreSQL before measuring")?;
    }
    eprintln!("placing {} orders, {} at a time...", options.orders, options.concurrency);
    let commits_before = commits(&running).await?;
    let busy_before = super::cpu_busy()?;
    let started = Instant::now();
    let timings: Vec<anyhow::Result<Timing>> = futures::stream::iter(checkouts)
        .map(|(token, cart)| {
            let client = &client;
            async move { client.checkout(&token, &cart).await }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let busy = super::cpu_busy()? - busy_before;
    let timings = timings.into_iter().collect::<anyhow::Result<Vec<Timing>>>()?;
    let mut answered: Vec<Duration> = timings.iter().map(|timing| timing.answered).collect();
    let mut latencies: Vec<Duration> = timings.iter().map(|timing| timing.confirmed).collect();
    answered.sort();
    latencies.sort();
    println!(
        "backend={:?} replicas={} orders={} concurrency={} elapsed={:.2}s throughput={:.1} orders/s placeOrder->CONFIRMED p50={}ms p99={}ms (placeOrder answered: p50={}ms p99={}ms)",
        options.backend,
        options.replicas,
        latencies.len(),
        options.concurrency,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_millis(),
        percentile(&latencies, 0.99).as_millis(),
        percentile(&answered, 0.50).as_millis(),
        percentile(&answered, 0.99).as_millis(),
    );
    println!(
        "CPU per order, every process of the machine together (database, NATS, router, subgraphs and the load): {:.2} ms",
        busy.as_secs_f64() * 1000.0 / latencies.len() as f64
    );
    if let (Some(before), Backend::Postgres) = (commits_before, options.backend) {
        // The last events settle, and PostgreSQL's statistics catch up.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = commits(&running).await?.unwrap_or_default();
        let per_order: Vec<String> = Subgraph::ALL
            .iter()
            .zip(before.iter().zip(&after))
            .map(|(subgraph, (before, after))| format!("{} {:.1}", subgraph.name(), (after - before) as f64 / latencies.len() as f64))
            .collect();
        println!("PostgreSQL commits per order (a statement outside a transaction is one), by subgraph: {}", per_order.join(", "));
    }
    println!("peak RSS of this process (router, five subgraphs and the load): {} MiB", peak_rss()? / 1024);
    running.stop().await
}

/// Each subgraph database's committed transactions so far (PostgreSQL only).
async fn commits(running: &Supergraph) -> anyhow::Result<Option<Vec<i64>>> {
    if !running.database_url(Subgraph::Orders).starts_with("postgres") {
        return Ok(None);
    }
    let mut commits = Vec::new();
    for subgraph in Subgraph::ALL {
        let db = running.db(subgraph);
        sqlx::query("SELECT pg_stat_clear_snapshot()").execute(db).await?;
        commits.push(sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetch_one(db).await?);
    }
    Ok(Some(commits))
}

/// One checkout's times, from sending placeOrder.
struct Timing {
    /// Until placeOrder answered.
    answered: Duration,
    /// Until the order was heard CONFIRMED.
    confirmed: Duration,
}

impl Client {
    async fn any_sku(&self) -> anyhow::Result<String> {
        let data = self.graphql("{ products(first: 1) { edges { node { variants { sku } } } } }", json!({}), None).await?;
        data["products"]["edges"][0]["node"]["variants"][0]["sku"].as_str().map(str::to_string).context("a sku")
    }

    /// Places the order and waits for CONFIRMED; returns how long each took.
    async fn checkout(&self, token: &str, cart: &str) -> anyhow::Result<Timing> {
        let started = Instant::now();
        let data = self
            .graphql(
                "mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { code } } }",
                json!({ "input": { "cartId": cart, "idempotencyKey": cart, "paymentToken": "tok_visa" } }),
                Some(token),
            )
            .await?;
        let id = data["placeOrder"]["order"]["id"].as_str().with_context(|| format!("an order: {data}"))?.to_string();
        let answered = started.elapsed();
        self.until_settled(token, &id).await?;
        Ok(Timing { answered, confirmed: started.elapsed() })
    }

    /// Follows the order as a storefront does, over the router's
    /// orderStatusChanged subscription (server-sent events), until it
    /// settles; an error unless it is CONFIRMED.
    async fn until_settled(&self, token: &str, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&json!({ "query": "subscription ($id: ID!) { orderStatusChanged(orderId: $id) { status } }", "variables": { "id": id } }))
            .send()
            .await?;
        let mut events = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = events.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|line| line.strip_prefix("data: ")) else { continue };
                let update: Value = serde_json::from_str(data)?;
                match update["data"]["orderStatusChanged"]["status"].as_str() {
                    Some("CONFIRMED") => return Ok(()),
                    Some("PENDING") => {}
                    _ => bail!("order {id} ended {update}"),
                }
            }
        }
        bail!("the subscription to order {id} ended before it settled")
    }
}
