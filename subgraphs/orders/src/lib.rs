//! The orders subgraph: owns `Order` and the signed-in customer's order
//! history (`me { orders }`).

mod db;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema};
use kit::JwtVerifier;
use kit::db::Db;

pub use schema::Query;

pub const NAME: &str = "orders";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/orders");

pub type OrdersSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub fn schema(db: Db) -> OrdersSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .finish()
}

pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .enable_federation()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>) -> axum::Router {
    kit::server::app(NAME, schema(db.clone()), verifier, db)
}
