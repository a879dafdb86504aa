//! Sim mode end to end: a small district through every kind of fault passes its
//! checks, and the same seed gives the same report, byte for byte.

mod common;

use linli_sim::faults::{self, Fault, FaultKind};
use linli_sim::report::Report;
use linli_sim::topology::Topology;

/// Four simulated hours from 08:00.
const SECONDS: u64 = 4 * 3_600;

fn faults(topology: &Topology) -> Vec<Fault> {
    let clock = common::clock();
    let specs: Vec<_> = [
        "cut,community:1,600,1800",
        "cut,street:2,3000,900",
        "crash,community:3,1200,300",
        "wipe,street:1,7200,120",
        "delay,community:5,600,3600,400",
        "loss,community:2,900,3600,5",
        "skew,community:4,0,14000,-120000",
        "kill,street:3,4000,300",
        "move,community:8,5400,street:1",
        "split,community:6,6000",
    ]
    .iter()
    .map(|flag| faults::parse_flag(flag).expect("flag"))
    .collect();
    faults::expand(&specs, topology, &clock, SECONDS * 1_000).expect("faults")
}

fn run(seed: u64) -> Report {
    let topology = Topology::sized("small", "t", 3, 8, seed).expect("topology");
    let faults = faults(&topology);
    common::run(topology, seed, SECONDS, faults)
}

#[test]
fn a_district_through_every_fault_passes_its_checks_the_same_way_twice() {
    let first = run(11);
    for check in &first.checks {
        assert!(check.passed, "check {} failed: {}", check.name, check.detail);
    }
    assert!(first.records > 500, "records: {}", first.records);
    assert!(first.propagation.as_ref().is_some_and(|p| p.count > 100), "propagation: {:?}", first.propagation);
    // The watermarks the parents' Acks bring down say the district holds the probes,
    // a little after a read finds them there (one more Ack comes down the tree).
    let (read, durable) = (first.propagation.as_ref(), first.propagation_durable.as_ref());
    assert!(durable.is_some_and(|d| d.count > 100), "watermarks: {durable:?}");
    assert!(
        durable.zip(read).is_some_and(|(d, r)| d.p50_ms >= r.p50_ms * 0.5 && d.p50_ms <= r.p50_ms * 4.0 + 50.0),
        "by watermark {durable:?}, by read {read:?}"
    );
    // A cut street shows its lag: entries from its side and seconds.
    let lag_max = first.samples.iter().flat_map(|s| s.street_lag.iter()).max().copied().unwrap_or(0);
    let lag_ms_max = first.samples.iter().flat_map(|s| s.street_lag_ms.iter()).max().copied().unwrap_or(0);
    assert!(lag_max > 0 && lag_ms_max >= 1_000, "lag max {lag_max} entries, {lag_ms_max} ms");
    let caught_up: Vec<&str> = first.catch_ups.iter().map(|c| c.node.as_str()).collect();
    for node in ["t-s01-c01", "t-s02", "t-s01", "t-s03"] {
        assert!(caught_up.contains(&node), "{node} did not catch up: {:?}", first.catch_ups);
    }
    // The moved community's whole log reached its new street.
    assert!(
        first.catch_ups.iter().any(|c| c.kind == FaultKind::Move && c.node.starts_with("t-s03-") && c.log_entries > 0),
        "{:?}",
        first.catch_ups
    );
    // The split moved the old community's records to the two new ones.
    let split = first.splits.first().expect("a split");
    assert_eq!(split.moved.len(), 2, "{split:?}");
    assert!(split.moved.values().all(|n| *n > 0), "{split:?}");
    assert!(
        first.idle_reconnect.as_ref().is_some_and(|i| i.bytes > 0 && i.bytes < 2_000),
        "{:?}",
        first.idle_reconnect
    );

    let json = |r: &Report| serde_json::to_string_pretty(r).expect("json");
    assert_eq!(json(&first), json(&run(11)), "a seed gives one report");
    assert_ne!(json(&first), json(&run(12)), "another seed, another run");
}
