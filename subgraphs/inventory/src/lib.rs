//! The inventory subgraph: stock per sku. Adds `Variant.stock`,
//! `Variant.inStock` and `Product.inStock` to the catalog's entities.

mod db;
mod events;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;

pub use db::set_on_hand;
pub use events::InventoryEvents;
pub use schema::{Mutation, Query};

pub const NAME: &str = "inventory";

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/inventory")
}

pub type InventorySchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db) -> InventorySchema {
    builder()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>) -> axum::Router {
    kit::server::app(NAME, schema(db.clone()), verifier, db)
}
