//! `kill -9` of a street coordinator in the middle of a catch-up: it restarts from its
//! disk, the catch-up resumes from the durable checkpoints, everything converges.

mod common;

use common::*;
use linli_node::config::{LinkLimits, Tier};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const STREET: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
const RECORDS: usize = 3000;
const WAIT: Duration = Duration::from_secs(60);

/// The street as a real process; killed with SIGKILL when dropped.
struct Street(Child);

impl Drop for Street {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_street(listen: SocketAddr, data_dir: &std::path::Path, district: SocketAddr) -> Street {
    let files = certs().files(STREET);
    let child = Command::new(env!("CARGO_BIN_EXE_linli-coordinator"))
        .args(["--tier", "street", "--id", STREET, "--children", C1])
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--parent")
        .arg(format!("https://{district}"))
        .env("LINLI_TLS_CA", &files.ca)
        .env("LINLI_TLS_CERT", &files.cert)
        .env("LINLI_TLS_KEY", &files.key)
        .env("LINLI_TLS_PARENT_ID", DISTRICT)
        .env("LINLI_LINK_BACKOFF_MS_MIN", "20")
        .env("LINLI_LINK_BACKOFF_MS_MAX", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn linli-coordinator");
    Street(child)
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

async fn district_requests(district: &Node) -> i64 {
    let views = district.engine().views_async().await.expect("views");
    views.counts.iter().filter(|(k, _)| k.community == C1 && k.registry == "requests").map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_street_killed_mid_catch_up_restarts_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]), any()).await;
    let street_addr = free_port();
    // Small batches, one in flight: the catch-up takes many synced round trips, so
    // the kill lands in the middle of it.
    let mut community = config(C1, Tier::Community, dir.path().join("c"), parent(STREET, street_addr), &[]);
    community.link = LinkLimits { batch_entries_max: 8, window_batches_max: 1, ..link_config() };
    let community = start(community, any()).await;

    // The community works while its street is down.
    let writers: Vec<_> = (0..RECORDS)
        .map(|i| {
            let engine = community.engine().clone();
            tokio::spawn(async move { engine.write_async(request(C1, i)).await.expect("write").key })
        })
        .collect();
    let mut acknowledged = Vec::with_capacity(RECORDS);
    for writer in writers {
        acknowledged.push(writer.await.unwrap());
    }
    let log_end = *community.engine().log_end().borrow();

    let street_dir = dir.path().join("s");
    let street = spawn_street(street_addr, &street_dir, district.addr);
    eventually("the catch-up under way", WAIT, || async {
        community.running.links.get(STREET).is_some_and(|s| s.acked_through > 0)
    })
    .await;
    let acked_at_kill = community.running.links.get(STREET).unwrap().acked_through;
    drop(street); // SIGKILL
    assert!(acked_at_kill < log_end, "the catch-up ended before the kill ({acked_at_kill} of {log_end})");

    let _street = spawn_street(street_addr, &street_dir, district.addr);
    eventually("every acknowledged write at the district", WAIT, || async {
        district_requests(&district).await == RECORDS as i64
    })
    .await;
    for key in [&acknowledged[0], &acknowledged[RECORDS / 2], &acknowledged[RECORDS - 1]] {
        assert!(get(&district, key).await.is_some(), "{key} missing at the district");
    }
    eventually("community and district agree", WAIT, || holds_same(&community, &district)).await;
    assert!(views_match_recount(&district).await, "the district's views differ from a recount");
}
