//! The products subgraph: the catalog. Owns `Product` (keys `id` and `slug`),
//! `Variant` (key `sku`) with its price, and `Category`.

mod db;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;
use kit::events::Outbox;

pub use db::{NewProduct, NewVariant, insert_catalog};
pub use schema::{Mutation, Query};

pub const NAME: &str = "products";

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/products")
}

pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db, outbox: Outbox) -> ProductsSchema {
    builder()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .data(outbox)
        .finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>, outbox: Outbox) -> axum::Router {
    kit::server::app(NAME, schema(db.clone(), outbox), verifier, db)
}
