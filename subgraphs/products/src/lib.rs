//! The products subgraph: the catalog. Owns `Product` (keys `id` and `slug`),
//! `Variant` (key `sku`) with its price, and `Category`.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `catalog`
//! (the aggregate and its SQL).

mod catalog;
mod schema;

use ::events::Outbox;
use ::events::runtime::{Context, Service, Subgraph};
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::db::Db;

pub use catalog::{NewProduct, NewVariant, insert_catalog};
pub use schema::{Mutation, Query};

pub const NAME: &str = "products";

/// The catalog, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, sdl, graph_reads: &[], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/products")
}

pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    kit::server::federated(Schema::build(Query, Mutation, EmptySubscription))
}

pub fn schema(db: Db, outbox: Outbox) -> ProductsSchema {
    builder().data(db).data(outbox).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let db = db.clone();
    std::sync::Arc::new(move |request, batches| request.data(catalog::Loaders::new(&db, batches)))
}

/// Serves the catalog; price changes go out through its outbox.
pub fn start(context: &Context) -> Service {
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), context.outbox.clone()), request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives),
        handler: None,
        workers: vec![],
    }
}
