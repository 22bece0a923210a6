//! The HTTP server every subgraph runs behind: /graphql, with the viewer
//! verified from the JWT. (The runtime adds /health and /ready; metrics are
//! served apart, never on this port.)

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, OperationType, Selection, SelectionSet};
use async_graphql::{ObjectType, Schema, SchemaBuilder, SubscriptionType, Value};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use futures::StreamExt;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::JwtVerifier;
use crate::db::Batches;
use crate::http;
use crate::limits::Documents;
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
    /// What `_service { sdl }` answers.
    served_sdl: Arc<str>,
    documents: Documents,
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

/// What a subgraph answers `_service { sdl }` with: how an independent
/// gateway (Apollo Gateway, Hive Gateway, Cosmo) learns its schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthorizationDirectives {
    /// The SDL the supergraph is composed from, `@authenticated` and
    /// `@requiresScopes` included, so the gateway refuses before any
    /// subgraph is called.
    #[default]
    Declared,
    /// The same SDL without them, for a gateway that refuses any supergraph
    /// holding directives it cannot enforce (Apollo Gateway). The subgraph
    /// enforces the same rules itself either way.
    Omitted,
}

impl AuthorizationDirectives {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "declared" => Ok(AuthorizationDirectives::Declared),
            "omitted" => Ok(AuthorizationDirectives::Omitted),
            _ => anyhow::bail!("AUTHORIZATION_DIRECTIVES: {text:?} is neither \"declared\" nor \"omitted\""),
        }
    }

    /// `sdl` as this choice serves it.
    fn apply(self, sdl: String) -> String {
        match self {
            AuthorizationDirectives::Declared => sdl,
            AuthorizationDirectives::Omitted => without_authorization(&sdl),
        }
    }
}

/// `sdl` with every `@authenticated` and `@requiresScopes(...)` use and
/// import taken out.
fn without_authorization(sdl: &str) -> String {
    let sdl = sdl.replace("\"@requiresScopes\", \"@authenticated\", ", "");
    let mut kept = String::with_capacity(sdl.len());
    let mut rest = sdl.as_str();
    while let Some(at) = rest.find(" @") {
        kept.push_str(&rest[..at]);
        let directive = &rest[at + 2..];
        let name_length = directive.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(directive.len());
        if !matches!(&directive[..name_length], "authenticated" | "requiresScopes") {
            kept.push_str(" @");
            rest = directive;
            continue;
        }
        rest = &directive[name_length..];
        if rest.starts_with('(') {
            let mut depth = 0;
            let close = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(rest.len(), |(index, _)| index + 1);
            rest = &rest[close..];
        }
    }
    kept.push_str(rest);
    kept
}

/// A subgraph's schema builder with what every subgraph serves: federation
/// and the limits of `limits`. It has no extensions: with any, async-graphql
/// calls through them for every field it resolves.
pub fn federated<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    crate::limits::limit(builder.enable_federation())
}

/// Puts `sdl` where the response answers `_service { sdl }`: async-graphql's
/// own answer links Federation 2.5 and defines `@authenticated`, `@cost` and
/// `@listSize` as custom directives, which an independent gateway's
/// composition would drop; the SDL composition uses is what a gateway must see.
fn serve_sdl(document: &ExecutableDocument, operation_name: Option<&str>, response: &mut async_graphql::Response, sdl: &str) {
    let Some(operation) = http::selected_operation(document, operation_name) else { return };
    let Value::Object(data) = &mut response.data else { return };
    for service in fields_named(document, &operation.selection_set.node, "_service") {
        let key = service.node.response_key().node.clone();
        if let Some(Value::Object(answer)) = data.get_mut(&key) {
            for field in fields_named(document, &service.node.selection_set.node, "sdl") {
                answer.insert(field.node.response_key().node.clone(), Value::String(sdl.to_string()));
            }
        }
    }
}

/// The fields named `name` in `selection`, looking into its fragments.
fn fields_named<'d>(document: &'d ExecutableDocument, selection: &'d SelectionSet, name: &str) -> Vec<&'d Positioned<Field>> {
    let mut found = Vec::new();
    for item in &selection.items {
        match &item.node {
            Selection::Field(field) if field.node.name.node == name => found.push(field),
            Selection::Field(_) => {}
            Selection::InlineFragment(fragment) => found.extend(fields_named(document, &fragment.node.selection_set.node, name)),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    found.extend(fields_named(document, &fragment.node.selection_set.node, name));
                }
            }
        }
    }
    found
}

/// Builds the subgraph's HTTP app around its schema.
pub fn app<Q, M, S>(
    name: &'static str,
    schema: Schema<Q, M, S>,
    request_data: RequestData,
    verifier: Arc<JwtVerifier>,
    directives: AuthorizationDirectives,
) -> axum::Router
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let served_sdl = directives.apply(sdl(&schema)).into();
    let state = Arc::new(AppState { name, schema, request_data, verifier, served_sdl, documents: Documents::default() });
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
    let mut request = match http::read_request(&method, &headers, &uri, &body) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let document = match state.documents.parse(&request.query) {
        Ok(document) => document,
        Err(error) => return http::respond(with_codes(async_graphql::Response::from_errors(vec![error])), accepted.answer.unwrap_or(http::Answer::Json)),
    };
    let operation = http::selected_operation(&document, request.operation_name.as_deref()).map(|operation| operation.ty);
    if let Err(refusal) = http::check_method(&method, operation) {
        return refusal.into_response();
    }
    request.set_parsed_query(ExecutableDocument::clone(&document));
    let subscription = operation == Some(OperationType::Subscription);
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
            let operation_name = request.operation_name.clone();
            let answered = Batches::run(|batches| state.schema.execute((state.request_data)(request, &batches)));
            let mut response = answered.instrument(span.clone()).await;
            serve_sdl(&document, operation_name.as_deref(), &mut response, &state.served_sdl);
            with_codes(response)
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
    // Without TCP_NODELAY a subscription's second event waits, unsent, for
    // the router to acknowledge the first, which it delays by up to 40 ms.
    let listener = listener.tap_io(|connection| {
        if let Err(error) = connection.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY; events of a subscription may be held back");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(stopped).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_authorization_leaves_every_other_directive_in_place() {
        let declared = r#"type Query {
	me: Customer @authenticated
	adjustStock(sku: ID!): Int! @requiresScopes(scopes: [["inventory:write"], ["admin"]]) @cost(weight: 5)
	products(first: Int!): [Product!]! @listSize(slicingArguments: ["first"])
}
type Order @authenticated @key(fields: "id") { id: ID! }
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@requiresScopes", "@authenticated", "@cost", "@listSize"])
"#;
        let omitted = r#"type Query {
	me: Customer
	adjustStock(sku: ID!): Int! @cost(weight: 5)
	products(first: Int!): [Product!]! @listSize(slicingArguments: ["first"])
}
type Order @key(fields: "id") { id: ID! }
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@cost", "@listSize"])
"#;
        assert_eq!(AuthorizationDirectives::Omitted.apply(declared.to_string()), omitted);
        assert_eq!(AuthorizationDirectives::Declared.apply(declared.to_string()), declared);
    }

    #[test]
    fn service_sdl_is_answered_with_the_composed_sdl_wherever_it_is_asked() {
        let served = |query: &str, operation_name: Option<&str>, data: serde_json::Value| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            let mut response = async_graphql::Response::new(Value::from_json(data).unwrap());
            serve_sdl(&document, operation_name, &mut response, "type Query");
            response.data.into_json().unwrap()
        };
        let theirs = serde_json::json!({ "_service": { "sdl": "theirs" } });
        let ours = serde_json::json!({ "_service": { "sdl": "type Query" } });
        assert_eq!(served("query __ApolloGetServiceDefinition__ { _service { sdl } }", None, theirs.clone()), ours);
        assert_eq!(served("{ ...S } fragment S on Query { _service { sdl } }", None, theirs), ours);
        let aliased = serde_json::json!({ "s": { "text": "theirs" } });
        assert_eq!(served("{ s: _service { text: sdl } }", None, aliased), serde_json::json!({ "s": { "text": "type Query" } }));
        let other = serde_json::json!({ "product": { "sdl": "a field of its own" } });
        assert_eq!(served("{ product { sdl } }", None, other.clone()), other, "only _service is answered with the SDL");
    }

    #[test]
    fn the_choice_is_read_by_name() {
        assert_eq!(AuthorizationDirectives::parse("omitted").unwrap(), AuthorizationDirectives::Omitted);
        assert!(AuthorizationDirectives::parse("off").unwrap_err().to_string().contains("neither"));
    }
}
