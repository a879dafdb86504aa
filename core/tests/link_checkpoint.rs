//! A link's checkpoint rides with the changes it covers only when every document of the
//! batch was applied or refused for good. A document that failed for a reason that may
//! pass (here: a registry the street does not know yet, as in a rolling upgrade) keeps
//! the checkpoint where it was, so the peer sends those changes again.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::link::Checkpoint;
use linli_core::replica::{Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};

fn street(registries: Registries) -> StoredReplica<MemoryStore> {
    let config = ReplicaConfig::new(NodeId::new("lg-pingdi").unwrap(), Scope::only(COMMUNITY));
    StoredReplica::open(config, registries, MemoryStore::new()).unwrap()
}

/// The community's whole log as one batch, with the checkpoint that names its end.
fn batch(from: &StoredReplica<MemoryStore>) -> Event {
    let entries = from.store.log_after(0, usize::MAX).unwrap();
    let through = entries.last().map_or(0, |e| e.seq);
    let fingerprint = entries.last().map_or(0, |e| e.fingerprint());
    let checkpoint = Checkpoint { log_id: from.replica.log_id().to_string(), through, fingerprint };
    let origin = from.replica.node().clone();
    let meta = vec![(Checkpoint::meta_name(&origin), checkpoint.encode())];
    Event::Changes {
        origin,
        actors_refused: Default::default(),
        docs: entries.into_iter().map(|e| (e.doc, e.changes)).collect(),
        traces: Default::default(),
        meta,
        now_ms: NOW_MS,
    }
}

#[test]
fn a_document_that_may_apply_later_holds_the_checkpoint_back() {
    let mut community = community();
    let request = new_request(&mut community, 0).key;
    let task = new_task(&mut community);
    let name = Checkpoint::meta_name(community.replica.node());

    // The street runs an older release that has no `tasks` registry.
    let defaults = Registries::defaults().unwrap();
    let older =
        Registries::from_schemas(defaults.iter().filter(|s| s.name != "tasks").map(|s| (**s).clone()).collect());
    let mut upgrading = street(older);
    upgrading.step(batch(&community)).unwrap();
    assert!(upgrading.replica.get(&upgrading.store, &request).unwrap().is_some(), "the request applies");
    assert_eq!(upgrading.store.meta(&name).unwrap(), None, "a checkpoint past the task would skip it for good");

    // Every document applies: the checkpoint rides with them.
    let mut current = street(defaults);
    current.step(batch(&community)).unwrap();
    assert!(current.replica.get(&current.store, &task).unwrap().is_some());
    let stored = current.store.meta(&name).unwrap().and_then(|b| Checkpoint::decode(&b));
    assert_eq!(stored.map(|cp| cp.through), Some(community.store.log_last_seq().unwrap()));
}

#[test]
fn forgetting_a_child_deletes_its_checkpoint_and_subtree_with_its_documents() {
    use linli_core::link::tree;
    use std::collections::BTreeSet;
    let mut community = community();
    let request = new_request(&mut community, 0).key;
    let child = community.replica.node().clone();
    let mut street = street(Registries::defaults().unwrap());
    let children: BTreeSet<String> = [child.to_string()].into();
    let first =
        tree::restore(street.replica.node(), &children, &BTreeSet::new(), |name| street.store.meta(name)).unwrap();
    street.step(Event::Meta { entries: first.meta }).unwrap();
    street.step(batch(&community)).unwrap();
    let subtree = (tree::subtree_meta_name(child.as_str()), tree::encode_owners(&children));
    street.step(Event::Meta { entries: vec![subtree] }).unwrap();
    assert!(street.store.meta(&Checkpoint::meta_name(&child)).unwrap().is_some());

    // The community moves to another street: it is no longer configured here, and the
    // operator says it left (`--forget`).
    let restored =
        tree::restore(street.replica.node(), &BTreeSet::new(), &children, |name| street.store.meta(name)).unwrap();
    street.step(Event::Forget { owners: restored.gone, meta: restored.forget_meta }).unwrap();
    assert!(street.replica.get(&street.store, &request).unwrap().is_none(), "its documents go");
    // Kept, the checkpoint would let the community resume past changes the street no
    // longer holds when it comes back; its next changes would wait on them forever.
    assert_eq!(street.store.meta(&Checkpoint::meta_name(&child)).unwrap(), None);
    assert_eq!(street.store.meta(&tree::subtree_meta_name(child.as_str())).unwrap(), None);
}
