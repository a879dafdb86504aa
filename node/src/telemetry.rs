//! Traces across tiers: spans of every hop of a write, exported over OTLP.
//!
//! Off unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! names a collector (OTLP over gRPC, e.g. `http://collector:4317`); the other
//! standard variables apply as the OpenTelemetry SDK reads them (`OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`). Off, no span of a hop is
//! made and no write carries a context: the cost is one relaxed load per write.
//!
//! On, a write's call is the span `linli.write` (a child of the caller's
//! `traceparent`, where it sent one), and its context rides in the write's log entry
//! (see `linli_core::trace`). Every hop after it makes its span a child of that
//! context: the engine step that applied it (`linli.engine.step`, with
//! `linli.views.move` from core and `linli.log.append` for the synced commit), the
//! batch shipped (`linli.link.ship`) and the batch applied at the parent
//! (`linli.link.apply`, whose own engine step follows). A span that serves many writes
//! is the child of the first and links to the others ([`join`]), so each write's trace
//! reaches every tier. Every span names the node (`linli.node`) and its tier, since
//! one process may hold several nodes (tests, a lab).
//!
//! A node with tracing off still carries the contexts of its children's entries to
//! its parent: a district that traces sees the writes of communities that do, across
//! a street that does not.

use linli_core::trace::TraceContext;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are exported: set once, when the exporter is installed.
static ENABLED: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Links one span carries at most: a batch of many traced writes links to the first
/// this many, past the one it is a child of.
pub const LINKS_MAX: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("the OTLP trace exporter for `{endpoint}` (from {source_var}) could not be built: {reason}")]
    Exporter { endpoint: String, source_var: &'static str, reason: String },
    #[error("trace export was already set up in this process")]
    AlreadySet,
}

/// The collector named by the environment, and the variable that named it.
pub fn endpoint_from_env() -> Option<(String, &'static str)> {
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"].into_iter().find_map(|var| {
        let value = std::env::var(var).ok()?;
        (!value.trim().is_empty()).then(|| (value.trim().to_string(), var))
    })
}

/// A layer that exports every span to the OTLP collector at `endpoint` (gRPC), in
/// batches off the caller's thread. Must run inside a tokio runtime, which must
/// outlive the export (the exporter's connection lives on it). Turns the hops'
/// spans on for the whole process.
pub fn layer<S>(endpoint: &str, source_var: &'static str) -> Result<impl tracing_subscriber::Layer<S>, TelemetryError>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let failed = |reason: String| TelemetryError::Exporter { endpoint: endpoint.to_string(), source_var, reason };
    let exporter =
        SpanExporter::builder().with_tonic().with_endpoint(endpoint).build().map_err(|e| failed(e.to_string()))?;
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    let tracer = provider.tracer("linli");
    PROVIDER.set(provider).map_err(|_| TelemetryError::AlreadySet)?;
    ENABLED.store(true, Ordering::Relaxed);
    // Only linli's own spans: a dependency's spans (tonic's, h2's) would be exported
    // under every write.
    let only_linli = tracing_subscriber::filter::filter_fn(|meta| meta.name().starts_with("linli."));
    Ok(tracing_subscriber::Layer::with_filter(tracing_opentelemetry::layer().with_tracer(tracer), only_linli))
}

/// Whether this process exports traces (and so makes the hops' spans).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Exports every span ended so far, now.
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// Exports what is left and stops the exporter; at the end of `main`, while the
/// runtime still runs.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        tracing::warn!(error = %e, "traces not all exported at shutdown");
    }
}

/// The context `span` gives the changes made under it, when its trace is sampled.
pub fn context_of(span: &Span) -> Option<TraceContext> {
    if !enabled() || span.is_none() {
        return None;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() || !span_context.is_sampled() {
        return None;
    }
    Some(TraceContext {
        trace_id: span_context.trace_id().to_bytes(),
        span_id: span_context.span_id().to_bytes(),
        flags: span_context.trace_flags().to_u8(),
    })
}

fn remote(trace: &TraceContext) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(trace.trace_id),
        opentelemetry::trace::SpanId::from_bytes(trace.span_id),
        TraceFlags::new(trace.flags),
        true,
        TraceState::default(),
    )
}

/// Makes `span` (just created, not entered yet) the child of the first of `traces`
/// and links it to the next ones, up to [`LINKS_MAX`]; the rest are not read. Returns
/// it, for chaining.
pub fn join(span: Span, traces: impl IntoIterator<Item = TraceContext>) -> Span {
    let mut traces = traces.into_iter();
    let Some(first) = traces.next() else { return span };
    let parent = opentelemetry::Context::new().with_remote_span_context(remote(&first));
    // Fails only where no OpenTelemetry layer is installed: the span is then not
    // exported anyway.
    let _ = span.set_parent(parent);
    for trace in traces.take(LINKS_MAX) {
        span.add_link(remote(&trace));
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_no_span_gives_a_context() {
        assert!(!enabled());
        assert_eq!(context_of(&tracing::info_span!("linli.write")), None);
        assert_eq!(context_of(&Span::none()), None);
    }
}
