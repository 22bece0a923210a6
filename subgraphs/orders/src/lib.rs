//! The orders subgraph: checkout. Owns `Order`, `placeOrder`, `cancelOrder`,
//! the signed-in customer's order history (`me { orders }`) and the
//! `orderStatusChanged` subscription; runs its side of the checkout saga.

mod checkout;
mod db;
mod events;
pub mod payments;
mod schema;

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder};
use kit::JwtVerifier;
use kit::db::Db;
use kit::events::{Bus, Outbox};
use kit::graph::GraphClient;

pub use events::OrdersEvents;
pub use payments::{PaymentGateway, SandboxGateway};
pub use schema::{Mutation, Query, Subscription};

pub const NAME: &str = "orders";

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/orders")
}

pub type OrdersSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query, Mutation, Subscription).enable_federation().enable_subscription_in_federation()
}

/// What checkout needs besides its database.
#[derive(Clone)]
pub struct Checkout {
    pub graph: GraphClient,
    pub outbox: Outbox,
    pub gateway: Arc<dyn PaymentGateway>,
    pub bus: Bus,
}

pub fn schema(db: Db, checkout: Checkout) -> OrdersSchema {
    builder()
        .data(db::Loaders::new(db.clone()))
        .data(db)
        .data(checkout.graph)
        .data(checkout.outbox)
        .data(checkout.gateway)
        .data(checkout.bus)
        .finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

pub fn app(db: Db, verifier: Arc<JwtVerifier>, checkout: Checkout) -> axum::Router {
    kit::server::app(NAME, schema(db.clone(), checkout), verifier, db)
}
