//! Logs and traces of a process that serves subgraphs without the router
//! (`supergraph subgraph`, `events`). The router installs its own (in `dev`
//! and in the tests it carries the subgraphs' spans and logs too), set up
//! the same way by `router::write_config`.
//!
//! Logs go to stderr (stdout is for what a command prints), as text, or as
//! JSON lines with `LOG_FORMAT=json` (each with the span's request id and
//! trace id). Traces are exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and not at all when it is not.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes the spans still buffered when the process ends.
pub struct Telemetry(Option<SdkTracerProvider>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = &self.0 {
            let _ = provider.shutdown();
        }
    }
}

/// Whether logs are JSON lines (`LOG_FORMAT=json`).
pub fn json_logs() -> bool {
    std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"))
}

/// The OTLP endpoint traces go to, when they are exported.
pub fn otlp_endpoint() -> Option<String> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|endpoint| !endpoint.trim().is_empty())
}

/// Installs the process's logging and, when asked for, trace export for `service`.
pub fn init(service: &str) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = if json_logs() {
        tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed()
    };
    let provider = match otlp_endpoint() {
        Some(_) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build().context("building the OTLP exporter")?;
            let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.to_string());
            let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
        None => None,
    };
    let traces = provider.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_string())));
    tracing_subscriber::registry().with(filter).with(logs).with(traces).init();
    Ok(Telemetry(provider))
}
