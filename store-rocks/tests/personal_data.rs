//! Personal data (fields marked `local`) never enters a replicated document, a change
//! or the change log: Automerge keeps every value in history forever, so a phone
//! number written once would travel to the district and stay there.

mod common;

use automerge::{AutoCommit, AutoSerde, Change};
use common::*;
use linli_core::replica::Scope;
use linli_core::store::Storage;
use linli_core::write::{FieldOp, Write};
use linli_core::{ids::NodeId, replica::ReplicaConfig, replica::StoredReplica, schema::Registries};
use linli_store_rocks::RocksStore;
use serde_json::json;

const NAME: &str = "独有姓名甲乙丙";
const PHONE: &str = "13912345678";
const ADDRESS: &str = "平地街道某楼某室独有地址";
const NEW_PHONE: &str = "13787654321";

/// Everything a store holds outside the `local` family, as text a person could read:
/// raw bytes, whole documents as JSON, and every change in the history decoded.
fn replicated_text(store: &dyn Storage) -> String {
    let mut text = String::new();
    for entry in store.log_after(0, usize::MAX).unwrap() {
        for bytes in &entry.changes {
            text.push_str(&String::from_utf8_lossy(bytes));
            let change = Change::from_bytes(bytes.clone()).unwrap();
            text.push_str(&format!("{:?}", change.decode()));
        }
    }
    for doc in store.doc_ids().unwrap() {
        let stored = store.load_doc(&doc).unwrap().unwrap();
        let mut am = AutoCommit::load(
            stored.snapshot.as_ref().map(|(_, s)| s.as_slice()).unwrap_or(linli_core::doc::genesis_bytes()),
        )
        .unwrap();
        for (_, chunk) in &stored.chunks {
            text.push_str(&String::from_utf8_lossy(chunk));
            am.load_incremental(chunk).unwrap();
        }
        if let Some((_, snapshot)) = &stored.snapshot {
            text.push_str(&String::from_utf8_lossy(snapshot));
        }
        text.push_str(&serde_json::to_string(&AutoSerde::from(&am)).unwrap());
        for change in am.get_changes(&[]) {
            text.push_str(&format!("{:?}", change.decode()));
        }
    }
    for (key, value) in store.view_entries().unwrap() {
        text.push_str(&String::from_utf8_lossy(&key));
        text.push_str(&String::from_utf8_lossy(&value));
    }
    text
}

#[test]
fn no_byte_of_a_local_field_reaches_a_document_a_change_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = ReplicaConfig {
        compact_chunks_min: 2,
        ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY))
    };
    let mut node =
        StoredReplica::open(config, Registries::defaults().unwrap(), RocksStore::open(dir.path()).unwrap()).unwrap();

    let mut fields = request_fields(0);
    fields.push(("reporter_name", json!(NAME)));
    fields.push(("reporter_phone", json!(PHONE)));
    let request = node.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS).unwrap().key;
    node.write(
        Write::set(request.clone(), &[("reporter_phone", json!(NEW_PHONE)), ("status", json!("dispatched"))]),
        NOW_MS,
    )
    .unwrap();
    let task = [
        ("service", json!("repair")),
        ("summary", json!("修水管")),
        ("ordered_at", json!(NOW_MS as i64)),
        ("orderer_address", json!(ADDRESS)),
    ];
    let task = node.write(Write::create(COMMUNITY, "tasks", &task), NOW_MS).unwrap().key;
    node.write(Write::update(task, vec![FieldOp::Set { field: "status".into(), value: json!("dispatched") }]), NOW_MS)
        .unwrap();
    // Compaction writes snapshots: they must be clean too.
    node.tick(NOW_MS).unwrap();
    node.tick(NOW_MS).unwrap();
    assert!(node.store.doc_ids().unwrap().iter().any(|d| node.store.load_doc(d).unwrap().unwrap().snapshot.is_some()));

    let text = replicated_text(&node.store);
    assert!(text.contains("修水管"), "the search must see ordinary field values, or it proves nothing");
    for secret in [NAME, PHONE, NEW_PHONE, ADDRESS] {
        assert!(!text.contains(secret), "`{secret}` leaked into replicated data");
    }

    // The community still has them, in its local store, and reads them back.
    let record = node.replica.get(&node.store, &request).unwrap().unwrap();
    assert_eq!(record.get("reporter_name").and_then(|v| v.as_str()), Some(NAME));
    assert_eq!(record.get("reporter_phone").and_then(|v| v.as_str()), Some(NEW_PHONE));

    // A street that receives the community's changes sees the record without them.
    let mut street = replica("lg-pingdi", Scope::only(COMMUNITY));
    let batches = node.store.log_after(0, usize::MAX).unwrap().into_iter().map(|e| (e.doc, e.changes)).collect();
    street.apply(&NodeId::new(COMMUNITY).unwrap(), batches, NOW_MS).unwrap();
    let seen = street.replica.get(&street.store, &request).unwrap().unwrap();
    assert_eq!(seen.get("status").and_then(|v| v.as_str()), Some("dispatched"));
    assert_eq!(seen.get("reporter_name"), None);
    assert!(!replicated_text(&street.store).contains(PHONE));
}
