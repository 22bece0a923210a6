//! `supergraph bench router`: the storefront's read traffic through the
//! router: a product listing, a product page and the categories, in turn,
//! from `--concurrency` clients for `--seconds`. Prints requests per second
//! and the p50 and p99 latency; `--record-usage` turns on the usage plugin,
//! to measure what recording field usage costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::{Backend, percentile, with_supergraph};
use crate::supergraph::{Supergraph, config_dir};

pub struct RouterBenchOptions {
    pub concurrency: usize,
    pub seconds: u64,
    pub record_usage: bool,
}

pub async fn run(options: RouterBenchOptions) -> anyhow::Result<()> {
    if options.concurrency == 0 || options.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1");
    }
    with_supergraph(Backend::Sqlite, 240, options.record_usage, |running| measure(&options, running)).await
}

/// The storefront operations a visitor's page views send, with their variables.
fn page_views(slug: &str) -> anyhow::Result<Vec<Value>> {
    let catalog = std::fs::read_to_string(config_dir().join("storefront/catalog.graphql")).context("reading the storefront's catalog operations")?;
    Ok(vec![
        json!({ "query": catalog, "operationName": "ProductListing", "variables": { "first": 20 } }),
        json!({ "query": catalog, "operationName": "ProductPage", "variables": { "slug": slug } }),
        json!({ "query": catalog, "operationName": "Categories" }),
    ])
}

async fn measure(options: &RouterBenchOptions, running: Supergraph) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = running.graphql_url();
    let listing: Value = http.post(&url).json(&json!({ "query": "{ products(first: 1) { edges { node { slug } } } }" })).send().await?.json().await?;
    let slug = listing["data"]["products"]["edges"][0]["node"]["slug"].as_str().context("a product to view")?.to_string();
    let views = Arc::new(page_views(&slug)?);

    eprintln!("{} clients for {} s...", options.concurrency, options.seconds);
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let clients = (0..options.concurrency).map(|client| {
        let (http, url, views) = (http.clone(), url.clone(), views.clone());
        tokio::spawn(async move {
            let (mut times, mut errors) = (Vec::new(), 0usize);
            let mut view = client;
            while Instant::now() < until {
                let started = Instant::now();
                let answered = http.post(&url).json(&views[view % views.len()]).send().await;
                let ok = match answered {
                    Ok(response) if response.status().is_success() => response.json::<Value>().await.is_ok_and(|body| body["errors"].is_null()),
                    _ => false,
                };
                times.push(started.elapsed());
                errors += usize::from(!ok);
                view += 1;
            }
            (times, errors)
        })
    });
    let mut times = Vec::new();
    let mut errors = 0;
    for client in futures::future::join_all(clients).await {
        let (client_times, client_errors) = client?;
        times.extend(client_times);
        errors += client_errors;
    }
    times.sort();
    println!(
        "router, storefront reads, {} clients{}: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, {} errors of {}",
        options.concurrency,
        if options.record_usage { ", recording usage" } else { "" },
        times.len() as f64 / options.seconds as f64,
        percentile(&times, 0.5).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        errors,
        times.len(),
    );
    Ok(())
}
