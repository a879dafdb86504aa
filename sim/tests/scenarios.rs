//! Shipped scenarios that a fix of the link under faults is judged by, run in sim mode
//! on a small district: every check passes.

use linli_sim::faults;
use linli_sim::report::Report;
use linli_sim::run::{Mode, RunConfig};
use linli_sim::simulated::run::run_sim;
use linli_sim::topology::Topology;
use linli_sim::workload::Clock;
use std::time::Duration;

const START_MS: i64 = 1_794_758_400_000 + 8 * 3_600_000;
/// Two simulated hours from 08:00: the scenarios' faults fall in the first minutes.
const SECONDS: u64 = 2 * 3_600;

fn run_scenario(file: &str) -> Report {
    let path = format!("{}/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("scenario file");
    let specs = faults::parse_scenario(file, &text).expect("scenario");
    let topology = Topology::sized("small", "t", 3, 8, 5).expect("topology");
    let clock = Clock { start_ms: START_MS, speed: 1.0 };
    let faults = faults::expand(&specs, &topology, &clock, SECONDS * 1_000).expect("faults");
    run_sim(RunConfig {
        mode: Mode::Sim,
        topology,
        seed: 5,
        duration: Duration::from_secs(SECONDS),
        rate: 0.05,
        speed: 1.0,
        start_ms: START_MS,
        faults,
        settle: Duration::from_secs(600),
        progress: false,
        command: "test".into(),
        all_processes: false,
        bin_dir: None,
    })
    .expect("run")
}

fn assert_checks_pass(report: &Report) {
    for check in &report.checks {
        assert!(check.passed, "check {} failed: {}", check.name, check.detail);
    }
}

/// Before forgetting a child deleted its checkpoint, the community that came back
/// resumed past what the street had forgotten: its records went missing at the street
/// and the district ("no acknowledged write lost" and "converged" failed).
#[test]
fn a_community_moved_away_and_back_loses_nothing() {
    let report = run_scenario("move-and-back.toml");
    assert_checks_pass(&report);
    let moves = report.catch_ups.iter().filter(|c| c.kind == faults::FaultKind::Move).count();
    assert_eq!(moves, 2, "{:?}", report.catch_ups);
}
