//! The inventory subgraph: stock per sku and the reservations of the checkout
//! saga. Adds `Variant.stock`, `Variant.inStock` and `Product.inStock` to the
//! catalog's entities.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `stock` and
//! `reservation` (the aggregates and their SQL), `events` (the saga's events,
//! each handed to one step of `reservation`).

mod events;
mod reservation;
mod schema;
mod stock;

use std::sync::Arc;

use ::events::runtime::{Context, Service, Subgraph};
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::db::Db;

pub use reservation::{ReservationView, reservation_of};
pub use schema::{Mutation, Query};
pub use stock::set_on_hand;

pub const NAME: &str = "inventory";

/// Inventory, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, engine_migrator: None, sdl, graph_reads: &[], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/inventory")
}

pub type InventorySchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    kit::server::federated(Schema::build(Query, Mutation, EmptySubscription))
}

pub fn schema(db: Db, outbox: ::events::Outbox) -> InventorySchema {
    builder().data(db).data(outbox).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let db = db.clone();
    std::sync::Arc::new(move |request, batches| request.data(stock::Loaders::new(&db, batches)))
}

/// Serves the schema and consumes the saga's events.
pub fn start(context: &Context) -> Service {
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), context.outbox.clone()), request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives),
        handler: Some(Arc::new(events::InventoryEvents { reservation_ttl: context.settings.reservation_ttl })),
        workers: vec![],
    }
}
