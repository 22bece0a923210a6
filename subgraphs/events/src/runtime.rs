//! How a subgraph runs in a process: what it is given (`Context`), what it
//! gives back (`Service`: its HTTP app, the handler of the events it
//! consumes, its background workers), and `run`, which serves all of it
//! until shutdown. Each subgraph crate describes itself as a `Subgraph`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures::future::BoxFuture;
use kit::JwtVerifier;
use kit::config::Settings;
use kit::db::Db;
use kit::graph::{GraphClient, Peers};
use prometheus::{GaugeVec, IntGaugeVec, Opts};
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{Bus, Consumer, Handler, Outbox};

/// A subgraph, as its crate describes it.
pub struct Subgraph {
    pub name: &'static str,
    /// Its own migrations; the shared tables (kit) and event tables are added.
    pub migrator: fn() -> Migrator,
    /// Migrations written for one engine (products' full-text index), given
    /// whether the database is PostgreSQL.
    pub engine_migrator: Option<fn(postgres: bool) -> Migrator>,
    /// The SDL it contributes to composition.
    pub sdl: fn() -> String,
    /// The documents it sends to the graph, through the router or straight
    /// to the subgraph that answers them (`Context::peers`): trusted at the
    /// router like the storefront's, and checked against the supergraph by
    /// `supergraph check` (each asks only for what the subgraph it goes to serves).
    pub graph_reads: &'static [&'static str],
    /// Builds its parts from what the process gives it.
    pub start: fn(&Context) -> Service,
}

impl Subgraph {
    /// Opens its database and brings it up to date.
    pub async fn connect(&self, database_url: &str) -> anyhow::Result<Db> {
        let mut migrators = vec![kit::db::migrator(), crate::migrator(), (self.migrator)()];
        migrators.extend(self.engine_migrator.map(|migrator| migrator(database_url.starts_with("postgres"))));
        kit::db::connect(database_url, migrators).await
    }
}

/// What a running subgraph is given.
#[derive(Clone)]
pub struct Context {
    /// Its database, for requests.
    pub db: Db,
    /// The same database counted apart, for the consumer and the workers, so
    /// that the statements requests cost stay readable.
    pub background_db: Db,
    pub verifier: Arc<JwtVerifier>,
    /// The router, for the reads a subgraph makes through the graph.
    pub graph: GraphClient,
    /// The other subgraphs, for the reads that go straight to them.
    pub peers: Peers,
    pub bus: Bus,
    /// Its outbox (on `background_db`).
    pub outbox: Outbox,
    pub settings: Settings,
    /// Turns true when the subgraph must stop.
    pub shutdown: watch::Receiver<bool>,
}

/// What a subgraph runs.
pub struct Service {
    pub app: axum::Router,
    /// What it does with the events it consumes (see contracts::SUBSCRIPTIONS).
    pub handler: Option<Arc<dyn Handler>>,
    /// Background work that ends when `Context::shutdown` turns true.
    pub workers: Vec<BoxFuture<'static, ()>>,
}

impl Service {
    /// The consumer of a subgraph named `name`, when it consumes events.
    pub fn consumer(&self, name: &'static str, context: &Context) -> Option<Consumer> {
        let handler = self.handler.clone()?;
        Some(Consumer { name, db: context.background_db.clone(), handler, outbox: context.outbox.clone(), retry: context.settings.event_retry })
    }
}

/// Serves `subgraph` on `listener` until `context.shutdown`: its HTTP app,
/// its outbox relay, its consumer and its workers. In-flight requests and
/// deliveries finish before it returns.
pub async fn run(subgraph: &'static Subgraph, context: Context, service: Service, listener: TcpListener) -> anyhow::Result<()> {
    let mut background = vec![tokio::spawn(context.outbox.clone().relay(context.shutdown.clone()))];
    if let Some(consumer) = service.consumer(subgraph.name, &context) {
        let (bus, shutdown) = (context.bus.clone(), context.shutdown.clone());
        background.push(tokio::spawn(async move {
            // A consumer that cannot attach (the bus is down) tries again; events wait on the bus.
            while let Err(error) = bus.consume(consumer.clone(), shutdown.clone()).await {
                tracing::error!(consumer = consumer.name, error = %format!("{error:#}"), "the event consumer stopped; reattaching");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    background.extend(service.workers.into_iter().map(tokio::spawn));
    background.push(tokio::spawn(sample_event_gauges(subgraph.name, context.background_db.clone(), context.shutdown.clone())));
    let (db, bus) = (context.db.clone(), context.bus.clone());
    let app = service.app.route("/health", get(|| async { "ok" })).route("/ready", get(move || ready(subgraph.name, db.clone(), bus.clone())));
    let served = kit::server::serve(listener, app, context.shutdown.clone()).await;
    for task in background {
        let _ = task.await;
    }
    context.db.close().await;
    served
}

/// How often the gauges of the event backbone are read from the database.
const GAUGE_SAMPLING: Duration = Duration::from_secs(5);

static OUTBOX_BACKLOG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    kit::metrics::register(IntGaugeVec::new(Opts::new("outbox_backlog_events", "Events in the outbox not yet published"), &["subgraph"]))
});

static OUTBOX_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    kit::metrics::register(GaugeVec::new(Opts::new("outbox_oldest_event_age_seconds", "Age of the oldest event not yet published"), &["subgraph"]))
});

static DEAD_LETTERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    kit::metrics::register(IntGaugeVec::new(Opts::new("dead_letters_waiting", "Dead letters not yet replayed"), &["subgraph"]))
});

/// Keeps the outbox and dead-letter gauges of `subgraph` current.
async fn sample_event_gauges(subgraph: &'static str, db: Db, shutdown: watch::Receiver<bool>) {
    kit::background::repeat("event gauges", GAUGE_SAMPLING, None, shutdown, || async {
        let backlog = crate::backlog(&db).await?;
        OUTBOX_BACKLOG.with_label_values(&[subgraph]).set(backlog.events);
        let age = match backlog.oldest.as_deref().map(kit::db::parse_timestamp).transpose()? {
            Some(oldest) => (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0,
            None => 0.0,
        };
        OUTBOX_AGE.with_label_values(&[subgraph]).set(age);
        DEAD_LETTERS.with_label_values(&[subgraph]).set(crate::dead_letters_waiting(&db).await?);
        Ok(kit::background::Round::Idle)
    })
    .await
}

/// Ready when the database answers and events can flow (for a load
/// balancer's health check: send traffic here only then).
async fn ready(name: &'static str, db: Db, bus: Bus) -> (StatusCode, &'static str) {
    if let Err(error) = sqlx::query("SELECT 1").execute(&db).await {
        tracing::warn!(%error, subgraph = name, "not ready: database unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unreachable");
    }
    if !bus.is_ready() {
        tracing::warn!(subgraph = name, "not ready: the event bus is unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "event bus unreachable");
    }
    (StatusCode::OK, "ready")
}
