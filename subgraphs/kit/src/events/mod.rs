//! The event backbone: a versioned envelope, a transactional outbox with its
//! relay, idempotent consumers, and two buses (in-process, NATS JetStream).
//!
//! Life of an event: a producer writes it to its outbox in the same
//! transaction as the state change; the relay publishes it; each consuming
//! subgraph applies it in one transaction that also records the event id, so
//! a redelivery changes nothing. A delivery that keeps failing becomes a dead
//! letter in the consumer's database, to be listed and replayed.

mod bus;
pub mod contracts;
mod delivery;
mod outbox;

pub use bus::{Bus, BusConfig, Faults};
pub use contracts::Contract;
pub use delivery::{Consumer, DeadLetter, Handler, MAX_ATTEMPTS, dead_letters, first_delivery, replay};
pub use outbox::{Outbox, record};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

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

/// Where an event comes from: the request, or the event, that caused it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub correlation_id: String,
    pub traceparent: Option<String>,
}

impl Envelope {
    pub fn new<C: Contract>(producer: &str, trace: &Trace, payload: &C) -> Self {
        Envelope {
            id: crate::db::new_id(),
            event_type: C::TYPE.to_string(),
            version: C::VERSION,
            occurred_at: crate::db::now(),
            producer: producer.to_string(),
            correlation_id: trace.correlation_id.clone(),
            traceparent: trace.traceparent.clone(),
            payload: serde_json::to_value(payload).expect("event payloads serialize"),
        }
    }

    /// The trace an event caused by this one carries on.
    pub fn trace(&self) -> Trace {
        Trace { correlation_id: self.correlation_id.clone(), traceparent: self.traceparent.clone() }
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
