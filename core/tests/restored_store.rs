//! A node whose store is put back to an older backup, and writes on before it hears
//! from its peers. Its new changes must merge at the peers (they are made by a new
//! actor: this start's), and once a peer's checkpoint shows that its log holds other
//! entries under numbers the peer acknowledged, the log takes a new identity, which
//! survives a restart.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::link::{Checkpoint, Hello, Tier, log_diverged, named_seq};
use linli_core::replica::{Effect, Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};

fn community_with(incarnation: u64, store: MemoryStore) -> StoredReplica<MemoryStore> {
    let config =
        ReplicaConfig { incarnation, ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY)) };
    StoredReplica::open(config, Registries::defaults().unwrap(), store).unwrap()
}

/// The community's whole log to the street; returns the street's checkpoint of it.
fn ship(from: &StoredReplica<MemoryStore>, to: &mut StoredReplica<MemoryStore>) -> Checkpoint {
    let entries = from.store.log_after(0, usize::MAX).unwrap();
    let last = entries.last().unwrap();
    let checkpoint =
        Checkpoint { log_id: from.replica.log_id().to_string(), through: last.seq, fingerprint: last.fingerprint() };
    let docs = entries.into_iter().map(|e| (e.doc, e.changes)).collect();
    for (doc, result) in to.apply(&from.replica.node().clone(), docs, NOW_MS + 60_000).unwrap() {
        result.unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
    checkpoint
}

fn hello(node: &StoredReplica<MemoryStore>, checkpoint: Option<Checkpoint>) -> Hello {
    Hello {
        node: node.replica.node().clone(),
        tier: Tier::Community,
        log_id: node.replica.log_id().to_string(),
        log_end: node.store.log_last_seq().unwrap(),
        log_trimmed: node.store.log_trimmed().unwrap(),
        checkpoint,
        subtree: Default::default(),
    }
}

#[test]
fn a_store_put_back_to_a_backup_writes_as_a_new_actor_and_renews_its_log() {
    let mut community = community_with(1, MemoryStore::new());
    let first = new_request(&mut community, 0).key;
    let backup = community.store.clone();
    let second = new_request(&mut community, 1).key;
    let mut street = replica("lg-pingdi", Scope::only(COMMUNITY));
    let acked = ship(&community, &mut street);
    assert_eq!(acked.through, 2);

    // Put back to the backup (one entry) and started again; it writes before its
    // street is back. Under the old actor this change would be "sequence 2" of
    // `lg-pingdi-pingdi.1` again, which the street holds with other contents.
    let mut restored = community_with(2, backup);
    let third = new_request(&mut restored, 2).key;
    assert_eq!(restored.replica.log_id(), "lg-pingdi-pingdi.1", "the log keeps its identity across a start");
    ship(&restored, &mut street);
    for key in [&first, &second, &third] {
        assert!(street.replica.get(&street.store, key).unwrap().is_some(), "{key} at the street");
    }

    // The street's checkpoint names entry 2 of this log, which now holds another
    // change: the log diverged from what the street acknowledged.
    let mine = hello(&restored, None);
    let theirs = Hello { node: NodeId::new("lg-pingdi").unwrap(), tier: Tier::Street, ..hello(&street, Some(acked)) };
    let seq = named_seq(&mine, &theirs).unwrap();
    let named = restored.store.log_after(seq - 1, 1).unwrap().pop();
    assert!(log_diverged(&mine, &theirs, named.as_ref()));

    let stale = restored.replica.log_id().to_string();
    let effects = restored.step(Event::RenewLog { stale: stale.clone() }).unwrap();
    let renewed = effects
        .iter()
        .find_map(|e| match e {
            Effect::LogRenewed { log_id } => Some(log_id.clone()),
            _ => None,
        })
        .unwrap();
    assert_ne!(renewed, stale);
    assert_eq!(restored.store.log_id().unwrap().as_deref(), Some(renewed.as_str()), "durable at once");
    // A second peer that noticed the same: nothing more changes.
    restored.step(Event::RenewLog { stale }).unwrap();
    assert_eq!(restored.replica.log_id(), renewed);
    let reopened = community_with(3, restored.store.clone());
    assert_eq!(reopened.replica.log_id(), renewed, "kept across a restart");
}
