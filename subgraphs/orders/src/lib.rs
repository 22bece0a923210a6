//! The orders subgraph: owns `Order` and the signed-in customer's order
//! history (`me { orders }`).

mod db;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;

pub use schema::Query;

pub const NAME: &str = "orders";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/orders");

pub type OrdersSchema = Schema<Query, EmptyMutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db) -> OrdersSchema {
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
