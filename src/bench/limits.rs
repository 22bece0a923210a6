//! `supergraph bench limits`: what the router's worst documents under its
//! limits cost it. Each document is sent `--requests` times, one after
//! another, and timed; then `{ __typename }` is timed while four copies of
//! the heaviest answered document are in flight, to show whether one kind
//! of request can stall the others.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Backend, percentile, with_supergraph};
use crate::supergraph::Supergraph;

pub async fn run(requests: usize) -> anyhow::Result<()> {
    anyhow::ensure!(requests > 0, "--requests must be at least 1");
    with_supergraph(Backend::Sqlite, 40, false, |running| measure(running, requests)).await
}

/// The documents, worst first, each at the edge of a limit of router-config/router.yaml.
fn documents(slug: &str) -> Vec<(&'static str, String)> {
    let fragment_bomb = (0..30).fold(String::from("{ ...F0 }"), |document, i| document + &format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1))
        + " fragment F30 on Query { __typename }";
    let deepest = format!("{{ product(slug: \"{slug}\") {{ {}slug{} }} }}", "variants { product { ".repeat(5), " } }".repeat(5));
    let expensive: String = (0..30)
        .map(|i| format!("a{i}: products(first: 100) {{ edges {{ node {{ variants {{ stock {{ available }} }} reviews(first: 100) {{ edges {{ node {{ body }} }} }} }} }} }} "))
        .collect();
    let under_cost: String = (0..30).map(|i| format!("a{i}: products(first: 10) {{ edges {{ node {{ slug name variants {{ sku }} }} }} }} ")).collect();
    vec![
        ("{ __typename }", "{ __typename }".to_string()),
        ("3,985 copies of one field (token limit)", format!("{{ product(slug: \"{slug}\") {{ {} }} }}", "slug ".repeat(3985))),
        ("399 copies of one field (field limit)", format!("{{ product(slug: \"{slug}\") {{ {} }} }}", "slug ".repeat(399))),
        ("2^30 fields in spread fragments", fragment_bomb),
        ("depth 12", deepest),
        ("30 aliases of 100 products with 100 reviews each", format!("{{ {expensive} }}")),
        ("30 aliases of 10 products", format!("{{ {under_cost} }}")),
    ]
}

async fn measure(running: Supergraph, requests: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = running.graphql_url();
    let send = |document: String| {
        let request = http.post(&url).json(&json!({ "query": document }));
        async move {
            let started = Instant::now();
            let body: Value = request.send().await?.json().await?;
            anyhow::Ok((started.elapsed(), outcome(&body)))
        }
    };
    let listing: Value = http.post(&url).json(&json!({ "query": "{ products(first: 1) { edges { node { slug } } } }" })).send().await?.json().await?;
    let slug = listing["data"]["products"]["edges"][0]["node"]["slug"].as_str().unwrap_or("none").to_string();

    println!("| document | answer | p50 | max |\n|---|---|---|---|");
    for (name, document) in documents(&slug) {
        let mut times = Vec::new();
        let mut answer = String::new();
        for _ in 0..requests {
            let (time, outcome) = send(document.clone()).await?;
            times.push(time);
            answer = outcome;
        }
        times.sort();
        println!("| {name} | {answer} | {} | {} |", millis(percentile(&times, 0.5)), millis(*times.last().expect("at least one request")));
    }

    let heaviest = format!("{{ product(slug: \"{slug}\") {{ {} }} }}", "slug ".repeat(399));
    let mut stalled = Vec::new();
    for _ in 0..requests {
        let heavy = futures::future::join_all((0..4).map(|_| send(heaviest.clone())));
        let (light, _) = futures::future::join(send("{ __typename }".to_string()), heavy).await;
        stalled.push(light?.0);
    }
    stalled.sort();
    println!("\n`{{ __typename }}` while four 399-field documents are in flight: p50 {}, max {}", millis(percentile(&stalled, 0.5)), millis(*stalled.last().expect("at least one")));
    running.stop().await
}

/// "answered", or the error code the router refused with.
fn outcome(body: &Value) -> String {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => format!("refused: {code}"),
        None => "answered".to_string(),
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
