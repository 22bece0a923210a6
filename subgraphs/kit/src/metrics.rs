//! The process's Prometheus metrics, served on a listener of their own
//! (`METRICS_ADDR`, loopback by default), never on a port the public can
//! reach. Every label takes one of a few known values, never client input,
//! so the series cannot grow without bound.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, TextEncoder};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// GraphQL requests a subgraph answered, by subgraph and outcome (ok, error, subscription).
pub static SUBGRAPH_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(Opts::new("subgraph_graphql_requests_total", "GraphQL requests a subgraph answered"), &["subgraph", "outcome"]))
});

/// Time a subgraph took to answer, by subgraph and outcome.
pub static SUBGRAPH_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new("subgraph_graphql_request_duration_seconds", "Time a subgraph took to answer a GraphQL request"),
        &["subgraph", "outcome"],
    ))
});

/// Registers a metric with the process's registry (once, from a `LazyLock`).
pub fn register<M: prometheus::core::Collector + Clone + 'static>(metric: prometheus::Result<M>) -> M {
    let metric = metric.expect("a static metric definition is valid");
    prometheus::register(Box::new(metric.clone())).expect("each metric is registered once");
    metric
}

/// Serves `/metrics` on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let app = axum::Router::new().route("/metrics", get(exposition));
    crate::server::serve(listener, app, shutdown).await
}

async fn exposition() -> impl IntoResponse {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&prometheus::gather(), &mut body) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
