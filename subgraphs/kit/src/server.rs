//! The HTTP server every subgraph runs behind: POST /graphql (with the
//! viewer verified from the JWT), /health, /ready and Prometheus /metrics.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::{ObjectType, Schema, SubscriptionType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use tokio::net::TcpListener;
use futures::StreamExt;
use tracing::Instrument;

use crate::auth::JwtVerifier;
use crate::db::Db;
use crate::trace::Trace;


/// The caller's verified Authorization header, for the rare read a subgraph
/// makes through the router on the caller's behalf.
#[derive(Clone, Debug)]
pub struct ForwardedAuthorization(pub Option<String>);

/// How often an open subscription sends a heartbeat part.
const SUBSCRIPTION_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

struct AppState<Q, M, S> {
    name: &'static str,
    schema: Schema<Q, M, S>,
    verifier: Arc<JwtVerifier>,
    db: Db,
    metrics: Metrics,
}

#[derive(Clone)]
struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Metrics {
    fn new(subgraph: &str) -> Self {
        let registry = Registry::new_custom(None, Some([("subgraph".to_string(), subgraph.to_string())].into()))
            .expect("static registry labels are valid");
        let requests = IntCounterVec::new(
            Opts::new("graphql_requests_total", "GraphQL requests answered, by outcome"),
            &["outcome"],
        )
        .expect("static metric definition is valid");
        let latency = HistogramVec::new(
            HistogramOpts::new("graphql_request_duration_seconds", "Time to answer a GraphQL request"),
            &["outcome"],
        )
        .expect("static metric definition is valid");
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(latency.clone())).expect("registered once");
        Metrics { registry, requests, latency }
    }
}

/// The SDL a subgraph contributes to composition (Federation v2, with `@link`).
pub fn sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}

/// Builds the subgraph's HTTP app around its schema.
pub fn app<Q, M, S>(name: &'static str, schema: Schema<Q, M, S>, verifier: Arc<JwtVerifier>, db: Db) -> axum::Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let state = Arc::new(AppState { name, schema, verifier, db, metrics: Metrics::new(name) });
    axum::Router::new()
        .route("/graphql", post(graphql::<Q, M, S>))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready::<Q, M, S>))
        .route("/metrics", get(metrics::<Q, M, S>))
        .with_state(state)
}

/// Queries and mutations answer with one JSON document; a subscription (the
/// router asks with `Accept: multipart/mixed`) streams multipart parts until
/// the client goes away.
async fn graphql<Q, M, S>(
    State(state): State<Arc<AppState<Q, M, S>>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> axum::response::Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let started = Instant::now();
    let request_id = header(&headers, "x-request-id").unwrap_or_else(crate::db::new_id);
    let span = tracing::info_span!(
        "subgraph_request",
        subgraph = state.name,
        request_id = %request_id,
        traceparent = header(&headers, "traceparent").unwrap_or_default(),
    );
    let response = match state.verifier.viewer_from_headers(&headers) {
        Ok(viewer) => {
            // The request id and trace context travel on into the events this request causes.
            let trace = Trace { correlation_id: request_id, traceparent: header(&headers, "traceparent") };
            let request = request.into_inner().data(viewer).data(trace).data(ForwardedAuthorization(header(&headers, "authorization")));
            if header(&headers, "accept").is_some_and(|accept| accept.contains("multipart/mixed")) {
                state.metrics.requests.with_label_values(&["subscription"]).inc();
                let parts = multipart_parts(state.schema.execute_stream(request));
                return axum::response::Response::builder()
                    .header("content-type", "multipart/mixed; boundary=graphql; subscriptionSpec=\"1.0\"")
                    .body(axum::body::Body::from_stream(parts))
                    .expect("a static header is valid");
            }
            state.schema.execute(request).instrument(span).await
        }
        Err(error) => async_graphql::Response::from_errors(vec![async_graphql::Error::from(error).into_server_error(Default::default())]),
    };
    let outcome = if response.is_ok() { "ok" } else { "error" };
    state.metrics.requests.with_label_values(&[outcome]).inc();
    state.metrics.latency.with_label_values(&[outcome]).observe(started.elapsed().as_secs_f64());
    GraphQLResponse::from(response).into_response()
}

/// A subscription's responses as multipart parts (the multipart subscription
/// protocol): each part is closed by the next delimiter as soon as it is
/// written, so the router passes every update on at once; a heartbeat part
/// keeps idle connections open.
fn multipart_parts(
    responses: futures::stream::BoxStream<'static, async_graphql::Response>,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::convert::Infallible>> {
    fn part(json: &str) -> axum::body::Bytes {
        format!("content-type: application/json\r\n\r\n{json}\r\n--graphql\r\n").into()
    }
    let heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + SUBSCRIPTION_HEARTBEAT, SUBSCRIPTION_HEARTBEAT);
    let opening = futures::stream::once(async { axum::body::Bytes::from_static(b"\r\n--graphql\r\n") });
    let parts = futures::stream::unfold(Some((responses, heartbeat)), |state| async move {
        let (mut responses, mut heartbeat) = state?;
        tokio::select! {
            response = responses.next() => Some(match response {
                Some(response) => {
                    let payload = serde_json::json!({ "payload": response }).to_string();
                    (part(&payload), Some((responses, heartbeat)))
                }
                None => (axum::body::Bytes::from_static(b"--graphql--\r\n"), None),
            }),
            _ = heartbeat.tick() => Some((part("{}"), Some((responses, heartbeat)))),
        }
    });
    opening.chain(parts).map(Ok)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn ready<Q, M, S>(State(state): State<Arc<AppState<Q, M, S>>>) -> impl IntoResponse {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, subgraph = state.name, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

async fn metrics<Q, M, S>(State(state): State<Arc<AppState<Q, M, S>>>) -> impl IntoResponse {
    let mut body = Vec::new();
    let families = state.metrics.registry.gather();
    match TextEncoder::new().encode(&families, &mut body) {
        Ok(()) => (StatusCode::OK, body),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string().into_bytes()),
    }
}

/// Serves `app` until `shutdown` turns true, then finishes in-flight requests.
pub async fn serve(listener: TcpListener, app: axum::Router, mut shutdown: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    let stopped = async move { crate::background::stopping(&mut shutdown).await };
    axum::serve(listener, app).with_graceful_shutdown(stopped).await?;
    Ok(())
}
