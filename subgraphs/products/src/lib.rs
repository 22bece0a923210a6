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
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, sdl, start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/products")
}

pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db, outbox: Outbox) -> ProductsSchema {
    builder().data(catalog::Loaders::new(&db)).data(db).data(outbox).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// Serves the catalog; price changes go out through its outbox.
pub fn start(context: &Context) -> Service {
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), context.outbox.clone()), context.verifier.clone(), context.db.clone()),
        handler: None,
        workers: vec![],
    }
}
