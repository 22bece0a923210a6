//! What an operator sees of the saga: `supergraph events` (one order's
//! saga, dead letters) with listings on stdout and logs on stderr, the
//! Prometheus series of the backbone, and JSON log lines with request and
//! trace ids.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::{Backend, TestApp, customer_token, spawn_app};
use serde_json::{Value, json};

on_both_backends!(an_orders_saga_and_the_backbones_series_can_be_read);

/// Runs `supergraph events <args>` against the test's databases; returns stdout.
fn events_command(app: &TestApp, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_supergraph"));
    command.arg("events").args(args);
    for subgraph in Subgraph::ALL {
        command.env(format!("{}_DATABASE_URL", subgraph.name().to_uppercase()), app.supergraph.database_url(subgraph));
    }
    let output = command.output().expect("the binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("text")
}

async fn an_orders_saga_and_the_backbones_series_can_be_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = customer_token("watched");
    let sku = app.sku_with_stock(1).await;
    let cart = app.operation("CreateCart", json!({}), Some(&token)).await["data"]["createCart"]["cart"]["id"].clone();
    app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&token)).await;
    let input = json!({ "cartId": cart, "idempotencyKey": "k", "paymentToken": "tok_visa" });
    let placed = app.operation("PlaceOrder", json!({ "input": input }), Some(&token)).await;
    let id = placed["data"]["placeOrder"]["order"]["id"].as_str().unwrap().to_string();

    let mut saga = Value::Null;
    for _ in 0..300 {
        saga = serde_json::from_str(&events_command(&app, &["order", &id, "--json"])).expect("stdout holds only the JSON");
        let confirmation_received = saga["events"].as_array().unwrap().iter().any(|e| e["event_type"] == "OrderConfirmed" && e["received_by"].as_array().unwrap().len() == 2);
        if saga["order"]["status"] == "CONFIRMED" && saga["reservation"]["status"] == "COMMITTED" && confirmation_received {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(saga["order"]["status"], "CONFIRMED", "{saga}");
    assert_eq!(saga["reservation"]["status"], "COMMITTED", "{saga}");
    let received = |event_type: &str| -> Vec<String> {
        let event = saga["events"].as_array().unwrap().iter().find(|e| e["event_type"] == event_type).unwrap_or_else(|| panic!("{event_type} in {saga}"));
        let mut by: Vec<String> = event["received_by"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        by.sort();
        by
    };
    assert_eq!(received("OrderPlaced"), ["cart", "inventory"]);
    assert_eq!(received("InventoryReserved"), ["orders"]);
    assert_eq!(received("OrderConfirmed"), ["inventory", "reviews"]);
    assert_eq!(saga["order"]["payment"][0][1], "AUTHORIZED");
    let text = events_command(&app, &["order", &id]);
    assert!(text.contains("CONFIRMED") && text.contains("received by: inventory, reviews"), "{text}");
    assert_eq!(serde_json::from_str::<Value>(&events_command(&app, &["dead-letters", "--json"])).unwrap(), json!([]));

    let mut series = String::new();
    for _ in 0..100 {
        series = reqwest::get(&app.supergraph.metrics_url).await.unwrap().text().await.unwrap();
        if series.contains("orders{status=\"CONFIRMED\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for wanted in [
        "orders{status=\"CONFIRMED\"} 1",
        "outbox_backlog_events{subgraph=\"orders\"} 0",
        "outbox_oldest_event_age_seconds{subgraph=\"inventory\"}",
        "dead_letters_waiting{subgraph=\"cart\"} 0",
        "events_delivered_total{consumer=\"inventory\",event_type=\"OrderPlaced\",outcome=\"handled\"} 1",
    ] {
        assert!(series.contains(wanted), "{wanted} in\n{series}");
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_and_trace_ids_one_line_per_request() {
    let data = tempfile::tempdir().unwrap();
    let port = commerce_supergraph::supergraph::free_port().unwrap();
    let metrics = commerce_supergraph::supergraph::free_port().unwrap();
    let process = Command::new(env!("CARGO_BIN_EXE_supergraph"))
        .args(["subgraph", "products"])
        .env("DATABASE_URL", format!("sqlite://{}/products.db?mode=rwc", data.path().display()))
        .env("PORT", port.to_string())
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("LOG_FORMAT", "json")
        .env_remove("EVENT_BUS")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let url = format!("http://127.0.0.1:{port}/graphql");
    let mut answered = false;
    for _ in 0..300 {
        let sent = reqwest::Client::new()
            .post(&url)
            .header("x-request-id", "req-42")
            .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .json(&json!({ "query": "{ categories { slug } }" }))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status() == 200) {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the subgraph answered");
    Command::new("kill").args(["-TERM", &process.id().to_string()]).status().unwrap();
    let output = tokio::task::spawn_blocking(move || process.wait_with_output()).await.unwrap().unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = logs.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}"))).collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "answered" && l["span"]["request_id"] == "req-42").collect();
    assert_eq!(requests.len(), 1, "one line for the request: {logs}");
    assert_eq!(requests[0]["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}
