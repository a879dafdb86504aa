//! The W3C trace context of a write, carried with its change from tier to tier.
//!
//! An operator follows one write from the community where it was made to the district
//! by its trace: every tier that applies the change records its spans under the
//! write's trace id. The context rides in the log entry itself ([`crate::store::LogEntry::traces`]),
//! not on the connection, so it survives reconnects, catch-up after a cut and a
//! restart. Core only carries the bytes; the runtime makes spans of them (and only
//! when it exports traces: a write made with tracing off has no context and costs
//! nothing here).
//!
//! One log entry may hold the changes of many writes (a batch's writes to one
//! document, or a street's merge of several of a community's entries): it carries the
//! context of each, up to [`TRACES_PER_ENTRY_MAX`]. Past the bound the later ones are
//! dropped: their writes still travel, their traces just end at that tier.

use std::fmt;

/// Trace contexts one log entry carries at most, here and on the wire.
pub const TRACES_PER_ENTRY_MAX: usize = 16;

/// A W3C trace context: the trace, the span that made the change, and the flags
/// (bit 0: sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// Why bytes or a `traceparent` are not a trace context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceContextError {
    #[error("a stored trace context is {0} bytes, expected 25")]
    Length(usize),
    #[error("trace id is {0} bytes, expected 16")]
    TraceIdLength(usize),
    #[error("span id is {0} bytes, expected 8")]
    SpanIdLength(usize),
    #[error("trace flags {0} do not fit a byte")]
    Flags(u32),
    #[error("trace id or span id is all zeros, which W3C trace context makes invalid")]
    Zero,
    #[error("traceparent `{0}` is not `00-<32 hex>-<16 hex>-<2 hex>`")]
    Traceparent(String),
}

impl TraceContext {
    /// Bytes of [`Self::encode`].
    pub const ENCODED_LEN: usize = 25;

    pub fn new(trace_id: &[u8], span_id: &[u8], flags: u32) -> Result<Self, TraceContextError> {
        let trace_id: [u8; 16] = trace_id.try_into().map_err(|_| TraceContextError::TraceIdLength(trace_id.len()))?;
        let span_id: [u8; 8] = span_id.try_into().map_err(|_| TraceContextError::SpanIdLength(span_id.len()))?;
        let flags = u8::try_from(flags).map_err(|_| TraceContextError::Flags(flags))?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return Err(TraceContextError::Zero);
        }
        Ok(Self { trace_id, span_id, flags })
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// A `traceparent` header's value (version 00), as gRPC and HTTP carry it.
    pub fn parse_traceparent(value: &str) -> Result<Self, TraceContextError> {
        let bad = || TraceContextError::Traceparent(value.chars().take(64).collect());
        let parts: Vec<&str> = value.trim().split('-').collect();
        let [version, trace, span, flags] = parts.as_slice() else { return Err(bad()) };
        if *version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return Err(bad());
        }
        let trace = hex(trace).ok_or_else(bad)?;
        let span = hex(span).ok_or_else(bad)?;
        let flags = hex(flags).ok_or_else(bad)?;
        Self::new(&trace, &span, u32::from(flags[0]))
    }

    /// The trace id as 32 lowercase hex digits, as tracing backends show it.
    pub fn trace_id_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Trace id, span id, flags: what the store keeps per context.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.trace_id);
        out.extend_from_slice(&self.span_id);
        out.push(self.flags);
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, TraceContextError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(TraceContextError::Length(bytes.len()));
        }
        Self::new(&bytes[..16], &bytes[16..24], u32::from(bytes[24]))
    }
}

impl fmt::Display for TraceContext {
    /// The `traceparent` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span: String = self.span_id.iter().map(|b| format!("{b:02x}")).collect();
        write!(f, "00-{}-{span}-{:02x}", self.trace_id_hex(), self.flags)
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Adds `more` to `into`, each context once, up to [`TRACES_PER_ENTRY_MAX`]; what
/// does not fit is dropped (see the module's docs).
pub fn join(into: &mut Vec<TraceContext>, more: impl IntoIterator<Item = TraceContext>) {
    for trace in more {
        if into.len() >= TRACES_PER_ENTRY_MAX {
            return;
        }
        if !into.contains(&trace) {
            into.push(trace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_bad_ones_are_refused() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = TraceContext::parse_traceparent(header).unwrap();
        assert!(trace.sampled());
        assert_eq!(trace.to_string(), header);
        let mut bytes = Vec::new();
        trace.encode(&mut bytes);
        assert_eq!(TraceContext::decode(&bytes).unwrap(), trace);
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-000000000000000g-01",
            "",
        ] {
            assert!(TraceContext::parse_traceparent(bad).is_err(), "{bad}");
        }
        assert_eq!(TraceContext::new(&[1; 15], &[1; 8], 1), Err(TraceContextError::TraceIdLength(15)));
        assert_eq!(TraceContext::new(&[1; 16], &[1; 8], 256), Err(TraceContextError::Flags(256)));
    }

    #[test]
    fn join_keeps_each_context_once_and_stops_at_the_bound() {
        let trace = |i: u8| TraceContext { trace_id: [i; 16], span_id: [1; 8], flags: 1 };
        let mut traces = vec![trace(1)];
        join(&mut traces, [trace(1), trace(2)]);
        assert_eq!(traces, vec![trace(1), trace(2)]);
        join(&mut traces, (3..40).map(trace));
        assert_eq!(traces.len(), TRACES_PER_ENTRY_MAX);
        assert_eq!(traces.last(), Some(&trace(TRACES_PER_ENTRY_MAX as u8)));
    }
}
