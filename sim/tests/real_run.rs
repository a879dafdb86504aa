//! A small district run end to end in real mode, with faults: the checks pass, the
//! measurements are there, the report is written.

use linli_sim::faults::{self, Fault};
use linli_sim::run::{Mode, RunConfig, run_real};
use linli_sim::topology::Topology;
use linli_sim::workload::Clock;
use std::time::Duration;

const START_MS: i64 = 1_794_758_400_000 + 8 * 3_600_000;

fn config(topology: Topology, faults: Vec<Fault>, seconds: u64) -> RunConfig {
    RunConfig {
        mode: Mode::Real,
        topology,
        seed: 7,
        duration: Duration::from_secs(seconds),
        rate: 5.0,
        speed: 600.0,
        start_ms: START_MS,
        faults,
        settle: Duration::from_secs(60),
        progress: false,
        command: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_district_with_a_cut_and_a_crash_passes_its_checks() {
    let topology = Topology::sized("small", "t", 2, 5, 7).expect("topology");
    let clock = Clock { start_ms: START_MS, speed: 600.0 };
    let specs = vec![
        faults::parse_flag("cut,community:1,2,3").expect("cut"),
        faults::parse_flag("crash,street:2,4,2").expect("crash"),
    ];
    let faults = faults::expand(&specs, &topology, &clock, 10_000).expect("faults");
    let report = run_real(config(topology, faults, 10)).await.expect("run");
    for check in &report.checks {
        assert!(check.passed, "check {} failed: {}", check.name, check.detail);
    }
    assert!(report.checks.len() >= 6, "checks: {:?}", report.checks);
    assert!(report.records > 50, "records: {}", report.records);
    assert!(report.propagation.as_ref().is_some_and(|p| p.count > 10), "propagation: {:?}", report.propagation);
    assert!(report.catch_ups.iter().any(|c| c.node == "t-s01-c01" && c.bytes > 0), "{:?}", report.catch_ups);
    assert!(report.idle_reconnect.as_ref().is_some_and(|i| i.bytes > 0), "{:?}", report.idle_reconnect);
    let dir = tempfile::tempdir().expect("dir");
    linli_sim::report::write(&report, dir.path()).expect("write");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("json")).expect("parse");
    assert_eq!(json["servers"], 8);
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("Lag per street") && html.contains("<polyline"), "html");
}
