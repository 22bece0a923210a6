//! `supergraph`: run the commerce supergraph, or one part of it.
#![recursion_limit = "512"]

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use commerce_supergraph::subgraphs::{Serving, Shared, Subgraph};
use commerce_supergraph::supergraph::{self, Options, Storage};
use commerce_supergraph::{bench, compose, router, saga, schema_check, seed, telemetry, token};
use events::{Bus, BusConfig};
use kit::config::{Settings, parse_duration};

/// mimalloc, as Hive Router's own binary uses: every request allocates a
/// great deal (documents, rows, JSON), and glibc's allocator was a fifth of
/// a subgraph's CPU under load.
#[global_allocator]
static ALLOCATOR: hive_router::RouterGlobalAllocator = hive_router::RouterGlobalAllocator;

#[derive(Parser)]
#[command(name = "supergraph", version, about = "A GraphQL federation supergraph for headless commerce")]
struct Cli {
    /// router-config/: router.yaml, the JWT keys and the storefront operations.
    #[arg(long, global = true, env = "ROUTER_CONFIG_DIR", default_value_os_t = supergraph::config_dir())]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on SQLite: five subgraphs and the router (the default).
    Dev {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 4000)]
        port: u16,
        /// Where the Prometheus metrics of the router and the subgraphs are served.
        #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
        metrics_addr: std::net::SocketAddr,
    },
    /// The router alone, configured by router-config/router.yaml; subgraph URLs
    /// come from PRODUCTS_URL, INVENTORY_URL, CART_URL, ORDERS_URL, REVIEWS_URL.
    Router {
        /// Where the Prometheus metrics are served, apart from the public port.
        #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
        metrics_addr: String,
    },
    /// One subgraph alone. DATABASE_URL picks SQLite or PostgreSQL.
    Subgraph {
        name: Subgraph,
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, env = "HOST", default_value = "127.0.0.1")]
        host: String,
        /// Defaults to the subgraph's dev port (4001..4005).
        #[arg(long, env = "PORT")]
        port: Option<u16>,
        /// The router's GraphQL endpoint, for the reads a subgraph makes through it.
        #[arg(long, env = "ROUTER_URL", default_value = "http://127.0.0.1:4000/graphql")]
        router_url: String,
        /// Where the Prometheus metrics are served; defaults to the subgraph's
        /// dev port + 5464 on loopback (products 9465 ... reviews 9469).
        #[arg(long, env = "METRICS_ADDR")]
        metrics_addr: Option<String>,
    },
    /// Writes supergraph.graphql, composed from the five subgraphs, and each
    /// subgraph's SDL to subgraphs/<name>/schema.graphql.
    Compose {
        #[arg(long, default_value = "supergraph.graphql")]
        out: PathBuf,
    },
    /// Checks a schema change as CI would: composition, committed files,
    /// breaking changes against a base, the clients' operations, lint.
    /// Exit code 0 pass, 1 fail, 2 the check could not run.
    Check {
        /// The committed supergraph.
        #[arg(long, default_value = "supergraph.graphql")]
        path: PathBuf,
        /// Check this supergraph (or client-facing schema) instead of the one the code composes.
        #[arg(long)]
        supergraph: Option<PathBuf>,
        /// Compare with this file or git revision (default: the merge base with the default branch).
        #[arg(long)]
        against: Option<String>,
        /// Another folder of operation documents clients send (repeatable);
        /// the storefront's (router-config/storefront) are always checked.
        #[arg(long = "operations")]
        operations: Vec<PathBuf>,
        /// A usage database the router records into (USAGE_DATABASE_URL): a
        /// breaking change that recorded traffic used fails the check.
        #[arg(long)]
        usage: Option<String>,
        /// How many days of recorded traffic count.
        #[arg(long, default_value_t = 30)]
        usage_days: u32,
        /// Fail on every breaking change, used or not.
        #[arg(long)]
        strict: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: schema_check::report::Format,
    },
    /// Prints the client-facing schema (no join__ or link__ machinery), for code generators.
    Schema,
    /// Seeds the demo catalog into empty products, inventory and reviews databases.
    Seed {
        #[arg(long, default_value_t = seed::DEMO_PRODUCTS)]
        products: usize,
        #[arg(long, env = "PRODUCTS_DATABASE_URL", default_value = "sqlite://data/products.db?mode=rwc")]
        products_database_url: String,
        #[arg(long, env = "INVENTORY_DATABASE_URL", default_value = "sqlite://data/inventory.db?mode=rwc")]
        inventory_database_url: String,
        #[arg(long, env = "REVIEWS_DATABASE_URL", default_value = "sqlite://data/reviews.db?mode=rwc")]
        reviews_database_url: String,
    },
    /// Prints a JWT signed with the dev key in router-config/.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        name: Option<String>,
        /// Repeat for several, e.g. --scope catalog:write --scope inventory:write.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, default_value = "12h", value_parser = parse_duration)]
        ttl: std::time::Duration,
    },
    /// Measurements (each starts a supergraph of its own and removes it after).
    Bench {
        #[command(subcommand)]
        measurement: Measurement,
    },
    /// Dead letters: events a consumer failed to handle after every retry.
    Events {
        #[command(subcommand)]
        action: EventsAction,
    },
}

#[derive(Subcommand)]
enum Measurement {
    /// Checkout end to end through the router: orders per second and the
    /// time from placeOrder to CONFIRMED (p50, p99).
    Checkout {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: bench::Backend,
        #[arg(long, default_value_t = 500)]
        orders: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Replicas of orders and inventory (PostgreSQL + NATS only): they
        /// share the events, the outbox relays and the payments.
        #[arg(long, default_value_t = 1)]
        replicas: usize,
    },
    /// Search and filtered listings over a seeded catalog: p50, p99.
    Catalog {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: bench::Backend,
        #[arg(long, default_value_t = 100_000)]
        products: usize,
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
    /// What the worst documents under the router's limits cost it.
    Limits {
        #[arg(long, default_value_t = 20)]
        requests: usize,
    },
    /// The storefront's reads through the router (or other gateways), and
    /// the subgraphs' parts of them directly: requests per second, p50, p99.
    Router {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// With the usage plugin recording which fields are used.
        #[arg(long)]
        record_usage: bool,
        /// A GraphQL endpoint over `supergraph dev`'s subgraphs to measure
        /// instead of a supergraph of the bench's own; repeat for several.
        #[arg(long = "target")]
        targets: Vec<String>,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// Lists the dead letters of every consuming subgraph, with their error.
    DeadLetters {
        #[arg(long)]
        json: bool,
    },
    /// Delivers one dead letter again, once its cause is fixed.
    Replay { id: String },
    /// One order's saga: its status, timeline, reservation, payment, and the
    /// events sent and received about it.
    Order {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default = Command::Dev { data_dir: "./data".into(), port: 4000, metrics_addr: ([127, 0, 0, 1], 9464).into() };
    match cli.command.unwrap_or(default) {
        Command::Dev { data_dir, port, metrics_addr } => tokio_main(dev(cli.config_dir, data_dir, port, metrics_addr)),
        Command::Router { metrics_addr } => router::run_standalone(&cli.config_dir, &metrics_addr),
        Command::Subgraph { name, database_url, host, port, router_url, metrics_addr } => {
            let _telemetry = telemetry::init(&format!("commerce-{}", name.name()))?;
            let database_url = database_url.unwrap_or_else(|| format!("sqlite://data/{}.db?mode=rwc", name.name()));
            let metrics_addr = metrics_addr.unwrap_or_else(|| format!("127.0.0.1:{}", name.default_port() + 5464));
            let address = (host, port.unwrap_or(name.default_port()));
            tokio_main(run_subgraph(cli.config_dir, name, database_url, address, router_url, metrics_addr))
        }
        Command::Compose { out } => compose::write(&out, &cli.config_dir),
        Command::Check { path, supergraph, against, operations, usage, usage_days, strict, format } => {
            let options = schema_check::CheckOptions {
                supergraph_path: path,
                supergraph,
                against,
                operations,
                usage,
                usage_days,
                strict,
                format,
                config_dir: cli.config_dir.clone(),
            };
            match schema_check::run(&options) {
                Ok(passed) => std::process::exit(if passed { 0 } else { 1 }),
                Err(error) => {
                    eprintln!("supergraph check could not run: {error:#}");
                    std::process::exit(2)
                }
            }
        }
        Command::Schema => {
            print!("{}", schema_check::api_schema()?);
            Ok(())
        }
        Command::Seed { products, products_database_url, inventory_database_url, reviews_database_url } => {
            tokio_main(async move {
                let targets = (
                    Subgraph::Products.connect(&products_database_url).await?,
                    Subgraph::Inventory.connect(&inventory_database_url).await?,
                    Subgraph::Reviews.connect(&reviews_database_url).await?,
                );
                let added = seed::seed(
                    &seed::SeedTargets { products: &targets.0, inventory: &targets.1, reviews: &targets.2 },
                    products,
                )
                .await?;
                println!("seeded {added} products (0 means the catalog was not empty)");
                Ok(())
            })
        }
        Command::Bench { measurement: Measurement::Checkout { backend, orders, concurrency, replicas } } => {
            tokio_main(bench::checkout::run(bench::checkout::BenchOptions { backend, orders, concurrency, replicas }))
        }
        Command::Bench { measurement: Measurement::Catalog { backend, products, requests } } => {
            tokio_main(bench::catalog::run(bench::catalog::CatalogBenchOptions { backend, products, requests }))
        }
        Command::Bench { measurement: Measurement::Limits { requests } } => tokio_main(bench::limits::run(requests)),
        Command::Bench { measurement: Measurement::Router { concurrency, seconds, record_usage, targets } } => {
            tokio_main(bench::router::run(bench::router::RouterBenchOptions { concurrency, seconds, record_usage, targets }))
        }
        Command::Events { action } => {
            let _telemetry = telemetry::init("commerce-events")?;
            tokio_main(async move {
                match action {
                    EventsAction::DeadLetters { json } => saga::dead_letters(json).await,
                    EventsAction::Replay { id } => saga::replay(&cli.config_dir, &id).await,
                    EventsAction::Order { id, json } => saga::order(&id, json).await,
                }
            })
        }
        Command::Token { sub, name, scopes, ttl } => {
            let request = token::TokenRequest { subject: &sub, name: name.as_deref(), scopes: &scopes, ttl };
            println!("{}", token::mint(&cli.config_dir.join("dev-signing-key.pem"), &request)?);
            Ok(())
        }
    }
}

fn tokio_main(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(future)
}


async fn dev(config_dir: PathBuf, data_dir: PathBuf, port: u16, metrics_address: std::net::SocketAddr) -> anyhow::Result<()> {
    let customer = token::TokenRequest { subject: "customer-1", name: Some("Dev Customer"), scopes: &[], ttl: std::time::Duration::from_secs(7 * 86_400) };
    let token = token::mint(&config_dir.join("dev-signing-key.pem"), &customer)?;
    let partner = token::TokenRequest { subject: "partner-1", name: Some("Dev Partner"), scopes: &["explore".into()], ttl: std::time::Duration::from_secs(7 * 86_400) };
    let partner_token = token::mint(&config_dir.join("dev-signing-key.pem"), &partner)?;
    let asked_to_stop = kit::background::termination().context("listening for signals to stop")?;
    let running = supergraph::start(Options {
        storage: Storage::Sqlite(data_dir.clone()),
        router_port: port,
        fixed_ports: true,
        seed_products: Some(seed::DEMO_PRODUCTS),
        work_dir: data_dir,
        config_dir: config_dir.clone(),
        // Every request is logged at info; a benchmark through `dev` sets warn.
        log_level: std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        // For benchmarks through `dev`: one load generator is one client.
        rate_limit: std::env::var("RATE_LIMIT_PER_MINUTE").ok().map(|limit| limit.parse()).transpose().context("RATE_LIMIT_PER_MINUTE is a count")?,
        bus: BusConfig::from_env(),
        settings: Settings::from_env()?,
        handler_layer: None,
        metrics_address,
        otlp_endpoint: telemetry::otlp_endpoint(),
        usage_database_url: None,
        trusted_documents_only: supergraph::trusted_documents_only()?,
        playground_headers: Some(serde_json::to_string_pretty(&serde_json::json!({ "Authorization": format!("Bearer {token}") }))?),
    })
    .await?;
    println!("\nThe commerce supergraph is up.");
    println!("  playground and GraphQL endpoint: {}/graphql", running.router_url);
    for subgraph in Subgraph::ALL {
        println!("  subgraph {:<9} {}", subgraph.name(), running.subgraphs[&subgraph].url);
    }
    println!("  metrics (loopback only)   {}", running.metrics_url);
    println!("\nA customer token (7 days), for the Authorization header as `Bearer <token>` (the playground has it):\n{token}\n");
    println!("A partner token with the explore scope (7 days), which may send any document when TRUSTED_DOCUMENTS_ONLY=true:\n{partner_token}\n");
    println!("Ctrl-C (or SIGTERM) stops everything.");
    let mut running = running;
    asked_to_stop.await;
    // The router answers what it has in flight (it needs the subgraphs for
    // that), then the subgraphs finish their requests and deliveries.
    running.router_stopped(std::time::Duration::from_secs(35)).await;
    running.stop().await
}

async fn run_subgraph(
    config_dir: PathBuf,
    subgraph: Subgraph,
    database_url: String,
    (host, port): (String, u16),
    router_url: String,
    metrics_addr: String,
) -> anyhow::Result<()> {
    let bus_config = BusConfig::from_env();
    if matches!(bus_config, BusConfig::InProcess) {
        tracing::warn!("EVENT_BUS is not a nats:// URL: events reach only consumers in this process");
    }
    let listener = std::net::TcpListener::bind((host.as_str(), port))?;
    let subgraph_urls = Subgraph::urls_from_env();
    tracing::info!(
        subgraph = subgraph.name(),
        address = %listener.local_addr()?,
        database = %kit::db::redact(&database_url),
        router = %router_url,
        subgraphs = ?subgraph_urls,
        metrics = %metrics_addr,
        "serving; reads through the graph go to the router (ROUTER_URL), checkout's straight to cart and products (CART_URL, PRODUCTS_URL)"
    );
    let asked_to_stop = kit::background::termination()?;
    let bus = Bus::connect(&bus_config).await?;
    let shared = Shared::new(&config_dir, &router_url, &subgraph_urls, bus.clone(), Settings::from_env()?)?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let metrics = tokio::net::TcpListener::bind(&metrics_addr).await.with_context(|| format!("binding the metrics listener to {metrics_addr} (METRICS_ADDR)"))?;
    tokio::spawn(kit::metrics::serve(metrics, shutdown.clone()));
    let shared = shared.served_at(listener.local_addr()?);
    let (_db, stopped) = Serving::new(subgraph, database_url, &shared).spawn(listener, shutdown).await?;
    bus.open();
    asked_to_stop.await;
    let _ = stop.send(true);
    stopped.await?
}
