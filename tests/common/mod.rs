//! What every end-to-end test shares: a whole supergraph (five subgraphs and
//! the router) on fresh databases, a GraphQL client, and tokens.
#![allow(dead_code)] // each test file uses its own part of this module

mod faults;
pub mod shop;

use std::path::{Path, PathBuf};
use std::time::Duration;

use commerce_supergraph::subgraphs::Subgraph;
use commerce_supergraph::supergraph::{self, Options, Storage, Supergraph};
use commerce_supergraph::token::{self, Claims, TokenRequest};
pub use faults::Faults;
use events::BusConfig;
use kit::config::Settings;
use serde_json::{Value, json};

/// Products seeded into every test's catalog: more than one page of 100.
pub const TEST_CATALOG: usize = 120;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn on_sqlite() {
                    super::$test($crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn on_postgres() {
                    super::$test($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

pub struct TestApp {
    pub supergraph: Supergraph,
    http: reqwest::Client,
    work_dir: PathBuf,
    storage: Storage,
    bus: BusConfig,
    pub faults: Faults,
}

/// Starts the whole supergraph on fresh databases, with the demo catalog.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, test_settings()).await
}

/// Saga timings for tests: a slow payment is slow enough to outlive a
/// reservation only when a test shortens the TTL.
pub fn test_settings() -> Settings {
    Settings {
        reservation_ttl: Duration::from_secs(600),
        expiry_sweep: Duration::from_millis(200),
        sandbox_slow_delay: Duration::from_secs(3),
        // A poison event is dead-lettered within a second or so.
        event_retry: kit::work::Retry { attempts: 5, first: Duration::from_millis(100), max: Duration::from_millis(400) },
        ..Settings::default()
    }
}

pub async fn spawn_app_with(backend: Backend, settings: Settings) -> TestApp {
    spawn_app_configured(backend, settings, None, supergraph::config_dir()).await
}

/// The same, with the router's per-client rate limit replaced.
pub async fn spawn_app_limited(backend: Backend, settings: Settings, rate_limit: Option<u64>) -> TestApp {
    spawn_app_configured(backend, settings, rate_limit, supergraph::config_dir()).await
}

/// The same, configured by the router.yaml, keys and operations in `config_dir`.
pub async fn spawn_app_configured(backend: Backend, settings: Settings, rate_limit: Option<u64>, config_dir: PathBuf) -> TestApp {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let work_dir = std::env::temp_dir().join(format!("commerce-test-{run_id}"));
    let (storage, bus) = match backend {
        Backend::Sqlite => (Storage::Sqlite(work_dir.join("data")), BusConfig::InProcess),
        Backend::Postgres => (
            Storage::Postgres {
                server_url: std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
                prefix: format!("test_{run_id}"),
            },
            BusConfig::Nats {
                url: std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
                namespace: format!("test_{run_id}"),
                // Each run has a stream of its own; the server forgets it soon after.
                max_age: Duration::from_secs(600),
            },
        ),
    };
    spawn(storage, bus, Setup { settings, rate_limit, config_dir, ..Setup::default() }, work_dir).await
}

/// What a test may change in how the supergraph is started.
struct Setup {
    settings: Settings,
    rate_limit: Option<u64>,
    config_dir: PathBuf,
    otlp_endpoint: Option<String>,
    usage_database_url: Option<String>,
    trusted_documents_only: bool,
    playground_headers: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            settings: test_settings(),
            rate_limit: None,
            config_dir: supergraph::config_dir(),
            otlp_endpoint: None,
            usage_database_url: None,
            trusted_documents_only: false,
            playground_headers: None,
        }
    }
}

/// The supergraph on SQLite with the in-process bus, its traces exported to
/// the OTLP/HTTP receiver at `endpoint`.
pub async fn spawn_app_traced(endpoint: &str) -> TestApp {
    spawn_on_sqlite(Setup { otlp_endpoint: Some(endpoint.to_string()), ..Setup::default() }).await
}

/// The supergraph on SQLite, its router recording usage into the database at `url`.
pub async fn spawn_app_recording_usage(url: &str) -> TestApp {
    spawn_on_sqlite(Setup { usage_database_url: Some(url.to_string()), ..Setup::default() }).await
}

/// The supergraph on SQLite, serving only trusted documents to callers
/// without the explore scope.
pub async fn spawn_app_trusted_documents_only() -> TestApp {
    spawn_on_sqlite(Setup { trusted_documents_only: true, ..Setup::default() }).await
}

/// The supergraph on SQLite, its playground's headers editor starting with `headers`.
pub async fn spawn_app_with_playground_headers(headers: &str) -> TestApp {
    spawn_on_sqlite(Setup { playground_headers: Some(headers.to_string()), ..Setup::default() }).await
}

/// The supergraph on SQLite with the in-process bus, started as `setup` says.
async fn spawn_on_sqlite(setup: Setup) -> TestApp {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let work_dir = std::env::temp_dir().join(format!("commerce-test-{run_id}"));
    spawn(Storage::Sqlite(work_dir.join("data")), BusConfig::InProcess, setup, work_dir).await
}

/// The supergraph on SQLite, its events on the NATS server at `url`.
pub async fn spawn_app_on_nats(url: &str) -> TestApp {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let work_dir = std::env::temp_dir().join(format!("commerce-test-{run_id}"));
    let bus = BusConfig::Nats { url: url.to_string(), namespace: format!("test_{run_id}"), max_age: Duration::from_secs(600) };
    spawn(Storage::Sqlite(work_dir.join("data")), bus, Setup::default(), work_dir).await
}

async fn spawn(storage: Storage, bus: BusConfig, setup: Setup, work_dir: PathBuf) -> TestApp {
    let Setup { settings, rate_limit, config_dir, otlp_endpoint, usage_database_url, trusted_documents_only, playground_headers } = setup;
    let faults = Faults::default();
    let supergraph = supergraph::start(Options {
        storage: storage.clone(),
        router_port: supergraph::free_port().expect("a free port"),
        fixed_ports: false,
        seed_products: Some(TEST_CATALOG),
        config_dir,
        work_dir: work_dir.clone(),
        log_level: "warn".into(),
        rate_limit,
        bus: bus.clone(),
        settings: settings.clone(),
        handler_layer: Some(faults.layer()),
        metrics_address: ([127, 0, 0, 1], 0).into(),
        otlp_endpoint,
        usage_database_url,
        trusted_documents_only,
        playground_headers,
    })
    .await;
    match supergraph {
        Ok(supergraph) => TestApp { supergraph, http: reqwest::Client::new(), work_dir, storage, bus, faults },
        Err(error) => {
            // Nothing may be left behind by a start that failed half way either.
            let removed = storage.remove().await.and(bus.remove().await);
            let _ = std::fs::remove_dir_all(&work_dir);
            panic!("the supergraph starts: {error:#} (its databases and stream removed: {removed:?})");
        }
    }
}

/// A test leaves nothing behind: its databases and its NATS stream are
/// dropped when it ends, passed or failed.
impl Drop for TestApp {
    fn drop(&mut self) {
        self.supergraph.signal_stop();
        let (storage, bus) = (self.storage.clone(), self.bus.clone());
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async { storage.remove().await.and(bus.remove().await) })
        })
        .join();
        if !matches!(removed, Ok(Ok(()))) {
            eprintln!("could not remove the test's databases or stream: {removed:?}");
        }
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

impl TestApp {
    /// Sends a GraphQL request to the router; returns the whole JSON body.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.post(&self.supergraph.graphql_url(), json!({ "query": query, "variables": variables }), token).await.1
    }

    /// Runs one of the storefront operations (router-config/storefront/) by name.
    pub async fn operation(&self, name: &str, variables: Value, token: Option<&str>) -> Value {
        self.operation_at(&self.supergraph.graphql_url(), name, variables, token).await
    }

    /// Sends the storefront operation `name` to the GraphQL endpoint at `url`.
    pub async fn operation_at(&self, url: &str, name: &str, variables: Value, token: Option<&str>) -> Value {
        let document = storefront_document(name);
        let body = json!({ "query": document, "operationName": name, "variables": variables });
        self.post(url, body, token).await.1
    }

    /// Posts `body` to `url`; returns the status and the JSON answer.
    pub async fn post(&self, url: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(url).json(&body).timeout(Duration::from_secs(60));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON answer, got {status}: {text}")))
    }

    pub fn subgraph_url(&self, subgraph: Subgraph) -> String {
        self.supergraph.subgraphs[&subgraph].url.clone()
    }

    /// SQL statements a subgraph has run outside transactions so far.
    pub fn statements(&self, subgraph: Subgraph) -> u64 {
        self.supergraph.db(subgraph).statements_run()
    }

    pub async fn first_products(&self, first: usize) -> Vec<Value> {
        let body = self.operation("ProductListing", json!({ "first": first }), None).await;
        body["data"]["products"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect()
    }

    /// The first variant's sku of each of the first `count` products.
    pub async fn first_skus(&self, count: usize) -> Vec<String> {
        let mut skus = Vec::new();
        for product in self.first_products(count).await {
            let page = self.operation("ProductPage", json!({ "slug": product["slug"] }), None).await;
            skus.push(page["data"]["product"]["variants"][0]["sku"].as_str().expect("a sku").to_string());
        }
        skus
    }

    /// A sku of the catalog with at least `units` available.
    pub async fn sku_with_stock(&self, units: i64) -> String {
        let body = self
            .graphql(
                "{ products(first: 50) { edges { node { variants { sku stock { available } } } } } }",
                json!({}),
                None,
            )
            .await;
        let edges = body["data"]["products"]["edges"].as_array().expect("edges").clone();
        edges
            .iter()
            .flat_map(|e| e["node"]["variants"].as_array().cloned().unwrap_or_default())
            .find(|v| v["stock"]["available"].as_i64().unwrap_or(0) >= units)
            .map(|v| v["sku"].as_str().unwrap().to_string())
            .expect("the catalog has a sku with enough stock")
    }
}

/// The operation `name` from the storefront contract (router-config/storefront/),
/// with the fragments it spreads.
pub fn storefront_document(name: &str) -> String {
    let dir = supergraph::config_dir().join("storefront");
    let mut definitions: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("router-config/storefront exists") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("readable");
        definitions.extend(split_definitions(&text));
    }
    let find = |wanted: &str| {
        definitions
            .iter()
            .find(|(defined, _)| defined == wanted)
            .map(|(_, text)| text.clone())
            .unwrap_or_else(|| panic!("no storefront definition is named {wanted}"))
    };
    let operation = find(name);
    let mut document = operation.clone();
    for (fragment, text) in definitions.iter().filter(|(_, text)| text.starts_with("fragment ")) {
        let spread = format!("...{fragment}");
        let spreads = operation.match_indices(&spread).any(|(at, _)| {
            !operation[at + spread.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        });
        if spreads {
            document.push('\n');
            document.push_str(text);
        }
    }
    document
}

/// Splits a GraphQL document into its top-level definitions, by name.
fn split_definitions(text: &str) -> Vec<(String, String)> {
    let mut definitions: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let starts = ["query ", "mutation ", "subscription ", "fragment "].iter().find(|k| line.starts_with(*k));
        if let Some(keyword) = starts {
            let name: String = line[keyword.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            definitions.push((name, String::new()));
        }
        if let Some((_, body)) = definitions.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    definitions
}

pub fn customer_token(subject: &str) -> String {
    token_with_scopes(subject, &[])
}

pub fn token_with_scopes(subject: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let request = TokenRequest { subject, name: Some("Test Customer"), scopes: &scopes, ttl: Duration::from_secs(3600) };
    token::mint(&supergraph::config_dir().join("dev-signing-key.pem"), &request).expect("a dev token")
}

/// Valid claims for a customer, to be spoiled by a test.
pub fn customer_claims(subject: &str) -> Claims {
    token::claims_for(&TokenRequest { subject, name: None, scopes: &[], ttl: Duration::from_secs(3600) })
}

pub fn sign_with_dev_key(claims: &Claims) -> String {
    let pem = std::fs::read(supergraph::config_dir().join("dev-signing-key.pem")).expect("the dev key");
    token::sign(&pem, claims).expect("signed")
}

pub fn sign_with_foreign_key(claims: &Claims) -> String {
    let pem = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/foreign-signing-key.pem"))
        .expect("the foreign key fixture");
    token::sign(&pem, claims).expect("signed")
}

/// The `extensions.code` of the first GraphQL error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("an error with a code in {body}"))
}

/// The codes of a payload's userErrors.
pub fn user_error_codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("userErrors in {payload}"))
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

/// Copies folder `from`, and the folders in it, to `to`.
pub fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
