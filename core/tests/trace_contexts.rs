//! A write's trace context rides with its change: into the community's log entry
//! (one entry for a batch's writes to one document carries each write's context),
//! through the store, and into the entry a street logs when it applies the change,
//! so the tiers above join the same traces.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{Event, Scope, Traces};
use linli_core::store::Storage;
use linli_core::trace::TraceContext;
use linli_core::write::Write;

fn trace(n: u8) -> TraceContext {
    TraceContext { trace_id: [n; 16], span_id: [n; 8], flags: 1 }
}

fn traced(i: usize, trace: Option<TraceContext>) -> Write {
    Write { trace, ..Write::create(COMMUNITY, "requests", &request_fields(i)) }
}

#[test]
fn a_batch_s_traced_writes_reach_the_street_s_log_entry() {
    let mut community = community();
    let writes = vec![(0, traced(0, Some(trace(1)))), (1, traced(1, None)), (2, traced(2, Some(trace(2))))];
    community.step(Event::Writes { writes, now_ms: NOW_MS }).unwrap();
    let logged = community.store.log_after(0, 10).unwrap();
    let entry = logged.iter().find(|e| e.doc.registry == "requests").expect("the requests entry");
    assert_eq!(entry.traces, vec![trace(1), trace(2)], "the entry of the three writes");

    // An untraced write's entry carries none.
    new_request(&mut community, 3);
    let last = community.store.log_after(entry.seq, 10).unwrap();
    assert!(last.iter().all(|e| e.traces.is_empty()), "{last:?}");

    // The street applies the entry with its contexts: its own entry carries them on.
    let mut street = replica("lg-pingdi", Scope::Owners([COMMUNITY.to_string()].into()));
    let traces: Traces = [(entry.doc.clone(), entry.traces.clone())].into();
    let origin = NodeId::new(COMMUNITY).unwrap();
    let docs = vec![(entry.doc.clone(), entry.changes.clone())];
    let event =
        Event::Changes { origin, actors_refused: Default::default(), docs, traces, meta: Vec::new(), now_ms: NOW_MS };
    street.step(event).unwrap();
    let relogged = street.store.log_after(0, 10).unwrap();
    let entry_there = relogged.iter().find(|e| e.doc == entry.doc).expect("logged at the street");
    assert_eq!(entry_there.traces, vec![trace(1), trace(2)]);
}
