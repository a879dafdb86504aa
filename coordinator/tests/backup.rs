//! A community server's backup, taken online under load with `Registry.Backup`,
//! restored with `linli_node::backup::restore` into a fresh data directory, rejoins
//! its street: every acknowledged write is back (those made after the backup come
//! back from the street), and the restore is seen as one (a new log identity, which
//! the street repairs against) rather than a rewind.

mod common;

use common::*;
use linli_core::ids::RecordKey;
use linli_proto::v1;
use linli_proto::v1::registry_client::RegistryClient;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::Channel;

const STREET: &str = "lg-pingdi";
const COMMUNITY: &str = "lg-pingdi-pingdi";

async fn backup(client: &mut RegistryClient<Channel>, label: &str) -> Result<v1::BackupReply, tonic::Status> {
    client.backup(v1::BackupRequest { label: label.into() }).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_and_rejoins_with_no_acknowledged_write_lost() {
    let mut tree = Tree::start(&[(STREET, &[COMMUNITY])]).await;
    let backups = tempfile::tempdir().expect("tempdir");

    // Without `backup_dir`, refused with what to set.
    let mut client = RegistryClient::new(channel(tree.node(COMMUNITY)).await);
    let refused = backup(&mut client, "first").await.expect_err("no backup_dir");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("backup_dir"), "{refused:?}");

    let backup_dir = backups.path().to_path_buf();
    tree.restart(COMMUNITY, |config| config.backup_dir = Some(backup_dir)).await;
    let channel = channel(tree.node(COMMUNITY)).await;
    let mut client = RegistryClient::new(channel.clone());
    let refused = backup(&mut client, "../outside").await.expect_err("a path is no label");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("label"), "{refused:?}");

    // Four writers keep writing while the backup is taken.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (mut client, acked, stop) = (RegistryClient::new(channel.clone()), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = w * 100_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let reply = client.write(v1::WriteRequest::from(&request(COMMUNITY, i))).await.expect("written");
                acked.lock().expect("lock").push(reply.into_inner().record_key);
            }
        }));
    }
    eventually("100 writes acknowledged", Duration::from_secs(30), || async {
        acked.lock().expect("lock").len() >= 100
    })
    .await;
    let made = backup(&mut client, "2026-12-05").await.expect("backup");
    let at_backup = acked.lock().expect("lock").len();
    assert!(made.bytes > 0 && made.log_end > 0, "{made:?}");
    let again = backup(&mut client, "2026-12-05").await.expect_err("never overwritten");
    assert!(again.message().contains("never overwritten"), "{again:?}");
    eventually("100 more writes after the backup", Duration::from_secs(30), || async {
        acked.lock().expect("lock").len() >= at_backup + 100
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let acked: Vec<RecordKey> =
        acked.lock().expect("lock").iter().map(|key| RecordKey::parse(key).expect("key")).collect();
    eventually("the street holds the community's writes", Duration::from_secs(30), || async {
        holds_same(tree.node(COMMUNITY), tree.node(STREET)).await
    })
    .await;
    let old_log = tree.node(COMMUNITY).engine().log_id();
    let repairs_before = tree.node(STREET).running.links.all().get(COMMUNITY).map_or(0, |s| s.repairs);

    // The community's disk is lost; its backup is restored into a new data directory.
    let restored_dir = tree.data_dir("restored");
    let from = std::path::PathBuf::from(&made.path);
    let mut restored = None;
    tree.restart(COMMUNITY, |config| {
        restored = Some(linli_node::backup::restore(&from, &restored_dir, 1_796_000_000_000).expect("restore"));
        config.data_dir = restored_dir.clone();
    })
    .await;
    let restored = restored.expect("restored");
    assert_eq!(restored.old_log, old_log);
    assert!(restored.log_end >= made.log_end, "{restored:?} {made:?}");
    assert_eq!(tree.node(COMMUNITY).engine().log_id(), restored.new_log, "the log took a new identity");
    // Restoring over a store is refused.
    let err = linli_node::backup::restore(&from, &restored_dir, 1).expect_err("a store is in the way").to_string();
    assert!(err.contains("not empty"), "{err}");

    // Rejoined: the street repairs against the renewed log, and everything acknowledged
    // is back at the community, the writes after the backup from the street.
    eventually("every acknowledged write back at the community", Duration::from_secs(60), || async {
        for key in &acked {
            if get(tree.node(COMMUNITY), key).await.is_none() {
                return false;
            }
        }
        true
    })
    .await;
    let repairs_after = tree.node(STREET).running.links.all().get(COMMUNITY).map_or(0, |s| s.repairs);
    assert!(repairs_after > repairs_before, "the street did not repair against the restored log");
    eventually("community and street agree", Duration::from_secs(30), || async {
        holds_same(tree.node(COMMUNITY), tree.node(STREET)).await
    })
    .await;
    assert!(views_match_recount(tree.node(COMMUNITY)).await);
    // New writes after the restore travel as usual.
    let after = write(tree.node(COMMUNITY), request(COMMUNITY, 999_999)).await;
    eventually("a write after the restore reaches the street", Duration::from_secs(30), || async {
        get(tree.node(STREET), &after.key).await.is_some()
    })
    .await;
    tree.stop_all().await;
}
