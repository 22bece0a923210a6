//! The inventory subgraph: stock per sku. Adds `Variant.stock`,
//! `Variant.inStock` and `Product.inStock` to the catalog's entities.

mod db;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema};
use kit::JwtVerifier;
use kit::db::Db;

pub use db::set_on_hand;
pub use schema::{Mutation, Query};

pub const NAME: &str = "inventory";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/inventory");

pub type InventorySchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: Db) -> InventorySchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .finish()
}

pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>) -> axum::Router {
    kit::server::app(NAME, schema(db.clone()), verifier, db)
}
