//! The products subgraph: the catalog. Owns `Product` (keys `id` and `slug`),
//! `Variant` (key `sku`) with its price, and `Category`.

mod db;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema};
use kit::JwtVerifier;
use kit::db::Db;

pub use db::{NewProduct, NewVariant, insert_catalog};
pub use schema::{Mutation, Query};

pub const NAME: &str = "products";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/products");

pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn schema(db: Db) -> ProductsSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .finish()
}

/// The SDL this subgraph contributes to composition.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>) -> axum::Router {
    kit::server::app(NAME, schema(db.clone()), verifier, db)
}
