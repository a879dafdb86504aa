//! Views are derived from the documents: a node whose stored views cannot be read
//! recounts them at open and rewrites them, instead of refusing to start.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{Storage, StoreBatch};
use linli_core::views::{ViewWrite, Views};

#[test]
fn views_that_cannot_be_read_are_recounted_at_open_and_rewritten() {
    let mut community = community();
    for i in 0..5 {
        new_request(&mut community, i);
    }
    let counted = community.replica.views().clone();
    // A torn view entry, as a bad sector or a foreign tool leaves it.
    let torn = ViewWrite { key: b"c\xff\xfe".to_vec(), value: Some(vec![1]) };
    community.store.commit(&StoreBatch { views: vec![torn], ..StoreBatch::default() }).unwrap();
    let stored = community.store.view_entries().unwrap();
    assert!(Views::from_entries(stored.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).is_err());

    let config = ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY));
    let reopened = StoredReplica::open(config.clone(), Registries::defaults().unwrap(), community.store)
        .expect("a node refused to start over views it can recount");
    assert_eq!(reopened.replica.views(), &counted, "the recount differs from the views before");

    // Rewritten durably: what is stored reads back as the same views.
    let stored = reopened.store.view_entries().unwrap();
    let read = Views::from_entries(stored.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
    assert_eq!(read, counted);
    let again = StoredReplica::open(config, Registries::defaults().unwrap(), reopened.store).unwrap();
    assert_eq!(again.replica.views(), &counted);
}
