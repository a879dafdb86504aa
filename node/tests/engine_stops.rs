//! A node whose disk refuses a write says so and exits; nothing it acknowledged is lost.
//!
//! The real `linli-node` binary runs with a file size limit (`RLIMIT_FSIZE`, and
//! `SIGXFSZ` ignored), so once RocksDB's write-ahead log reaches it, a commit fails
//! with EFBIG exactly as on a full disk. Eight writers write over gRPC until their
//! writes are refused. The test requires: health turns NOT_SERVING (read with a real
//! gRPC health client), the process exits with a non-zero code and logs the reason,
//! and after a restart without the limit every acknowledged write is there.

use linli_core::write::Write;
use linli_proto::v1;
use linli_proto::v1::registry_client::RegistryClient;
use serde_json::json;
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const COMMUNITY: &str = "lg-pingdi-pingdi";
/// The largest file the node may write: its WAL reaches this after a few thousand writes.
const FILE_BYTES_MAX: u64 = 3 << 20;
const WRITERS: usize = 8;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn start(data: &Path, port: u16, file_bytes_max: Option<u64>, log: &Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_linli-node"));
    command
        // A street that is never there: the community works offline.
        .args(["serve", "--id", COMMUNITY, "--parent", "http://127.0.0.1:9", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data)
        .env("LINLI_INSECURE", "true")
        .env("LINLI_LOG", "info")
        .stdout(std::fs::File::create(log).expect("log file"))
        .stderr(std::fs::File::create(log.with_extension("err")).expect("error file"));
    if let Some(limit) = file_bytes_max {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Ignored, a write past the limit fails with EFBIG instead of killing.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    command.spawn().expect("start linli-node")
}

async fn channel(port: u16) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}")).expect("endpoint");
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(e) if Instant::now() > deadline => panic!("no connection to the node: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn status(health: &mut HealthClient<Channel>, service: &str) -> Option<ServingStatus> {
    let answer = health.check(HealthCheckRequest { service: service.into() }).await.ok()?;
    ServingStatus::try_from(answer.into_inner().status).ok()
}

async fn wait_serving(port: u16) -> Channel {
    let channel = channel(port).await;
    let mut health = HealthClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&mut health, "linli.v1.Registry").await != Some(ServingStatus::Serving) {
        assert!(Instant::now() < deadline, "the node never reported SERVING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its street is away: the whole node does not serve, its services do.
    assert_eq!(status(&mut health, "").await, Some(ServingStatus::NotServing));
    channel
}

fn request(writer: usize, i: usize) -> v1::WriteRequest {
    let write = Write::create(
        COMMUNITY,
        "requests",
        &[
            ("category", json!("safety")),
            ("channel", json!("hotline")),
            ("grid", json!(format!("grid-{writer}"))),
            // Long enough that the log reaches the limit in a few seconds.
            ("summary", json!(format!("writer {writer} request {i}: {}", "路灯不亮，".repeat(20)))),
            ("reported_at", json!(1_795_320_000_000i64)),
            ("deadline", json!(1_795_323_600_000i64)),
        ],
    );
    v1::WriteRequest::from(&write)
}

/// Whether `child` exits within `wait` (it is not killed).
async fn exits_within(child: &mut Child, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_turns_health_not_serving_exits_non_zero_and_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let mut child = start(&data, port, Some(FILE_BYTES_MAX), &dir.path().join("first.log"));
    let channel = wait_serving(port).await;

    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let mut client = RegistryClient::new(channel.clone());
            let acked = acked.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    match client.write(request(writer, i)).await {
                        Ok(reply) => {
                            acked.lock().expect("acked").insert(reply.into_inner().record_key);
                        }
                        Err(_) => return i,
                    }
                }
                unreachable!()
            })
        })
        .collect();

    // Health turns NOT_SERVING before the process goes.
    let mut health = HealthClient::new(channel.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut saw_not_serving = false;
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("try_wait") {
            break exit;
        }
        if status(&mut health, "linli.v1.Registry").await == Some(ServingStatus::NotServing) {
            saw_not_serving = true;
            // The whole server says so too, unless it exited between the two calls
            // (it goes right after): then the call finds no server, and the process
            // must be gone.
            match status(&mut health, "").await {
                Some(overall) => assert_eq!(overall, ServingStatus::NotServing),
                None => assert!(
                    exits_within(&mut child, Duration::from_secs(10)).await,
                    "the server stopped answering Health but runs on"
                ),
            }
        }
        assert!(Instant::now() < deadline, "the node neither failed nor exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for writer in writers {
        writer.await.expect("writer");
    }
    let log = std::fs::read_to_string(dir.path().join("first.log")).expect("log")
        + &std::fs::read_to_string(dir.path().join("first.err")).expect("errors");
    assert!(saw_not_serving, "health never reported NOT_SERVING; log:\n{log}");
    assert!(!exit.success(), "the node exited with success after its engine stopped; log:\n{log}");
    assert!(log.contains("the engine stopped"), "the reason is not logged:\n{log}");
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    assert!(acked.len() > 100, "only {} writes acknowledged before the disk filled", acked.len());

    // Restarted without the limit: every acknowledged write is there.
    let mut child = start(&data, port, None, &dir.path().join("second.log"));
    let channel = wait_serving(port).await;
    let mut client = RegistryClient::new(channel);
    let mut missing = Vec::new();
    for key in &acked {
        let got = client.get(v1::GetRequest { record_key: key.clone() }).await.expect("get").into_inner();
        if got.record_json.is_none() {
            missing.push(key.clone());
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
