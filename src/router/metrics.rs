//! The router's Prometheus series, in the process's registry (served by
//! `kit::metrics` on its own listener, never on the public port). The
//! router's built-in exporter binds to the router's own public host and
//! labels its series with the client's `operationName`, which grows without
//! bound; these label only what has a few known values.

use std::sync::LazyLock;
use std::time::Instant;

use hive_router::async_trait;
use hive_router::graphql_tools::static_graphql::query::{Definition, OperationDefinition};
use hive_router::plugins::hooks::on_graphql_parse::{OnGraphQLParseHookResult, OnGraphQLParseStartHookPayload};
use hive_router::plugins::hooks::on_http_request::{OnHttpRequestHookFuture, OnHttpRequestHookPayload};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::hooks::on_subgraph_execute::{OnSubgraphExecuteStartHookPayload, OnSubgraphExecuteStartHookResult};
use hive_router::plugins::plugin_trait::{EndHookPayload, RouterPlugin, StartHookPayload};
use kit::metrics::register;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use serde::Deserialize;

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(Opts::new("router_requests_total", "Requests the router answered, by operation type and status"), &["operation", "status"]))
});

static LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(HistogramOpts::new("router_request_duration_seconds", "Time the router took to answer, by operation type"), &["operation"]))
});

static SUBGRAPH_FETCHES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(Opts::new("router_subgraph_fetches_total", "Fetches the router made, by subgraph and outcome"), &["subgraph", "outcome"]))
});

static SUBGRAPH_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(HistogramOpts::new("router_subgraph_fetch_duration_seconds", "Time a subgraph fetch took"), &["subgraph"]))
});

/// The kind of operation a request runs, once parsed.
struct OperationType(&'static str);

#[derive(Deserialize)]
pub struct MetricsConfig {}

pub struct Metrics;

#[async_trait]
impl RouterPlugin for Metrics {
    type Config = MetricsConfig;

    fn plugin_name() -> &'static str {
        "metrics"
    }

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        payload.initialize_plugin(Metrics)
    }

    fn on_http_request<'req>(&'req self, payload: OnHttpRequestHookPayload<'req>) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            if !payload.router_http_request.path().starts_with("/graphql") {
                return payload.proceed();
            }
            let started = Instant::now();
            payload.on_end(move |answered| {
                let operation = answered.context.get_ref::<OperationType>().map_or("unknown", |operation| operation.0);
                let status = answered.response.status();
                REQUESTS.with_label_values(&[operation, status.as_str()]).inc();
                LATENCY.with_label_values(&[operation]).observe(started.elapsed().as_secs_f64());
                answered.proceed()
            })
        })
    }

    async fn on_graphql_parse<'exec>(&'exec self, payload: OnGraphQLParseStartHookPayload<'exec>) -> OnGraphQLParseHookResult<'exec> {
        let context = payload.context;
        payload.on_end(move |parsed| {
            let operation = parsed.document.definitions.iter().find_map(|definition| match definition {
                Definition::Operation(OperationDefinition::Query(_) | OperationDefinition::SelectionSet(_)) => Some("query"),
                Definition::Operation(OperationDefinition::Mutation(_)) => Some("mutation"),
                Definition::Operation(OperationDefinition::Subscription(_)) => Some("subscription"),
                Definition::Fragment(_) => None,
            });
            context.insert(OperationType(operation.unwrap_or("unknown")));
            parsed.proceed()
        })
    }

    async fn on_subgraph_execute<'exec>(&'exec self, payload: OnSubgraphExecuteStartHookPayload<'exec>) -> OnSubgraphExecuteStartHookResult<'exec> {
        let subgraph = payload.subgraph_name.to_string();
        let started = Instant::now();
        payload.on_end(move |fetched| {
            let failed = fetched.execution_result.errors.as_ref().is_some_and(|errors| !errors.is_empty());
            SUBGRAPH_FETCHES.with_label_values(&[subgraph.as_str(), if failed { "error" } else { "ok" }]).inc();
            SUBGRAPH_LATENCY.with_label_values(&[subgraph.as_str()]).observe(started.elapsed().as_secs_f64());
            fetched.proceed()
        })
    }
}
