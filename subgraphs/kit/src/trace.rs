//! Where work comes from: the request id and W3C trace context of the
//! storefront request that started it, carried through every subgraph and
//! into every event that follows from it. When traces are exported
//! (OpenTelemetry), each step's span is a child of the step before, so one
//! trace runs from the storefront request through every subgraph fetch and
//! every event handler of the saga.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The request, or the event, that caused a piece of work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The request id of the request that started the chain (a placeOrder's),
    /// carried by every event that follows from it.
    pub correlation_id: String,
    /// The W3C `traceparent` of the step that caused this one.
    pub traceparent: Option<String>,
}

/// Makes `span` a child of the step `traceparent` names. Without a tracer
/// (traces not exported) this changes nothing.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(parent) = traceparent.and_then(parse) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
}

/// The `traceparent` to hand on to the next step: the current span's when
/// traces are exported, else `incoming` unchanged, so the trace id travels
/// either way.
pub fn current_traceparent(incoming: Option<String>) -> Option<String> {
    let context = tracing::Span::current().context();
    let current = context.span().span_context().clone();
    if !current.is_valid() {
        return incoming;
    }
    Some(format!("00-{}-{}-{:02x}", current.trace_id(), current.span_id(), current.trace_flags().to_u8()))
}

/// A W3C `traceparent` (version 00): `00-<trace id>-<span id>-<flags>`.
fn parse(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace_id, span_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace_id.len() != 32 || span_id.len() != 16 || flags.len() != 2 {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// The trace id a `traceparent` names, for logs ("" without one).
pub fn trace_id(traceparent: Option<&str>) -> &str {
    traceparent.and_then(|t| t.split('-').nth(1)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_w3c_traceparent_is_read_and_anything_else_refused() {
        let context = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(context.is_sampled());
        for bad in ["", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-xyz-00f067aa0ba902b7-01"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert_eq!(trace_id(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
