//! What the simulator's tests share: a run in sim mode from 08:00.
#![allow(dead_code)]

use linli_sim::faults::Fault;
use linli_sim::report::Report;
use linli_sim::run::{Mode, RunConfig};
use linli_sim::simulated::run::run_sim;
use linli_sim::topology::Topology;
use linli_sim::workload::Clock;
use std::time::Duration;

/// 08:00 in Shenzhen on a weekday.
pub const START_MS: i64 = 1_794_758_400_000 + 8 * 3_600_000;

pub fn clock() -> Clock {
    Clock { start_ms: START_MS, speed: 1.0 }
}

/// `seconds` of a district's workload at 0.05 writes per community and second, with
/// `faults`, then up to 10 minutes to settle and the checks.
pub fn run(topology: Topology, seed: u64, seconds: u64, faults: Vec<Fault>) -> Report {
    run_sim(RunConfig {
        mode: Mode::Sim,
        topology,
        seed,
        duration: Duration::from_secs(seconds),
        rate: 0.05,
        speed: 1.0,
        start_ms: START_MS,
        faults,
        settle: Duration::from_secs(600),
        progress: false,
        command: "test".into(),
        all_processes: false,
        bin_dir: None,
        plaintext: false,
        memory: Default::default(),
    })
    .expect("run")
}
