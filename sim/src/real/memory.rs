//! Where a real run's memory goes, by tier: every server that runs as a process
//! serves its metrics on a loopback port, and the probe reads them every
//! [`PROBE_EVERY`] (resident memory, the document cache's estimate, RocksDB's
//! buffers and cache, the decoded log, the views' entries). Set side by side over a
//! long run, they say whether memory levels off and, where it does not, which part
//! grows: the resident total alone cannot.
//!
//! Nodes that run inside the simulator share its memory and are not probed.

use crate::report::MemoryParts;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often the probe reads every server's metrics.
pub const PROBE_EVERY: Duration = Duration::from_secs(15);
/// One scrape may take this long; a server that does not answer counts as absent
/// from that sample.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// A scrape's answer is read up to this many bytes (a server's exposition is a few
/// tens of KiB).
const SCRAPE_BYTES_MAX: u64 = 1 << 20;

/// The metrics the probe sums, and the field of [`MemoryParts`] each fills.
const PARTS: [&str; 5] = [
    "linli_process_resident_bytes",
    "linli_documents_cached_bytes",
    "linli_store_memory_bytes",
    "linli_log_cache_bytes",
    "linli_view_entries",
];

/// Rows the probe keeps at most (a day of probes of three tiers); past it, later
/// probes are dropped, and the report's last row is the last kept.
const ROWS_MAX: usize = 20_000;

/// Probes `servers` every [`PROBE_EVERY`], from `started`, into `rows`, until aborted
/// (or [`ROWS_MAX`]).
pub async fn probe_every(
    servers: Vec<(String, String, SocketAddr)>,
    started: Instant,
    rows: Arc<Mutex<Vec<MemoryParts>>>,
) {
    if servers.is_empty() {
        return;
    }
    let mut every = tokio::time::interval(PROBE_EVERY);
    loop {
        every.tick().await;
        let probed = probe(&servers, started.elapsed().as_secs_f64()).await;
        let mut rows = rows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rows.len() + probed.len() > ROWS_MAX {
            tracing::warn!(rows = rows.len(), "the memory probe holds its most rows; it stops");
            return;
        }
        rows.extend(probed);
    }
}

/// Reads `servers` (id, tier, metrics address) once and sums them by tier; `at_s`:
/// seconds since the run started.
pub async fn probe(servers: &[(String, String, SocketAddr)], at_s: f64) -> Vec<MemoryParts> {
    let mut by_tier: BTreeMap<&str, MemoryParts> = BTreeMap::new();
    for (_, tier, addr) in servers {
        let Some(values) = scrape(*addr).await else { continue };
        let parts = by_tier.entry(tier.as_str()).or_insert_with(|| MemoryParts {
            at_s,
            tier: tier.clone(),
            ..MemoryParts::default()
        });
        parts.servers += 1;
        parts.resident_bytes += values[0];
        parts.documents_bytes += values[1];
        parts.store_bytes += values[2];
        parts.log_cache_bytes += values[3];
        parts.view_entries += values[4];
    }
    by_tier.into_values().collect()
}

/// The sums of [`PARTS`] in one server's exposition; `None` if it does not answer.
async fn scrape(addr: SocketAddr) -> Option<[u64; PARTS.len()]> {
    let started = Instant::now();
    let text = tokio::time::timeout(SCRAPE_TIMEOUT, async {
        let mut socket = tokio::net::TcpStream::connect(addr).await.ok()?;
        socket.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.ok()?;
        let mut body = String::new();
        socket.take(SCRAPE_BYTES_MAX).read_to_string(&mut body).await.ok()?;
        Some(body)
    })
    .await
    .ok()??;
    tracing::debug!(%addr, ms = started.elapsed().as_millis() as u64, "memory probe");
    Some(sum_parts(&text))
}

/// Sums every series of each of [`PARTS`] in an exposition (labels aside).
fn sum_parts(text: &str) -> [u64; PARTS.len()] {
    let mut sums = [0u64; PARTS.len()];
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let name = series.split('{').next().unwrap_or(series);
        if let (Some(i), Ok(value)) = (PARTS.iter().position(|part| *part == name), value.parse::<u64>()) {
            sums[i] += value;
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_series_of_a_part_and_nothing_else() {
        let text = "# HELP linli_view_entries x\n# TYPE linli_view_entries gauge\n\
                    linli_view_entries{node=\"a\",view=\"counts\"} 12\n\
                    linli_view_entries{node=\"a\",view=\"open\"} 30\n\
                    linli_process_resident_bytes{node=\"a\"} 4096\n\
                    linli_log_cache_bytes_total{node=\"a\"} 7\n\
                    linli_store_memory_bytes{node=\"a\"} not-a-number\n";
        assert_eq!(sum_parts(text), [4096, 0, 0, 0, 42]);
    }
}
