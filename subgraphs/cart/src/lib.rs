//! The cart subgraph: guest and customer carts. Owns `Cart` and `CartLine`;
//! prices come from the products subgraph through `@requires`, so a cart
//! never shows a price other than the catalog's.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `cart` (the
//! aggregate and its SQL), `events` (the saga's events: close, reopen).

mod cart;
mod events;
mod schema;

use std::sync::Arc;

use ::events::runtime::{Context, Service, Subgraph};
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::db::Db;
use kit::graph::GraphClient;

pub use schema::{Mutation, Query};

pub const NAME: &str = "cart";

/// The cart, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, engine_migrator: None, sdl, graph_reads: &[schema::CATALOG_PRICES, schema::VARIANT_CURRENCY], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/cart")
}

pub type CartSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    kit::server::federated(Schema::build(Query, Mutation, EmptySubscription))
}

pub fn schema(db: Db, graph: GraphClient) -> CartSchema {
    builder().data(db).data(graph).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let db = db.clone();
    std::sync::Arc::new(move |request, batches| request.data(cart::Loaders::new(&db, batches)))
}

/// Serves the schema and follows checkout: a cart closes when ordered and reopens when the order fails.
pub fn start(context: &Context) -> Service {
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), context.graph.clone()), request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives),
        handler: Some(Arc::new(events::CartEvents)),
        workers: vec![],
    }
}
