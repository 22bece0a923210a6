//! The HTTP server every subgraph runs behind: /graphql, with the viewer
//! verified from the JWT. (The runtime adds /health and /ready; metrics are
//! served apart, never on this port.)

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{ObjectType, Schema, SubscriptionType};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::JwtVerifier;
use crate::db::Batches;
use crate::http;
use crate::metrics::{SUBGRAPH_LATENCY, SUBGRAPH_REQUESTS};
use crate::trace::{Trace, continue_trace, current_traceparent, trace_id};

/// The caller's verified Authorization header, for the rare read a subgraph
/// makes through the router on the caller's behalf.
#[derive(Clone, Debug)]
pub struct ForwardedAuthorization(pub Option<String>);

/// Whether the request came through a trusted gateway: one that presents a
/// token with scope `gateway` in `x-gateway-token` (our router does). Only a
/// trusted gateway's representations are believed where they carry data a
/// subgraph cannot check itself (a price passed in through `@requires`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gateway {
    pub trusted: bool,
}

/// The header a gateway identifies itself with, and the scope its token carries.
pub const GATEWAY_TOKEN_HEADER: &str = "x-gateway-token";
pub const GATEWAY_SCOPE: &str = "gateway";

/// What a subgraph adds to each request: its batch loaders, which run their
/// batches where `Batches` says.
pub type RequestData = Arc<dyn Fn(async_graphql::Request, &Batches) -> async_graphql::Request + Send + Sync>;

struct AppState<Q, M, S> {
    name: &'static str,
    schema: Schema<Q, M, S>,
    request_data: RequestData,
    verifier: Arc<JwtVerifier>,
}

/// The SDL a subgraph contributes to composition (Federation v2, with `@link`).
/// async-graphql links Federation 2.5; the directives of `directives` are
/// Federation 2.9's, so the link is raised to 2.9 and imports them instead of
/// defining them.
pub fn sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let sdl = schema.sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive());
    let imported = ["authenticated", "cost", "listSize"];
    let defines_imported = |line: &str| {
        imported.iter().any(|name| {
            line.strip_prefix("directive @").and_then(|rest| rest.strip_prefix(name)).is_some_and(|rest| rest.starts_with(['(', ' ']))
        })
    };
    sdl.lines()
        .filter(|line| !defines_imported(line))
        .map(|line| {
            line.replace("https://specs.apollo.dev/federation/v2.5", "https://specs.apollo.dev/federation/v2.9")
                .replace("\"@requiresScopes\"]", "\"@requiresScopes\", \"@authenticated\", \"@cost\", \"@listSize\"]")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Builds the subgraph's HTTP app around its schema.
pub fn app<Q, M, S>(name: &'static str, schema: Schema<Q, M, S>, request_data: RequestData, verifier: Arc<JwtVerifier>) -> axum::Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let state = Arc::new(AppState { name, schema, request_data, verifier });
    axum::Router::new().route("/graphql", get(graphql::<Q, M, S>).post(graphql::<Q, M, S>)).with_state(state)
}

/// Runs a GraphQL request sent over HTTP (see `http`): a query or mutation
/// answered once, in the type the caller accepts; a subscription streamed
/// as multipart parts until the caller goes away.
async fn graphql<Q, M, S>(State(state): State<Arc<AppState<Q, M, S>>>, method: Method, headers: HeaderMap, uri: Uri, body: Bytes) -> Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let started = Instant::now();
    let accepted = http::accepted(header(&headers, "accept").as_deref());
    let request = match http::read_request(&method, &headers, &uri, &body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let subscription = http::operation_type(&request) == Some(OperationType::Subscription);
    if (subscription && !accepted.multipart) || (!subscription && accepted.answer.is_none()) {
        return http::not_acceptable();
    }
    let request_id = header(&headers, "x-request-id").unwrap_or_else(crate::db::new_id);
    let incoming = header(&headers, "traceparent");
    let span = tracing::info_span!("subgraph_request", subgraph = state.name, request_id = %request_id, trace_id = trace_id(incoming.as_deref()));
    continue_trace(&span, incoming.as_deref());
    let response = match state.verifier.viewer_from_headers(&headers).await {
        Ok(viewer) => {
            // The request id and trace context travel on into the events this request causes.
            let trace = Trace { correlation_id: request_id, traceparent: span.in_scope(|| current_traceparent(incoming)) };
            let gateway = Gateway { trusted: trusted_gateway(&state.verifier, &headers).await };
            let request = request
                .data(viewer)
                .data(trace)
                .data(gateway)
                .data(ForwardedAuthorization(header(&headers, "authorization")));
            if subscription {
                SUBGRAPH_REQUESTS.with_label_values(&[state.name, "subscription"]).inc();
                let request = (state.request_data)(request, &Batches::spawned());
                return http::multipart(state.schema.execute_stream(request).map(with_codes).boxed());
            }
            let answered = Batches::run(|batches| state.schema.execute((state.request_data)(request, &batches)));
            with_codes(answered.instrument(span.clone()).await)
        }
        Err(error) => async_graphql::Response::from_errors(vec![async_graphql::Error::from(error).into_server_error(Default::default())]),
    };
    let outcome = if response.is_ok() { "ok" } else { "error" };
    SUBGRAPH_REQUESTS.with_label_values(&[state.name, outcome]).inc();
    SUBGRAPH_LATENCY.with_label_values(&[state.name, outcome]).observe(started.elapsed().as_secs_f64());
    span.in_scope(|| tracing::info!(outcome, errors = response.errors.len(), duration_ms = started.elapsed().as_millis() as u64, "answered"));
    http::respond(response, accepted.answer.unwrap_or(http::Answer::Json))
}

/// True when the request carries a gateway token that verifies.
async fn trusted_gateway(verifier: &JwtVerifier, headers: &HeaderMap) -> bool {
    let Some(token) = headers.get(GATEWAY_TOKEN_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match verifier.verify(token).await {
        Ok(identity) => identity.scopes.iter().any(|scope| scope == GATEWAY_SCOPE),
        Err(_) => false,
    }
}

/// Every error a client gets carries an `extensions.code`. Our resolvers set
/// theirs; the ones without are async-graphql's own, about what the client
/// sent (a variable out of range, an unknown enum value, a malformed
/// document), so they are BAD_USER_INPUT, not an unexplained failure.
fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|extensions| extensions.get("code").is_some());
        if !has_code {
            error.extensions.get_or_insert_with(Default::default).set("code", "BAD_USER_INPUT");
        }
    }
    response
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Serves `app` until `shutdown` turns true, then finishes in-flight requests.
pub async fn serve(listener: TcpListener, app: axum::Router, mut shutdown: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    let stopped = async move { crate::background::stopping(&mut shutdown).await };
    axum::serve(listener, app).with_graceful_shutdown(stopped).await?;
    Ok(())
}
