//! The Prometheus text exposition of a node: its links, log, engine, store, queries
//! and refusals. Names follow Prometheus conventions (base units, `_total` counters);
//! every series carries `node`, links also `peer`. `docs/metrics.md` lists them all,
//! and a test checks that each name listed there appears in a scrape.

use super::{CONSOLE_PAGES, NodeMetrics, QUERY_KINDS};
use crate::engine::EngineHandle;
use crate::link::{LinkStatus, Links, status::now_ms};
use crate::server::authority::Refusals;
use linli_core::views::VIEW_NAMES;
use std::fmt::Write as _;

/// Every metric name a scrape shows (histograms by their base name).
pub const METRIC_NAMES: &[&str] = &[
    "linli_up",
    "linli_log_end",
    "linli_log_bytes",
    "linli_store_disk_bytes",
    "linli_store_memory_bytes",
    "linli_process_resident_bytes",
    "linli_link_connected",
    "linli_link_backlog_entries",
    "linli_link_backlog_bytes",
    "linli_link_lag_entries",
    "linli_link_lag_seconds",
    "linli_link_last_contact_age_seconds",
    "linli_link_sessions_total",
    "linli_link_repairs_total",
    "linli_link_refused_total",
    "linli_changes_applied_total",
    "linli_changes_refused_total",
    "linli_calls_refused_total",
    "linli_documents_quarantined_total",
    "linli_documents_cached",
    "linli_documents_cached_bytes",
    "linli_documents_waiting",
    "linli_log_cache_bytes",
    "linli_view_entries",
    "linli_watches_open",
    "linli_fsync_seconds",
    "linli_engine_step_seconds",
    "linli_engine_batch_requests",
    "linli_link_batch_entries",
    "linli_query_seconds",
];

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    debug_assert!(METRIC_NAMES.contains(&name), "{name} is not in METRIC_NAMES");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, node: &str, value: u64) {
    head(out, name, kind, help);
    let _ = writeln!(out, "{name}{{node=\"{node}\"}} {value}");
}

/// A per-link series: name, type, help text, and its value from the link.
type LinkSeries = (&'static str, &'static str, &'static str, fn(&LinkContext, &LinkStatus) -> u64);

/// What per-link values are computed from.
struct LinkContext {
    log_end: u64,
    now_ms: u64,
    entry_bytes_mean: u64,
}

const LINK_SERIES: [LinkSeries; 8] = [
    ("linli_link_connected", "gauge", "1 while the link's session is up.", |_, s| u64::from(s.connected)),
    ("linli_link_backlog_entries", "gauge", "Entries of this node's log the peer has not acknowledged.", |c, s| {
        c.log_end.saturating_sub(s.acked_through)
    }),
    (
        "linli_link_backlog_bytes",
        "gauge",
        "The backlog in bytes, estimated from the mean size of the entries this process committed.",
        |c, s| c.log_end.saturating_sub(s.acked_through).saturating_mul(c.entry_bytes_mean),
    ),
    ("linli_link_lag_entries", "gauge", "Entries of the peer's log (as last announced) not applied here.", |_, s| {
        s.lag_changes()
    }),
    (
        "linli_link_lag_seconds",
        "gauge",
        "Connected: seconds the oldest entry the peer announced has waited to be applied here (0 caught up); down: \
         seconds since this node last held all of the peer's log it knew of.",
        |c, s| s.lag_ms(c.now_ms) / 1000,
    ),
    ("linli_link_last_contact_age_seconds", "gauge", "Seconds since the peer's last frame.", |c, s| {
        c.now_ms.saturating_sub(s.last_contact_ms) / 1000
    }),
    ("linli_link_sessions_total", "counter", "Sessions started on the link.", |_, s| s.sessions),
    ("linli_link_repairs_total", "counter", "Sessions that ran the repair path.", |_, s| s.repairs),
];

/// The exposition text.
pub fn render(engine: &EngineHandle, links: &Links, calls_refused: &Refusals, watches_open: usize) -> String {
    let metrics: &NodeMetrics = engine.metrics();
    let node = engine.node().to_string();
    let log_end = *engine.log_end().borrow();
    let mut out = String::with_capacity(16 * 1024);
    let up = u64::from(engine.stopped().borrow().is_none());
    gauge(
        &mut out,
        "linli_up",
        "gauge",
        "1 while the engine runs; 0 once it stopped (the process then exits).",
        &node,
        up,
    );
    gauge(&mut out, "linli_log_end", "gauge", "Last sequence number of this node's change log.", &node, log_end);
    let (log_bytes, disk_bytes) = engine.store().map(|store| (store.log_bytes(), store.disk_bytes())).unwrap_or((0, 0));
    gauge(
        &mut out,
        "linli_log_bytes",
        "gauge",
        "Bytes the change log takes (on disk and in write buffers).",
        &node,
        log_bytes,
    );
    gauge(&mut out, "linli_store_disk_bytes", "gauge", "Bytes of the store's files on disk.", &node, disk_bytes);
    let store_memory = engine.store().map(|store| store.memory_bytes()).unwrap_or(0);
    let help = "Bytes of memory the store holds: write buffers, block cache, open table files.";
    gauge(&mut out, "linli_store_memory_bytes", "gauge", help, &node, store_memory);
    let help = "Resident memory of the whole process (0 where the system does not say).";
    gauge(
        &mut out,
        "linli_process_resident_bytes",
        "gauge",
        help,
        &node,
        super::resident_bytes_of("/proc/self/status"),
    );

    let context = LinkContext { log_end, now_ms: now_ms(), entry_bytes_mean: metrics.log_entry_bytes_mean() };
    let all = links.all();
    for (name, kind, help, value) in LINK_SERIES {
        head(&mut out, name, kind, help);
        for (peer, status) in &all {
            let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\"}} {}", value(&context, status));
        }
    }
    let name = "linli_link_refused_total";
    head(&mut out, name, "counter", "Log entries refused, here (from the peer) or there (by the peer).");
    for (peer, status) in &all {
        let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\",at=\"here\"}} {}", status.refused_here);
        let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\",at=\"there\"}} {}", status.refused_there);
    }

    head(
        &mut out,
        "linli_changes_applied_total",
        "counter",
        "Changes applied, written here (local) or from peers (peer).",
    );
    let local = NodeMetrics::get(&metrics.changes_local);
    let peer = NodeMetrics::get(&metrics.changes_peer);
    let _ = writeln!(out, "linli_changes_applied_total{{node=\"{node}\",source=\"local\"}} {local}");
    let _ = writeln!(out, "linli_changes_applied_total{{node=\"{node}\",source=\"peer\"}} {peer}");
    head(&mut out, "linli_changes_refused_total", "counter", "Peers' changes refused, by reason.");
    for (reason, count) in metrics.refusals() {
        let _ = writeln!(out, "linli_changes_refused_total{{node=\"{node}\",reason=\"{reason}\"}} {count}");
    }
    head(&mut out, "linli_calls_refused_total", "counter", "Operators' calls refused, by RPC and rule.");
    for ((rpc, rule), count) in calls_refused.all() {
        let _ = writeln!(out, "linli_calls_refused_total{{node=\"{node}\",rpc=\"{rpc}\",rule=\"{rule}\"}} {count}");
    }
    let quarantined = NodeMetrics::get(&metrics.quarantined);
    let help = "Documents whose stored bytes could not be read, loaded as far as they read.";
    gauge(&mut out, "linli_documents_quarantined_total", "counter", help, &node, quarantined);
    let cached = NodeMetrics::get(&metrics.documents_cached);
    gauge(&mut out, "linli_documents_cached", "gauge", "Documents in the engine's cache.", &node, cached);
    let cached_bytes = NodeMetrics::get(&metrics.documents_cached_bytes);
    let help = "Memory of the documents in the engine's cache, by estimate.";
    gauge(&mut out, "linli_documents_cached_bytes", "gauge", help, &node, cached_bytes);
    let recent_log = NodeMetrics::get(&metrics.recent_log_bytes);
    let help = "Bytes of the newest log entries kept decoded for the links.";
    gauge(&mut out, "linli_log_cache_bytes", "gauge", help, &node, recent_log);
    let waiting = NodeMetrics::get(&metrics.documents_waiting);
    let help = "Documents holding peers' changes that wait for their dependencies.";
    gauge(&mut out, "linli_documents_waiting", "gauge", help, &node, waiting);
    gauge(&mut out, "linli_watches_open", "gauge", "Query watches open.", &node, watches_open as u64);
    let name = "linli_view_entries";
    head(&mut out, name, "gauge", "Entries of each materialized view, as of the last engine step.");
    for (view, entries) in VIEW_NAMES.iter().zip(&metrics.view_entries) {
        let _ = writeln!(out, "{name}{{node=\"{node}\",view=\"{view}\"}} {}", NodeMetrics::get(entries));
    }

    let labels = format!("node=\"{node}\"");
    let histograms = [
        (
            "linli_fsync_seconds",
            "One store commit: its write batch written and the WAL synced.",
            &metrics.fsync_seconds,
        ),
        ("linli_engine_step_seconds", "One engine step on the writer thread.", &metrics.engine_step_seconds),
        (
            "linli_engine_batch_requests",
            "Requests that shared one engine batch and one sync.",
            &metrics.engine_batch_requests,
        ),
        (
            "linli_link_batch_entries",
            "Log entries in one batch received from a peer, as applied.",
            &metrics.link_batch_entries,
        ),
    ];
    for (name, help, histogram) in histograms {
        head(&mut out, name, "histogram", help);
        histogram.render(&mut out, name, &labels);
    }
    head(&mut out, "linli_query_seconds", "histogram", "Query.Ask latency at the server, by query kind.");
    for (kind, histogram) in QUERY_KINDS.iter().zip(&metrics.query_seconds) {
        histogram.render(&mut out, "linli_query_seconds", &format!("{labels},kind=\"{kind}\""));
    }
    let help = "A console page or its live part made at the server, by page.";
    head(&mut out, "linli_console_page_seconds", "histogram", help);
    for (page, histogram) in CONSOLE_PAGES.iter().zip(&metrics.console_page_seconds) {
        histogram.render(&mut out, "linli_console_page_seconds", &format!("{labels},page=\"{page}\""));
    }
    out
}
