//! The reviews subgraph: customer reviews and ratings. Owns `Review` and adds
//! `Product.reviews` and `Product.rating` to the catalog's product.

mod db;
mod events;
mod schema;

use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;
use kit::graph::GraphClient;

pub use events::ReviewsEvents;
pub use schema::{Mutation, Query};

pub const NAME: &str = "reviews";

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/reviews")
}

pub type ReviewsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query, Mutation, EmptySubscription).enable_federation()
}

pub fn schema(db: Db, graph: GraphClient) -> ReviewsSchema {
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

pub use db::{NewReview, insert_review};
