//! The checks can fail: built with `--features broken-merge`, linli-core keeps one
//! claim per field (last writer wins) instead of every claim, and the run must say
//! that acknowledged claims were lost.
//!
//! `cargo test --release -p linli-sim --features broken-merge --test broken_merge`
#![cfg(feature = "broken-merge")]

use linli_sim::run::{Mode, RunConfig};
use linli_sim::simulated::run::run_sim;
use linli_sim::topology::Topology;
use std::time::Duration;

#[test]
fn a_broken_merge_rule_is_caught_by_the_checks() {
    let report = run_sim(RunConfig {
        mode: Mode::Sim,
        topology: Topology::sized("small", "t", 2, 4, 3).expect("topology"),
        seed: 3,
        duration: Duration::from_secs(4 * 3_600),
        rate: 0.05,
        speed: 1.0,
        start_ms: 1_794_758_400_000 + 8 * 3_600_000,
        faults: Vec::new(),
        settle: Duration::from_secs(600),
        progress: false,
        command: "test".into(),
        all_processes: false,
        bin_dir: None,
        plaintext: false,
        memory: Default::default(),
    })
    .expect("run");
    let lost = report.checks.iter().find(|c| c.name == "no acknowledged write lost").expect("the check ran");
    assert!(!lost.passed, "a lost claim went unnoticed: {}", lost.detail);
    assert!(lost.detail.contains("claims on"), "{}", lost.detail);
    assert!(!report.passed());
}
