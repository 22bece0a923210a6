//! The event backbone: a versioned envelope, a transactional outbox with its
//! relay, idempotent consumers, and two buses (in-process, NATS JetStream);
//! and the runtime that runs a subgraph with its consumer and workers.
//!
//! Life of an event: a producer writes it to its outbox in the same
//! transaction as the state change; the relay publishes it; each consuming
//! subgraph applies it in one transaction that also records the event id, so
//! a redelivery changes nothing. A delivery that keeps failing becomes a dead
//! letter in the consumer's database, to be listed and replayed.

mod bus;
pub mod contracts;
mod delivery;
mod live;
mod outbox;
pub mod runtime;

pub use bus::{Bus, BusConfig};
pub use contracts::Contract;
pub use delivery::{Consumer, DeadLetter, Handler, dead_letters, dead_letters_waiting, received, replay};
pub use live::Following;
pub use kit::trace::Trace;
pub use outbox::{Backlog, Outbox, SentEvent, backlog, record, recording, sent_about};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// The event tables every subgraph database has (migrations/events): the
/// outbox, the events each consumer has applied, failures and dead letters.
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("../../migrations/events")
}

/// What travels on the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub occurred_at: String,
    /// The subgraph that wrote it.
    pub producer: String,
    /// The request that started the chain (a placeOrder's request id), carried
    /// by every event that follows from it.
    pub correlation_id: String,
    /// The W3C trace context of that request, so a trace spans the whole saga.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub payload: serde_json::Value,
}

impl Envelope {
    /// What must stay in order: the events about one order (or one sku) are
    /// published and handled one after another, in the order they happened;
    /// events about different ones go side by side.
    pub fn ordering_key(&self) -> &str {
        ["order_id", "sku"].iter().find_map(|field| self.payload.get(*field).and_then(serde_json::Value::as_str)).unwrap_or(&self.id)
    }

    pub fn new<C: Contract>(producer: &str, trace: &Trace, payload: &C) -> Self {
        Envelope {
            id: kit::db::new_id(),
            event_type: C::TYPE.to_string(),
            version: C::VERSION,
            occurred_at: kit::db::now(),
            producer: producer.to_string(),
            correlation_id: trace.correlation_id.clone(),
            traceparent: trace.traceparent.clone(),
            payload: serde_json::to_value(payload).expect("event payloads serialize"),
        }
    }

    /// The trace an event caused by this one carries on: from the span
    /// handling this one, when traces are exported.
    pub fn trace(&self) -> Trace {
        Trace { correlation_id: self.correlation_id.clone(), traceparent: kit::trace::current_traceparent(self.traceparent.clone()) }
    }

    /// The payload as `C`: refused when the type differs or the version is
    /// newer than this code knows.
    pub fn decode<C: Contract>(&self) -> anyhow::Result<C> {
        if self.event_type != C::TYPE {
            bail!("event {} is a {}, not a {}", self.id, self.event_type, C::TYPE);
        }
        if self.version > C::VERSION {
            bail!("event {} is {} v{}, newer than v{} this code reads", self.id, self.event_type, self.version, C::VERSION);
        }
        serde_json::from_value(self.payload.clone()).with_context(|| format!("decoding {} {}", self.event_type, self.id))
    }
}
