//! A small district run end to end in real mode, with faults: the checks pass, the
//! measurements are there, the report is written.

use linli_sim::faults::{self, Fault, FaultKind};
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
        all_processes: false,
        bin_dir: None,
        plaintext: false,
        memory: Default::default(),
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
    assert!(
        report.catch_ups.iter().any(|c| c.node == "t-s01-c01" && c.bytes > 0 && c.district_ms >= c.time_ms),
        "the cut community's catch-up, at its street and then at the district: {:?}",
        report.catch_ups
    );
    assert!(report.idle_reconnect.as_ref().is_some_and(|i| i.bytes > 0), "{:?}", report.idle_reconnect);
    let dir = tempfile::tempdir().expect("dir");
    linli_sim::report::write(&report, dir.path()).expect("write");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).expect("json")).expect("parse");
    assert_eq!(json["servers"], 8);
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("html");
    assert!(html.contains("Lag per street") && html.contains("<polyline"), "html");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_killed_with_sigkill_under_load_lose_no_acknowledged_write() {
    let topology = Topology::sized("small", "t", 2, 5, 7).expect("topology");
    let clock = Clock { start_ms: START_MS, speed: 600.0 };
    // The street while its communities stream to it, a community of the other street,
    // and the district: each a child process of the production binary.
    let specs = vec![
        faults::parse_flag("kill,street:1,2,2").expect("street"),
        faults::parse_flag("kill,community:4,4,2").expect("community"),
        faults::parse_flag("kill,t,7,1").expect("district"),
    ];
    let faults = faults::expand(&specs, &topology, &clock, 10_000).expect("faults");
    let killed = [topology.streets[0].id.clone(), topology.communities().nth(3).expect("a 4th community").id.clone()];
    let config = config(topology, faults, 10);
    assert_eq!(config.processes().nodes.len(), 3, "the killed nodes run as processes");
    let report = run_real(config).await.expect("run");
    for check in &report.checks {
        assert!(check.passed, "check {} failed: {}", check.name, check.detail);
    }
    for node in &killed {
        assert!(
            report.catch_ups.iter().any(|c| &c.node == node && c.log_entries > 0),
            "{node} did not catch up after its kill: {:?}",
            report.catch_ups
        );
    }
    assert!(report.records > 50, "records: {}", report.records);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_community_moved_and_another_split_under_load_are_counted_once_and_lose_nothing() {
    let topology = Topology::sized("small", "t", 2, 5, 7).expect("topology");
    let clock = Clock { start_ms: START_MS, speed: 600.0 };
    // The last community belongs to the second street; it moves to the first. The
    // first community is split in two while its clock runs two minutes ahead of its
    // street's (its changes made before it heard of the split reach the street after
    // it and are carried to the copies).
    let moving = topology.streets[1].communities.last().expect("a community").id.clone();
    let split = topology.streets[0].communities[0].id.clone();
    let specs = vec![
        faults::parse_flag(&format!("move,{moving},3,street:1")).expect("move"),
        faults::parse_flag(&format!("split,{split},5")).expect("split"),
        faults::parse_flag(&format!("skew,{split},0,10,120000")).expect("skew"),
    ];
    let faults = faults::expand(&specs, &topology, &clock, 10_000).expect("faults");
    let report = run_real(config(topology, faults, 10)).await.expect("run");
    // The checks read the tree after the move and the split: every community's
    // documents at its street now and at the district, every acknowledged write there
    // (a split's copies where the rule sent them), views equal a recount everywhere,
    // and no street counts a community it no longer has.
    for check in &report.checks {
        assert!(check.passed, "check {} failed: {}", check.name, check.detail);
    }
    assert!(
        report.catch_ups.iter().any(|c| c.node == moving && c.kind == FaultKind::Move && c.log_entries > 0),
        "the new street did not take the moved community's log: {:?}",
        report.catch_ups
    );
    let done = report.splits.first().expect("the split ran");
    assert_eq!(done.community, split);
    assert!(done.moved.values().sum::<usize>() > 0, "{done:?}");
    assert_eq!(report.servers, 10, "two communities more");
}
