//! The processes around the saga: a broker that is down at start, killed,
//! and restarted without its store; a subgraph process stopped by SIGTERM.

mod common;

use std::process::{Child, Command};
use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use common::{TestApp, customer_token, spawn_app_on_nats};
use serde_json::json;

/// A NATS server of the test's own, which it may kill and restart.
struct PrivateNats {
    port: u16,
    store: tempfile::TempDir,
    process: Option<Child>,
}

impl PrivateNats {
    fn new() -> Self {
        let port = commerce_supergraph::supergraph::free_port().expect("a free port");
        PrivateNats { port, store: tempfile::tempdir().expect("a store folder"), process: None }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let process = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.store.path())
            .spawn()
            .expect("nats-server runs (Debian's nats-server package)");
        self.process = Some(process);
    }

    /// SIGKILL, then the store is gone as if the broker's disk were lost.
    fn kill_and_lose_the_store(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().expect("nats-server is killed");
            process.wait().expect("nats-server ends");
        }
        std::fs::remove_dir_all(self.store.path()).expect("the store is removed");
        std::fs::create_dir_all(self.store.path()).expect("an empty store");
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

async fn ready(app: &TestApp, subgraph: Subgraph) -> u16 {
    let url = app.subgraph_url(subgraph).replace("/graphql", "/ready");
    reqwest::get(url).await.expect("the subgraph answers").status().as_u16()
}

async fn eventually_ready(app: &TestApp) {
    for _ in 0..300 {
        if ready(app, Subgraph::Orders).await == 200 && ready(app, Subgraph::Inventory).await == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the subgraphs did not become ready within 30 s");
}

/// Places an order for one unit and waits (bounded) until it is CONFIRMED.
async fn an_order_confirms(app: &TestApp, customer: &str) {
    let token = customer_token(customer);
    let sku = app.sku_with_stock(1).await;
    let cart = app.operation("CreateCart", json!({}), Some(&token)).await["data"]["createCart"]["cart"]["id"].clone();
    app.operation("AddCartLine", json!({ "cartId": cart, "sku": sku, "quantity": 1 }), Some(&token)).await;
    let input = json!({ "cartId": cart, "idempotencyKey": customer, "paymentToken": "tok_visa" });
    let placed = app.operation("PlaceOrder", json!({ "input": input }), Some(&token)).await;
    let id = placed["data"]["placeOrder"]["order"]["id"].clone();
    for _ in 0..600 {
        let order = app.operation("Order", json!({ "id": id }), Some(&token)).await;
        if order["data"]["order"]["status"] == "CONFIRMED" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {id} of {customer} was not confirmed within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subgraphs_serve_while_nats_is_down_and_rebuild_what_a_lost_store_held() {
    let mut nats = PrivateNats::new();
    let app = spawn_app_on_nats(&nats.url()).await;
    assert_eq!(app.first_products(3).await.len(), 3, "the catalog is served while the broker is down");
    assert_eq!(ready(&app, Subgraph::Orders).await, 503, "readiness reports the bus");

    nats.start();
    eventually_ready(&app).await;
    an_order_confirms(&app, "before-the-crash").await;

    nats.kill_and_lose_the_store();
    nats.start();
    eventually_ready(&app).await;
    an_order_confirms(&app, "after-the-crash").await;
}

#[tokio::test]
async fn a_subgraph_process_stops_gracefully_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let port = commerce_supergraph::supergraph::free_port().unwrap();
    let metrics = commerce_supergraph::supergraph::free_port().unwrap();
    let mut process = Command::new(env!("CARGO_BIN_EXE_supergraph"))
        .args(["subgraph", "products"])
        .env("DATABASE_URL", format!("sqlite://{}/products.db?mode=rwc", data.path().display()))
        .env("PORT", port.to_string())
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env_remove("EVENT_BUS")
        .spawn()
        .expect("the binary starts");
    let health = format!("http://127.0.0.1:{port}/health");
    let mut up = false;
    for _ in 0..300 {
        if reqwest::get(&health).await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the subgraph came up");
    // What a container runtime, systemd or Kubernetes sends.
    let sent = Command::new("kill").args(["-TERM", &process.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let mut exited = None;
    for _ in 0..300 {
        if let Some(status) = process.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = exited.unwrap_or_else(|| {
        let _ = process.kill();
        panic!("the subgraph did not stop within 30 s of SIGTERM")
    });
    assert!(status.success(), "it stopped cleanly: {status}");
}
