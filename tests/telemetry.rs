//! What an operator sees: one trace from the storefront's placeOrder
//! through every subgraph fetch and every event handler of the saga,
//! received by an OTLP receiver of the test's own.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use common::{customer_token, spawn_app_traced};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;

/// A span as received: its name, its trace id, and its attributes as text.
#[derive(Clone, Debug)]
struct Received {
    name: String,
    trace_id: String,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP receiver: collects every span posted to /v1/traces.
async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
    let collected = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let collected = collected.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                let mut spans = collected.lock().unwrap();
                for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(AnyValue::StringValue(text)) => text.clone(),
                                Some(other) => format!("{other:?}"),
                                None => String::new(),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect();
                    let trace_id = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    spans.push(Received { name: span.name.clone(), trace_id, attributes });
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_runs_from_placeorder_through_every_subgraph_and_event_handler() {
    let (endpoint, spans) = receiver().await;
    let app = spawn_app_traced(&endpoint).await;
    let token = customer_token("traced");
    let sku = app.sku_with_stock(1).await;
    let cart = app.operation("CreateCart", json!({}), Some(&token)).await["data"]["createCart"]["cart"]["id"].clone();
    app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&token)).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let body: serde_json::Value = reqwest::Client::new()
        .post(app.supergraph.graphql_url())
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({
            "query": common::storefront_document("PlaceOrder"),
            "variables": { "input": { "cartId": cart, "idempotencyKey": "k", "paymentToken": "tok_visa" } }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order = body["data"]["placeOrder"]["order"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();

    // Every step of the saga, as (span name, the attribute that tells it apart).
    let wanted = [
        ("subgraph_request", "subgraph", "orders"),
        ("deliver_event", "consumer", "inventory"),
        ("deliver_event", "consumer", "cart"),
        ("deliver_event", "consumer", "orders"),
        ("authorize_payment", "order_id", order.as_str()),
        ("deliver_event", "consumer", "reviews"),
    ];
    let mut missing = Vec::new();
    for _ in 0..300 {
        let received = spans.lock().unwrap().clone();
        let in_trace: Vec<&Received> = received.iter().filter(|s| s.trace_id == trace_id).collect();
        missing = wanted
            .iter()
            .filter(|(name, key, value)| !in_trace.iter().any(|s| s.name == *name && s.attribute(key) == Some(value)))
            .collect();
        let router = in_trace.iter().any(|s| s.name.starts_with("graphql") || s.name.starts_with("http"));
        let handled: HashSet<&str> = in_trace.iter().filter(|s| s.name == "deliver_event").filter_map(|s| s.attribute("event_type")).collect();
        if missing.is_empty() && router && handled.contains("OrderConfirmed") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<String> = spans.lock().unwrap().iter().map(|s| format!("{} {} {:?}", s.name, s.trace_id, s.attributes.iter().filter(|(k, _)| ["consumer", "subgraph", "event_type"].contains(&k.as_str())).collect::<Vec<_>>())).collect();
    panic!("steps missing from trace {trace_id}: {missing:?}; received: {names:#?}");
}
