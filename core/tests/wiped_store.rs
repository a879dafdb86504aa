//! A node whose disk was wiped starts a new Automerge actor. Automerge names a change
//! by actor and sequence number: reusing the old actor from sequence 1 would make
//! changes that peers already hold under the same names with other contents.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};

fn community_with(incarnation: u64, store: MemoryStore) -> StoredReplica<MemoryStore> {
    let config =
        ReplicaConfig { incarnation, ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY)) };
    StoredReplica::open(config, Registries::defaults().unwrap(), store).unwrap()
}

fn ship(from: &StoredReplica<MemoryStore>, to: &mut StoredReplica<MemoryStore>) {
    let batches = from.store.log_after(0, usize::MAX).unwrap().into_iter().map(|e| (e.doc, e.changes)).collect();
    for (doc, result) in to.apply(&from.replica.node().clone(), batches, NOW_MS + 60_000).unwrap() {
        result.unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
}

#[test]
fn a_wiped_node_writes_as_a_new_actor_and_its_street_merges_both_lives() {
    let mut before = community_with(1, MemoryStore::new());
    let old = new_request(&mut before, 0).key;
    let mut street = replica("lg-pingdi", Scope::only(COMMUNITY));
    ship(&before, &mut street);

    // The disk is lost: same node id, empty store.
    let mut after = community_with(2, MemoryStore::new());
    let new = new_request(&mut after, 1).key;
    assert_eq!(old.doc, new.doc, "both lives wrote to the same document");
    ship(&after, &mut street);

    assert!(street.replica.get(&street.store, &old).unwrap().is_some());
    assert!(street.replica.get(&street.store, &new).unwrap().is_some());
    let recount = street.replica.recount(&street.store).unwrap();
    assert_eq!(street.replica.views(), &recount);
}

#[test]
fn a_reopened_store_keeps_its_log_and_takes_a_new_actor() {
    let mut node = community_with(7, MemoryStore::new());
    new_request(&mut node, 0);
    assert_eq!(node.store.log_id().unwrap().as_deref(), Some("lg-pingdi-pingdi.7"));
    assert_eq!(node.replica.actor(), "lg-pingdi-pingdi.7");
    // Reopened with another incarnation (a restart): the log's identity stands, and
    // the changes of this start are made by a new actor (a store restored from a
    // backup must never reuse an actor's sequence numbers).
    let mut reopened = community_with(8, node.store.clone());
    new_request(&mut reopened, 1);
    assert_eq!(reopened.store.log_id().unwrap().as_deref(), Some("lg-pingdi-pingdi.7"));
    assert_eq!(reopened.replica.log_id(), "lg-pingdi-pingdi.7");
    assert_eq!(reopened.replica.actor(), "lg-pingdi-pingdi.8");
}
