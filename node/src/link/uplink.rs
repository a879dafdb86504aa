//! The child's end: dial the parent, keep the stream up, reconnect with backoff.

use super::pump::{self, Shared};
use super::{FRAME_BYTES_MAX, NODE_HEADER};
use crate::error::NodeError;
use linli_core::link::PeerIs;
use linli_proto::v1;
use linli_proto::v1::replication_client::ReplicationClient;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::{ClientTlsConfig, Endpoint};

/// A session that lasted this long resets the backoff: the link was healthy.
const HEALTHY_SESSION: Duration = Duration::from_secs(10);

/// Outbound frames queued per link; with the window this bounds a link's memory.
pub const OUTBOUND_FRAMES_MAX: usize = 64;

/// The id the parent's certificate must name: `configured`, or the host of its URL.
pub fn server_id(parent: &str, configured: Option<&str>) -> String {
    configured.unwrap_or_else(|| linli_tls::url_host(parent)).to_string()
}

/// Keeps the link to `parent` (a URL) up until shutdown; over mutual TLS when `tls`
/// is given.
pub async fn keep_up(shared: Arc<Shared>, parent: String, tls: Option<ClientTlsConfig>) {
    let mut failures: u32 = 0;
    let mut jitter = Jitter::new();
    let mut shutdown = shared.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = Instant::now();
        tokio::select! {
            ran = connect_and_run(&shared, &parent, tls.as_ref()) => match ran {
                Ok(()) => tracing::info!(%parent, "link to parent closed"),
                Err(e) => tracing::warn!(%parent, error = %e, "link to parent failed"),
            },
            // The parent holds the subtree of the last Hello: a new session says more.
            _ = shared.subtree_changed.notified() => {
                tracing::info!(%parent, "subtree grew: announcing it to the parent again");
                continue;
            }
        }
        failures = if started.elapsed() >= HEALTHY_SESSION { 0 } else { failures.saturating_add(1) };
        // Full jitter: a street's communities do not all come back in the same instant.
        let cap = shared.link.backoff_ms_max.min(shared.link.backoff_ms_min.saturating_mul(1 << failures.min(20)));
        let delay = Duration::from_millis(jitter.below(cap.max(1)));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

async fn connect_and_run(shared: &Arc<Shared>, parent: &str, tls: Option<&ClientTlsConfig>) -> Result<(), NodeError> {
    let keepalive = Duration::from_millis(shared.link.keepalive_ms);
    let mut endpoint = Endpoint::from_shared(parent.to_string())?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.clone())?;
    }
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(keepalive)
        .keep_alive_timeout(keepalive * 2)
        .keep_alive_while_idle(true)
        .connect()
        .await?;
    // Frames are compressed by the session (`linli_proto::wire`), not by gRPC; a
    // parent of an older version may still compress its own.
    let mut client = ReplicationClient::new(channel)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(FRAME_BYTES_MAX)
        .max_encoding_message_size(FRAME_BYTES_MAX);
    let (out, frames) = mpsc::channel::<v1::Frame>(OUTBOUND_FRAMES_MAX);
    let mut request = tonic::Request::new(ReceiverStream::new(frames));
    let me = shared.engine.node().to_string();
    let header =
        me.parse().map_err(|_| NodeError::Link { peer: parent.into(), reason: "bad node id header".into() })?;
    request.metadata_mut().insert(NODE_HEADER, header);
    let mut inbound = client.link(request).await?.into_inner();
    let theirs = pump::first_hello(&mut inbound, parent, shared.link.hello_timeout_ms).await?;
    let mine = shared.hello(&theirs.0.node)?;
    out.send(linli_proto::wire::hello_frame(&mine))
        .await
        .map_err(|_| NodeError::Link { peer: parent.into(), reason: "closed during Hello".into() })?;
    pump::run(shared.clone(), PeerIs::Parent, mine, theirs, inbound, out).await
}

/// xorshift64*, seeded from the clock: jitter needs spread, not secrecy.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self(seed | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}
