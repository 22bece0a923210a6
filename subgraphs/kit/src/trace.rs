//! Where work comes from: the request id and W3C trace context of the
//! storefront request that started it, carried through every subgraph and
//! into every event that follows from it.

/// The request, or the event, that caused a piece of work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The request id of the request that started the chain (a placeOrder's),
    /// carried by every event that follows from it.
    pub correlation_id: String,
    /// That request's W3C `traceparent`, so a trace spans the whole saga.
    pub traceparent: Option<String>,
}
