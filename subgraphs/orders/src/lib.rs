//! The orders subgraph: checkout and what follows. Owns `Order`,
//! `checkoutQuote`, `placeOrder` (customers and guests), `cancelOrder`, the
//! back office's `fulfillOrder`, `returnOrderLines` and `refundOrder`, the
//! signed-in customer's order history (`me { orders }`) and the
//! `orderStatusChanged` subscription; runs its side of the checkout saga.
//!
//! Reads top-down: `schema` (the GraphQL types and resolvers), `order`,
//! `pricing` (shipping and tax), `fulfilment` and `payment` (the aggregates
//! and their SQL; `sandbox` is the payment provider), `events` (the saga's
//! events, each handed to one step).

mod events;
mod fulfilment;
mod order;
mod payment;
mod pricing;
mod sandbox;
mod schema;

use std::sync::Arc;

use ::events::runtime::{Context, Service, Subgraph};
use ::events::{Bus, Outbox};
use async_graphql::{Schema, SchemaBuilder};
use futures::FutureExt;
use kit::db::Db;

pub use order::{CartSource, OrderSaga, order_saga};
pub use payment::{Authorization, PaymentGateway};
pub use sandbox::SandboxGateway;
pub use schema::{Mutation, Query, Subscription};

pub const NAME: &str = "orders";

/// Orders, as a process runs it.
pub const SUBGRAPH: Subgraph = Subgraph { name: NAME, migrator, engine_migrator: None, sdl, graph_reads: &[order::CART_LINES, order::CATALOG_PRICES], start };

pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/orders")
}

pub type OrdersSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    kit::server::federated(Schema::build(Query, Mutation, Subscription).enable_subscription_in_federation())
}

/// What checkout needs besides its database.
#[derive(Clone)]
pub struct Checkout {
    pub carts: CartSource,
    pub outbox: Outbox,
    pub gateway: Arc<dyn PaymentGateway>,
    pub bus: Bus,
}

pub fn schema(db: Db, checkout: Checkout) -> OrdersSchema {
    builder()
        .data(db)
        .data(checkout.carts)
        .data(checkout.outbox)
        .data(checkout.gateway)
        .data(checkout.bus)
        .finish()
}

pub fn sdl() -> String {
    kit::server::sdl(&builder().finish())
}

/// What each request gets: the batch loaders, reading `db`.
pub fn request_data(db: &Db) -> kit::server::RequestData {
    let db = db.clone();
    std::sync::Arc::new(move |request, batches| request.data(order::Loaders::new(&db, batches)).data(fulfilment::Loaders::new(&db, batches)))
}

static ORDERS: std::sync::LazyLock<prometheus::IntGaugeVec> = std::sync::LazyLock::new(|| {
    kit::metrics::register(prometheus::IntGaugeVec::new(prometheus::Opts::new("orders", "Orders, by status"), &["status"]))
});

/// Keeps the orders-per-status gauge current.
fn sample_orders(context: &Context) -> impl std::future::Future<Output = ()> + use<> {
    let db = context.background_db.clone();
    kit::background::repeat("order gauges", std::time::Duration::from_secs(5), None, context.shutdown.clone(), move || {
        let db = db.clone();
        async move {
            for (status, count) in order::orders_by_status(&db).await? {
                ORDERS.with_label_values(&[status.as_str()]).set(count);
            }
            Ok(kit::background::Round::Idle)
        }
    })
}

/// Rejects the orders that did not settle within the reservation TTL, and
/// wakes the payment worker to void what was authorized for them.
fn expire_reservations(context: &Context, payments: &payment::Payments) -> impl std::future::Future<Output = ()> + use<> {
    let (db, outbox, payments, ttl) = (context.background_db.clone(), context.outbox.clone(), payments.clone(), context.settings.reservation_ttl);
    kit::background::repeat("reservation expiry", context.settings.expiry_sweep, None, context.shutdown.clone(), move || {
        let (db, outbox, payments) = (db.clone(), outbox.clone(), payments.clone());
        async move {
            if order::expire_reservations(&db, &outbox, ttl).await? > 0 {
                payments.wake();
            }
            Ok(kit::background::Round::Idle)
        }
    })
}

/// Serves the schema, consumes the saga's events, takes payments, and
/// rejects the orders that do not settle in time.
pub fn start(context: &Context) -> Service {
    let gateway: Arc<dyn PaymentGateway> = Arc::new(SandboxGateway::new(context.background_db.clone(), context.settings.sandbox_slow_delay));
    let payments = payment::Payments::new(context.background_db.clone(), gateway.clone(), context.outbox.clone());
    let carts = CartSource { cart: context.peers.client("cart"), products: context.peers.client("products") };
    let checkout = Checkout { carts, outbox: context.outbox.clone(), gateway, bus: context.bus.clone() };
    Service {
        app: kit::server::app(NAME, schema(context.db.clone(), checkout), request_data(&context.db), context.verifier.clone(), context.settings.authorization_directives),
        handler: Some(Arc::new(events::OrdersEvents { payments: payments.clone() })),
        workers: vec![
            expire_reservations(context, &payments).boxed(),
            payments.take_payments(context.shutdown.clone()).boxed(),
            sample_orders(context).boxed(),
        ],
    }
}
