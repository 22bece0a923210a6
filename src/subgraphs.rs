//! The five subgraphs, by name: their ports, schemas, migrations, apps and
//! the event work each does in the background.

use std::sync::Arc;
use std::time::Duration;

use kit::JwtVerifier;
use kit::db::Db;
use kit::events::{Bus, Consumer, Outbox};
use kit::graph::GraphClient;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Subgraph {
    Products,
    Inventory,
    Cart,
    Orders,
    Reviews,
}

/// Tunables of the checkout saga.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long inventory holds stock for an order that has not settled.
    pub reservation_ttl: Duration,
    /// How often inventory looks for expired reservations.
    pub expiry_sweep: Duration,
    /// How long the sandbox gateway takes to answer `tok_slow`.
    pub sandbox_slow_delay: Duration,
}

impl Settings {
    /// The defaults, overridden by RESERVATION_TTL, RESERVATION_SWEEP and
    /// SANDBOX_SLOW_DELAY (durations like 90s, 15m).
    pub fn from_env() -> anyhow::Result<Self> {
        let mut settings = Settings::default();
        for (variable, target) in [
            ("RESERVATION_TTL", &mut settings.reservation_ttl),
            ("RESERVATION_SWEEP", &mut settings.expiry_sweep),
            ("SANDBOX_SLOW_DELAY", &mut settings.sandbox_slow_delay),
        ] {
            if let Ok(text) = std::env::var(variable) {
                *target = parse_duration(&text).map_err(|e| anyhow::anyhow!("{variable}: {e}"))?;
            }
        }
        Ok(settings)
    }
}

/// Parses "250ms", "90s", "15m", "2h", "7d" or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 90s, 15m or 2h"))?;
    let millis = match unit {
        "ms" => value,
        "" | "s" => value * 1000,
        "m" => value * 60_000,
        "h" => value * 3_600_000,
        "d" => value * 86_400_000,
        _ => return Err(format!("{text:?} is not a duration like 90s, 15m or 2h")),
    };
    Ok(Duration::from_millis(millis))
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            reservation_ttl: Duration::from_secs(15 * 60),
            expiry_sweep: Duration::from_secs(5),
            sandbox_slow_delay: Duration::from_secs(3),
        }
    }
}

/// What a running subgraph is given.
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub verifier: Arc<JwtVerifier>,
    /// The router, for reads a subgraph makes on a caller's behalf.
    pub graph: GraphClient,
    pub bus: Bus,
    pub outbox: Outbox,
    pub settings: Settings,
    /// Wakes the orders payment worker when a reservation comes in.
    pub payments_due: Arc<tokio::sync::Notify>,
}

impl Subgraph {
    pub const ALL: [Subgraph; 5] =
        [Subgraph::Products, Subgraph::Inventory, Subgraph::Cart, Subgraph::Orders, Subgraph::Reviews];

    pub fn name(self) -> &'static str {
        match self {
            Subgraph::Products => products::NAME,
            Subgraph::Inventory => inventory::NAME,
            Subgraph::Cart => cart::NAME,
            Subgraph::Orders => orders::NAME,
            Subgraph::Reviews => reviews::NAME,
        }
    }

    /// Where `supergraph dev` serves it: 4001..4005, next to the router's 4000.
    pub fn default_port(self) -> u16 {
        match self {
            Subgraph::Products => 4001,
            Subgraph::Inventory => 4002,
            Subgraph::Cart => 4003,
            Subgraph::Orders => 4004,
            Subgraph::Reviews => 4005,
        }
    }

    pub fn sdl(self) -> String {
        match self {
            Subgraph::Products => products::sdl(),
            Subgraph::Inventory => inventory::sdl(),
            Subgraph::Cart => cart::sdl(),
            Subgraph::Orders => orders::sdl(),
            Subgraph::Reviews => reviews::sdl(),
        }
    }

    /// Opens its database and runs its migrations.
    pub async fn connect(self, database_url: &str) -> anyhow::Result<Db> {
        let migrator = match self {
            Subgraph::Products => products::migrator(),
            Subgraph::Inventory => inventory::migrator(),
            Subgraph::Cart => cart::migrator(),
            Subgraph::Orders => orders::migrator(),
            Subgraph::Reviews => reviews::migrator(),
        };
        kit::db::connect(database_url, migrator).await
    }

    pub fn app(self, context: &Context) -> axum::Router {
        let Context { db, verifier, graph, .. } = context.clone();
        match self {
            Subgraph::Products => products::app(db, verifier, context.outbox.clone()),
            Subgraph::Inventory => inventory::app(db, verifier),
            Subgraph::Cart => cart::app(db, verifier, graph),
            Subgraph::Orders => orders::app(db, verifier, self.checkout(context)),
            Subgraph::Reviews => reviews::app(db, verifier, graph),
        }
    }

    fn checkout(self, context: &Context) -> orders::Checkout {
        orders::Checkout {
            graph: context.graph.clone(),
            outbox: context.outbox.clone(),
            gateway: Arc::new(orders::SandboxGateway::new(context.db.clone(), context.settings.sandbox_slow_delay)),
            bus: context.bus.clone(),
        }
    }

    /// Its durable consumer, for the subgraphs that consume events.
    pub fn consumer(self, context: &Context) -> Option<Consumer> {
        let db = context.db.clone();
        let handler: Arc<dyn kit::events::Handler> = match self {
            Subgraph::Products => return None,
            Subgraph::Inventory => Arc::new(self.inventory_events(context)),
            Subgraph::Cart => Arc::new(cart::CartEvents { db: db.clone() }),
            Subgraph::Orders => Arc::new(self.orders_events(context)),
            Subgraph::Reviews => Arc::new(reviews::ReviewsEvents { db: db.clone() }),
        };
        Some(Consumer { name: self.name(), db, handler })
    }

    fn orders_events(self, context: &Context) -> orders::OrdersEvents {
        let checkout = self.checkout(context);
        orders::OrdersEvents {
            db: context.db.clone(),
            outbox: checkout.outbox,
            gateway: checkout.gateway,
            payments_due: context.payments_due.clone(),
        }
    }

    fn inventory_events(self, context: &Context) -> inventory::InventoryEvents {
        inventory::InventoryEvents {
            db: context.db.clone(),
            outbox: context.outbox.clone(),
            reservation_ttl: context.settings.reservation_ttl,
        }
    }

    /// Starts its background work on the current runtime: the outbox relay,
    /// its consumer, and (inventory) the reservation expiry sweep. The tasks
    /// end when `shutdown` turns true.
    pub fn start_background(self, context: &Context, shutdown: &tokio::sync::watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(context.outbox.clone().relay(shutdown.clone()))];
        if let Some(consumer) = self.consumer(context) {
            let bus = context.bus.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                // A consumer that cannot attach (the bus is down) tries again; events wait on the bus.
                while let Err(error) = bus.consume(consumer.clone(), shutdown.clone()).await {
                    tracing::error!(consumer = consumer.name, %error, "the event consumer stopped; reattaching");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
        }
        match self {
            Subgraph::Inventory => {
                let sweep = Arc::new(self.inventory_events(context));
                tasks.push(tokio::spawn(sweep.expire_reservations(context.settings.expiry_sweep, shutdown.clone())));
            }
            Subgraph::Orders => tasks.push(tokio::spawn(self.orders_events(context).take_payments(shutdown.clone()))),
            _ => {}
        }
        tasks
    }
}
