//! The products subgraph: the catalog. Owns `Product` (keys `id` and `slug`),
//! `Variant` (key `sku`) with its price, and `Category`.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `catalog`
//! (the aggregate and its SQL), `listing` (search, filters, sorting and
//! facets), `search` (the text analyzer), `media` (the demo images),
//! `events` (inventory's stock levels, kept for the availability filter).

mod catalog;
mod events;
mod listing;
mod media;
mod schema;
mod search;

use std::sync::Arc;

use ::events::Outbox;
use ::events::runtime::{Context, Service, Subgraph};
use async_graphql::{EmptySubscription, Schema, SchemaBuilder};
use kit::db::Db;

pub use catalog::{NewCategory, NewImage, NewProduct, NewVariant, insert_catalog, set_availability};
pub use schema::{Mutation, Query};

pub const NAME: &str = "products";

/// The catalog, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, engine_migrator: Some(engine_migrator), sdl, graph_reads: &[], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/products")
}

/// The full-text index, which each engine builds its own way.
pub fn engine_migrator(postgres: bool) -> sqlx::migrate::Migrator {
    match postgres {
        true => sqlx::migrate!("../../migrations/products-postgres"),
        false => sqlx::migrate!("../../migrations/products-sqlite"),
    }
}

pub type ProductsSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    kit::server::federated(Schema::build(Query, Mutation, EmptySubscription))
}

/// `media_base`: where image paths are served from (ends in `/`).
pub fn schema(db: Db, outbox: Outbox, media_base: &str) -> ProductsSchema {
    builder().data(db).data(outbox).data(schema::MediaBase(media_base.to_string())).finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let (db, categories) = (db.clone(), catalog::Categories::default());
    std::sync::Arc::new(move |request, batches| request.data(catalog::Loaders::new(&db, batches, &categories)))
}

/// Serves the catalog and the demo images; price changes go out through its
/// outbox; inventory's stock levels come in.
pub fn start(context: &Context) -> Service {
    // Without MEDIA_BASE_URL, image URLs are relative to this subgraph's own address.
    let media_base = context.settings.media_base_url.as_deref().unwrap_or("/media/");
    let schema = schema(context.db.clone(), context.outbox.clone(), media_base);
    let app = kit::server::app(NAME, schema, request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives);
    Service {
        app: app.route(media::ROUTE, axum::routing::get(media::image)),
        handler: Some(Arc::new(events::CatalogEvents)),
        workers: vec![],
    }
}
