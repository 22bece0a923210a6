//! The five subgraphs, by name, and how this binary serves one of them.
//! What each subgraph runs is its own crate's business (its `SUBGRAPH`).

use std::sync::Arc;

use anyhow::Context as _;
use events::runtime::{self, Context};
use events::{Bus, Consumer, Handler, Outbox};
use kit::JwtVerifier;
use kit::config::Settings;
use kit::db::Db;
use kit::graph::{GraphClient, Peers};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Subgraph {
    Products,
    Inventory,
    Cart,
    Orders,
    Reviews,
}

impl Subgraph {
    pub const ALL: [Subgraph; 5] = [Subgraph::Products, Subgraph::Inventory, Subgraph::Cart, Subgraph::Orders, Subgraph::Reviews];

    /// What the subgraph's crate says it runs.
    pub fn definition(self) -> &'static runtime::Subgraph {
        match self {
            Subgraph::Products => &products::SUBGRAPH,
            Subgraph::Inventory => &inventory::SUBGRAPH,
            Subgraph::Cart => &cart::SUBGRAPH,
            Subgraph::Orders => &orders::SUBGRAPH,
            Subgraph::Reviews => &reviews::SUBGRAPH,
        }
    }

    pub fn name(self) -> &'static str {
        self.definition().name
    }

    /// Its committed SDL, beside its code (written by `supergraph compose`).
    pub fn sdl_file(self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("subgraphs/{}/schema.graphql", self.name()))
    }

    /// Where `supergraph dev` serves it: 4001..4005, next to the router's 4000.
    pub fn default_port(self) -> u16 {
        4001 + Subgraph::ALL.iter().position(|s| *s == self).expect("listed") as u16
    }

    /// The variable that says where it answers when another process serves
    /// it: `{NAME}_URL`, e.g. CART_URL.
    pub fn url_variable(self) -> String {
        format!("{}_URL", self.name().to_uppercase())
    }

    /// Where it answers when another process serves it: `url_variable` (as
    /// the router is told), else its dev port on loopback.
    pub fn url_from_env(self) -> String {
        std::env::var(self.url_variable()).unwrap_or_else(|_| format!("http://127.0.0.1:{}/graphql", self.default_port()))
    }

    /// Every subgraph's name and `url_from_env`.
    pub fn urls_from_env() -> Vec<(String, String)> {
        Subgraph::ALL.iter().map(|subgraph| (subgraph.name().to_string(), subgraph.url_from_env())).collect()
    }

    /// Opens its database and runs its migrations.
    pub async fn connect(self, database_url: &str) -> anyhow::Result<Db> {
        self.definition().connect(database_url).await
    }
}

/// Wraps a subgraph's event handler (tests inject failures with it).
pub type HandlerLayer = Arc<dyn Fn(&'static str, Arc<dyn Handler>) -> Arc<dyn Handler> + Send + Sync>;

/// What every subgraph served by one process shares.
#[derive(Clone)]
pub struct Shared {
    pub verifier: Arc<JwtVerifier>,
    /// The router, for the reads subgraphs make through the graph.
    pub graph: GraphClient,
    /// Every subgraph at its own endpoint, for the reads that go straight to one.
    pub peers: Peers,
    pub bus: Bus,
    pub settings: Settings,
    pub handler_layer: Option<HandlerLayer>,
}

impl Shared {
    /// Tokens verified as router-config/router.yaml says; the graph read at
    /// `router_url`, and each subgraph at its entry in `subgraph_urls` (name,
    /// GraphQL endpoint), with a service token: SERVICE_TOKEN (from the
    /// shop's identity provider), or in dev one minted with the dev key.
    pub fn new(config_dir: &std::path::Path, router_url: &str, subgraph_urls: &[(String, String)], bus: Bus, settings: Settings) -> anyhow::Result<Self> {
        let auth = crate::auth::auth_config(&crate::auth::load_router_config(config_dir)?)?;
        let verifier = Arc::new(JwtVerifier::new(auth)?);
        let service_token = match std::env::var("SERVICE_TOKEN") {
            Ok(token) => token,
            Err(_) => crate::token::mint_service_token(config_dir)
                .context("minting a dev service token (set SERVICE_TOKEN to your identity provider's)")?,
        };
        Ok(Shared {
            verifier,
            peers: Peers::new(subgraph_urls, Some(&service_token)),
            graph: GraphClient::new(router_url, Some(service_token)),
            bus,
            settings,
            handler_layer: None,
        })
    }

    /// What a subgraph listening on `address` shares: without MEDIA_BASE_URL,
    /// images are served from its own `/media/` (the products subgraph's demo images).
    pub fn served_at(&self, address: std::net::SocketAddr) -> Shared {
        let mut shared = self.clone();
        shared.settings.media_base_url.get_or_insert_with(|| format!("http://{address}/media/"));
        shared
    }
}

/// One subgraph's configuration: enough to start it, and to start it again.
#[derive(Clone)]
pub struct Serving {
    pub subgraph: Subgraph,
    pub database_url: String,
    shared: Shared,
}

impl Serving {
    pub fn new(subgraph: Subgraph, database_url: String, shared: &Shared) -> Self {
        Serving { subgraph, database_url, shared: shared.clone() }
    }

    /// Opens the database and serves the subgraph on `listener` (its app, relay,
    /// consumer and workers) until `shutdown`. Returns the database once it is
    /// open and migrated, and the task that ends when the subgraph has stopped.
    pub async fn spawn(
        &self,
        listener: std::net::TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<(Db, tokio::task::JoinHandle<anyhow::Result<()>>)> {
        let db = self.subgraph.connect(&self.database_url).await?;
        let context = self.context(db.clone(), shutdown);
        let mut service = (self.subgraph.definition().start)(&context);
        service.handler = service.handler.map(|handler| self.layered(handler));
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let definition = self.subgraph.definition();
        Ok((db, tokio::spawn(runtime::run(definition, context, service, listener))))
    }

    /// The consumer of a consuming subgraph, on its database, for a replay.
    pub fn consumer(&self, db: Db) -> anyhow::Result<Consumer> {
        let (_, shutdown) = watch::channel(true);
        let context = self.context(db, shutdown);
        let mut service = (self.subgraph.definition().start)(&context);
        service.handler = service.handler.map(|handler| self.layered(handler));
        service.consumer(self.subgraph.name(), &context).with_context(|| format!("{} consumes no events", self.subgraph.name()))
    }

    fn context(&self, db: Db, shutdown: watch::Receiver<bool>) -> Context {
        let background_db = db.counted_apart();
        Context {
            outbox: Outbox::new(background_db.clone(), self.shared.bus.clone(), self.shared.settings.event_retry),
            background_db,
            db,
            verifier: self.shared.verifier.clone(),
            graph: self.shared.graph.clone(),
            peers: self.shared.peers.clone(),
            bus: self.shared.bus.clone(),
            settings: self.shared.settings.clone(),
            shutdown,
        }
    }

    fn layered(&self, handler: Arc<dyn Handler>) -> Arc<dyn Handler> {
        match &self.shared.handler_layer {
            Some(layer) => layer(self.subgraph.name(), handler),
            None => handler,
        }
    }
}
