//! The reviews subgraph: customer reviews and ratings. Owns `Review` and adds
//! `Product.reviews` and `Product.rating` to the catalog's product.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `review` (the
//! aggregate and its SQL), `events` (verified purchases from OrderConfirmed).

mod events;
mod review;
mod schema;

use std::sync::Arc;

use ::events::runtime::{Context, Service, Subgraph};
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::db::Db;
use kit::graph::GraphClient;

pub use review::{NewReview, insert_review, insert_reviews};
pub use schema::{Mutation, Query};

pub const NAME: &str = "reviews";

/// Reviews, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, engine_migrator: None, sdl, graph_reads: &[schema::PRODUCT_EXISTS], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/reviews")
}

pub type ReviewsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    kit::server::federated(Schema::build(Query, Mutation, EmptySubscription))
}

pub fn schema(db: Db, graph: GraphClient) -> ReviewsSchema {
    builder().data(db).data(graph).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let db = db.clone();
    std::sync::Arc::new(move |request, batches| request.data(review::Loaders::new(&db, batches)))
}

/// Serves the schema and marks verified purchases from confirmed orders.
pub fn start(context: &Context) -> Service {
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), context.graph.clone()), request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives),
        handler: Some(Arc::new(events::ReviewsEvents)),
        workers: vec![],
    }
}
