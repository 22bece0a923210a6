//! `supergraph bench`: measurements, not tests. Each starts a supergraph of
//! its own (fresh databases, and on PostgreSQL a NATS stream of its own),
//! asserts nothing, prints what it measured, and removes everything it made.

pub mod catalog;
pub mod checkout;
pub mod limits;
pub mod router;

use std::future::Future;
use std::time::Duration;

use events::BusConfig;
use kit::config::Settings;

use crate::supergraph::{self, Options, Storage, Supergraph};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Backend {
    /// SQLite files and the in-process bus (what `cargo run` uses).
    Sqlite,
    /// PostgreSQL at 127.0.0.1:5432 and NATS JetStream at 127.0.0.1:4222.
    Postgres,
}

/// Runs `measure` against a supergraph of its own with `products` seeded
/// (its router recording field usage into a SQLite file when
/// `record_usage`), then removes its databases and stream, whether it
/// finished or not.
pub async fn with_supergraph<F, Fut>(backend: Backend, products: usize, record_usage: bool, measure: F) -> anyhow::Result<()>
where
    F: FnOnce(Supergraph) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let work_dir = std::env::temp_dir().join(format!("commerce-bench-{run_id}"));
    let (storage, bus) = match backend {
        Backend::Sqlite => (Storage::Sqlite(work_dir.join("data")), BusConfig::InProcess),
        Backend::Postgres => (
            Storage::Postgres { server_url: "postgres://postgres@127.0.0.1:5432".into(), prefix: format!("bench_{run_id}") },
            BusConfig::Nats { url: "nats://127.0.0.1:4222".into(), namespace: format!("bench_{run_id}"), max_age: Duration::from_secs(600) },
        ),
    };
    let options = Options {
        storage: storage.clone(),
        router_port: supergraph::free_port()?,
        fixed_ports: false,
        seed_products: Some(products),
        config_dir: supergraph::config_dir(),
        work_dir: work_dir.clone(),
        log_level: "warn".into(),
        // A benchmark is one client sending as fast as it can.
        rate_limit: Some(1_000_000_000),
        bus: bus.clone(),
        settings: Settings::default(),
        handler_layer: None,
        metrics_address: ([127, 0, 0, 1], 0).into(),
        otlp_endpoint: None,
        trusted_documents_only: false,
        playground_headers: None,
        usage_database_url: record_usage.then(|| format!("sqlite://{}?mode=rwc", work_dir.join("usage.db").display())),
    };
    let measured = match supergraph::start(options).await {
        Ok(running) => measure(running).await,
        Err(error) => Err(error),
    };
    storage.remove().await?;
    bus.remove().await?;
    let _ = std::fs::remove_dir_all(work_dir);
    measured
}

/// The `p` quantile (0..=1) of durations sorted ascending.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// This process's peak resident set size in KiB (VmHWM): every bench serves
/// the whole supergraph from its own process.
pub fn peak_rss() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/self/status"))?;
    Ok(line.split_whitespace().nth(1).ok_or_else(|| anyhow::anyhow!("an empty VmHWM"))?.parse()?)
}

/// CPU time the whole machine has spent busy since boot, every core and
/// process together (/proc/stat), to tell what a unit of work costs.
pub fn cpu_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().filter(|line| line.starts_with("cpu ")).ok_or_else(|| anyhow::anyhow!("no cpu line in /proc/stat"))?;
    let ticks: Vec<u64> = cpu.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = ticks.iter().take(8).enumerate().filter(|(field, _)| !matches!(field, 3 | 4)).map(|(_, ticks)| ticks).sum();
    // Linux counts in USER_HZ, 100 per second on every architecture it runs on here.
    Ok(Duration::from_millis(busy * 10))
}

/// A GraphQL endpoint, as the benches set up their data through it.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
}

impl Client {
    /// The data of the answer; an error when it has errors.
    pub async fn graphql(&self, query: &str, variables: serde_json::Value, token: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut request = self.http.post(&self.url).json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: serde_json::Value = request.send().await?.json().await?;
        if body.get("errors").is_some() {
            anyhow::bail!("{} answered with errors: {body}", self.url);
        }
        Ok(body["data"].clone())
    }

    /// A new cart (the token's customer's, or a guest's) holding `quantity` of `sku`.
    pub async fn cart_with(&self, token: Option<&str>, sku: &str, quantity: i64) -> anyhow::Result<String> {
        let data = self.graphql("mutation { createCart { cart { id } } }", serde_json::json!({}), token).await?;
        let cart = data["createCart"]["cart"]["id"].as_str().ok_or_else(|| anyhow::anyhow!("no cart in {data}"))?.to_string();
        self.graphql(
            "mutation ($cart: ID!, $sku: ID!, $quantity: Int!) { addCartLine(cartId: $cart, sku: $sku, quantity: $quantity) { userErrors { code } } }",
            serde_json::json!({ "cart": cart, "sku": sku, "quantity": quantity }),
            token,
        )
        .await?;
        Ok(cart)
    }
}
