//! Prometheus metrics over plain HTTP: the links' lag and backlog, and the log's end.
//!
//! A minimal responder (any request gets the text exposition, then the connection
//! closes): metrics must not pull a web framework into every node. Requests are read
//! up to 8 KiB and answered within 5 s, or dropped.

use super::authority::Refusals;
use crate::engine::EngineHandle;
use crate::link::{Links, status::now_ms};
use std::fmt::Write as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// A per-link gauge: name, help text, and its value from the log's end and the link.
type Gauge = (&'static str, &'static str, fn(u64, &crate::link::LinkStatus) -> u64);

/// The exposition text.
pub fn render(engine: &EngineHandle, links: &Links, refusals: &Refusals) -> String {
    let log_end = *engine.log_end().borrow();
    let mut out = String::new();
    let node = engine.node();
    let _ = writeln!(out, "# HELP linli_log_end Last sequence number of this node's change log.");
    let _ = writeln!(out, "# TYPE linli_log_end gauge");
    let _ = writeln!(out, "linli_log_end{{node=\"{node}\"}} {log_end}");
    let gauges: [Gauge; 6] = [
        ("linli_link_connected", "1 while the link's session is up.", |_, s| u64::from(s.connected)),
        ("linli_link_backlog_changes", "Log entries of this node not yet acknowledged by the peer.", |end, s| {
            end.saturating_sub(s.acked_through)
        }),
        ("linli_link_inbound_lag_changes", "Entries of the peer's log not yet applied here.", |_, s| {
            s.peer_log_end.saturating_sub(s.applied_through)
        }),
        ("linli_link_last_contact_age_seconds", "Seconds since the peer's last frame.", |_, s| {
            now_ms().saturating_sub(s.last_contact_ms) / 1000
        }),
        ("linli_link_sessions_total", "Sessions started on the link.", |_, s| s.sessions),
        ("linli_link_repairs_total", "Sessions that ran the repair path.", |_, s| s.repairs),
    ];
    let all = links.all();
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (peer, status) in &all {
            let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\"}} {}", value(log_end, status));
        }
    }
    let _ = writeln!(out, "# HELP linli_link_refused_total Log entries refused, here (from the peer) or there.");
    let _ = writeln!(out, "# TYPE linli_link_refused_total counter");
    for (peer, status) in &all {
        let _ = writeln!(
            out,
            "linli_link_refused_total{{node=\"{node}\",peer=\"{peer}\",at=\"here\"}} {}",
            status.refused_here
        );
        let _ = writeln!(
            out,
            "linli_link_refused_total{{node=\"{node}\",peer=\"{peer}\",at=\"there\"}} {}",
            status.refused_there
        );
    }
    let _ = writeln!(out, "# HELP linli_calls_refused_total Operators' calls refused, by RPC and rule.");
    let _ = writeln!(out, "# TYPE linli_calls_refused_total counter");
    for ((rpc, rule), count) in refusals.all() {
        let _ = writeln!(out, "linli_calls_refused_total{{node=\"{node}\",rpc=\"{rpc}\",rule=\"{rule}\"}} {count}");
    }
    out
}

/// Serves metrics on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    engine: EngineHandle,
    links: Links,
    refusals: Refusals,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((mut socket, _)) = accepted else { continue };
        let body = render(&engine, &links, &refusals);
        tokio::spawn(async move {
            let answer = async {
                let mut request = vec![0u8; REQUEST_BYTES_MAX];
                let _ = socket.read(&mut request).await?;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                socket.write_all(head.as_bytes()).await?;
                socket.write_all(body.as_bytes()).await?;
                socket.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), answer).await;
        });
    }
}
