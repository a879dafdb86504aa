//! An OTLP trace collector in the process: the trace service of OpenTelemetry's
//! protocol on a loopback port, keeping the spans it is sent. Tests point servers'
//! exporters at it to follow a write across tiers; benches to measure what tracing
//! costs with a real export.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// Spans kept at most; later ones are counted in [`Collector::dropped`] and dropped.
pub const SPANS_MAX: usize = 200_000;

/// One span as received.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectedSpan {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits; empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// Every attribute as text.
    pub attributes: BTreeMap<String, String>,
    /// The spans linked to, as (trace id, span id) in hex.
    pub links: Vec<(String, String)>,
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
}

#[derive(Default)]
struct Received {
    spans: Vec<CollectedSpan>,
    dropped: u64,
}

#[derive(Clone, Default)]
struct Service(Arc<Mutex<Received>>);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let spans = request.into_inner().resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
        for span in spans {
            if received.spans.len() >= SPANS_MAX {
                received.dropped += 1;
                continue;
            }
            let attributes = span
                .attributes
                .iter()
                .map(|kv| (kv.key.clone(), text(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                .collect();
            received.spans.push(CollectedSpan {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                name: span.name,
                attributes,
                links: span.links.iter().map(|l| (hex(&l.trace_id), hex(&l.span_id))).collect(),
                start_unix_ns: span.start_time_unix_nano,
                end_unix_ns: span.end_time_unix_nano,
            });
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// The collector; stops when dropped.
pub struct Collector {
    addr: SocketAddr,
    received: Service,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Collector {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Service::default();
        let service = TraceServiceServer::new(received.clone());
        let server = tokio::spawn(async move {
            let serving = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener));
            if let Err(e) = serving.await {
                tracing::warn!(error = %e, "the trace collector stopped");
            }
        });
        Ok(Self { addr, received, server })
    }

    /// What an exporter is pointed at (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.received.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).spans.clone()
    }

    /// Spans received past [`SPANS_MAX`], not kept.
    pub fn dropped(&self) -> u64 {
        self.received.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).dropped
    }
}
