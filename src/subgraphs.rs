//! The five subgraphs, by name: their ports, schemas, migrations and apps.

use std::sync::Arc;

use kit::JwtVerifier;
use kit::db::Db;
use kit::graph::GraphClient;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Subgraph {
    Products,
    Inventory,
    Cart,
    Orders,
    Reviews,
}

impl Subgraph {
    pub const ALL: [Subgraph; 5] =
        [Subgraph::Products, Subgraph::Inventory, Subgraph::Cart, Subgraph::Orders, Subgraph::Reviews];

    pub fn name(self) -> &'static str {
        match self {
            Subgraph::Products => products::NAME,
            Subgraph::Inventory => inventory::NAME,
            Subgraph::Cart => cart::NAME,
            Subgraph::Orders => orders::NAME,
            Subgraph::Reviews => reviews::NAME,
        }
    }

    /// Where `supergraph dev` serves it: 4001..4005, next to the router's 4000.
    pub fn default_port(self) -> u16 {
        match self {
            Subgraph::Products => 4001,
            Subgraph::Inventory => 4002,
            Subgraph::Cart => 4003,
            Subgraph::Orders => 4004,
            Subgraph::Reviews => 4005,
        }
    }

    /// The environment variable that overrides its URL for the router.
    pub fn url_variable(self) -> String {
        format!("{}_URL", self.name().to_uppercase())
    }

    pub fn sdl(self) -> String {
        match self {
            Subgraph::Products => products::sdl(),
            Subgraph::Inventory => inventory::sdl(),
            Subgraph::Cart => cart::sdl(),
            Subgraph::Orders => orders::sdl(),
            Subgraph::Reviews => reviews::sdl(),
        }
    }

    /// Opens its database and runs its migrations.
    pub async fn connect(self, database_url: &str) -> anyhow::Result<Db> {
        let migrator = match self {
            Subgraph::Products => &products::MIGRATOR,
            Subgraph::Inventory => &inventory::MIGRATOR,
            Subgraph::Cart => &cart::MIGRATOR,
            Subgraph::Orders => &orders::MIGRATOR,
            Subgraph::Reviews => &reviews::MIGRATOR,
        };
        kit::db::connect(database_url, migrator).await
    }

    pub fn app(self, db: Db, verifier: Arc<JwtVerifier>, graph: GraphClient) -> axum::Router {
        match self {
            Subgraph::Products => products::app(db, verifier),
            Subgraph::Inventory => inventory::app(db, verifier),
            Subgraph::Cart => cart::app(db, verifier, graph),
            Subgraph::Orders => orders::app(db, verifier),
            Subgraph::Reviews => reviews::app(db, verifier, graph),
        }
    }
}
