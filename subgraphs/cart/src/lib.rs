//! The cart subgraph: guest and customer carts. Owns `Cart` and `CartLine`;
//! prices come from the products subgraph through `@requires`, so a cart
//! never shows a price other than the catalog's.

mod db;
mod events;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;
use kit::graph::GraphClient;

pub use events::CartEvents;
pub use schema::{Mutation, Query};

pub const NAME: &str = "cart";

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/cart")
}

pub type CartSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db, graph: GraphClient) -> CartSchema {
    builder()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .data(graph)
        .finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>, graph: GraphClient) -> axum::Router {
    kit::server::app(NAME, schema(db.clone(), graph), verifier, db)
}
