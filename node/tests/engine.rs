//! The node's durable engine under concurrent writers: every write is answered, each
//! after its batch is durable; reads see every answered write; shutdown answers what
//! was queued; the data is there after a reopen.

use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope};
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_core::write::{FieldOp, Write};
use linli_node::{Engine, EngineConfig, NodeError};
use serde_json::json;

const COMMUNITY: &str = "lg-pingdi-pingdi";
const NOW_MS: i64 = 1_795_320_000_000;

fn start(dir: &std::path::Path) -> Engine {
    let replica = ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY));
    Engine::start(EngineConfig::new(replica, Registries::defaults().unwrap(), dir.into())).unwrap()
}

fn sheet(member: usize) -> Write {
    let fields = [("member", json!(format!("m{member}"))), ("team", json!("t1")), ("month_of", json!(NOW_MS))];
    Write::create(COMMUNITY, "volunteers", &fields)
}

#[test]
fn concurrent_writers_are_all_answered_and_reads_see_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path());
    const WRITERS: usize = 16;
    const SHEETS: usize = 10;
    let keys: Vec<_> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let handle = engine.handle();
                s.spawn(move || {
                    (0..SHEETS)
                        .map(|i| {
                            let key = handle.write(sheet(w * SHEETS + i)).unwrap().key;
                            // Hours only add up, from every writer at once.
                            handle
                                .write(Write::update(
                                    key.clone(),
                                    vec![FieldOp::Add { field: "hours".into(), delta: 3 }],
                                ))
                                .unwrap();
                            key
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let handle = engine.handle();
    for key in &keys {
        let record = handle.get(key.clone()).unwrap().expect("an answered write is readable");
        assert_eq!(record.get("hours").and_then(|v| v.as_i64()), Some(3));
    }
    let views = handle.views().unwrap();
    assert_eq!(views, handle.recount().unwrap());
    let hours: i64 = views.sums.iter().filter(|(k, _)| k.field == "hours").map(|(_, v)| v).sum();
    assert_eq!(hours, (WRITERS * SHEETS * 3) as i64);

    engine.shutdown();
    assert!(matches!(handle.write(sheet(0)), Err(NodeError::Stopped { .. })), "a stopped engine says so");

    let reopened = start(dir.path());
    let handle = reopened.handle();
    for key in &keys {
        assert!(handle.get(key.clone()).unwrap().is_some(), "{key} lost across a clean restart");
    }
    assert_eq!(handle.views().unwrap(), views);
}

#[test]
fn refused_writes_are_answered_with_their_reason_and_cost_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path());
    let handle = engine.handle();
    let err = handle.write(Write::create(COMMUNITY, "volunteers", &[("member", json!("m1"))])).unwrap_err();
    assert!(err.to_string().contains("field `month_of`: required field is missing"), "{err}");
    let ok = handle.write(sheet(1)).unwrap();
    assert_eq!(ok.seq, Some(1), "the refused write took no log sequence number");
}

#[test]
fn node_metadata_is_answered_once_durable_and_is_there_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let engine = start(dir.path());
    let handle = engine.handle();
    let log_end = *handle.log_end().borrow();
    let entries = vec![
        ("children".to_string(), b"lg-pingdi-a,lg-pingdi-b".to_vec()),
        ("subtree/lg-pingdi-a".to_string(), b"lg-pingdi-a".to_vec()),
    ];
    runtime.block_on(handle.put_meta_async(entries.clone())).unwrap();
    let store = handle.store().unwrap();
    for (name, value) in &entries {
        assert_eq!(store.meta(name).unwrap().as_ref(), Some(value), "{name} is durable once answered");
    }
    drop(store);
    assert_eq!(*handle.log_end().borrow(), log_end, "metadata adds nothing to the log");
    engine.shutdown();
    assert!(matches!(runtime.block_on(handle.put_meta_async(entries.clone())), Err(NodeError::Stopped { .. })));

    let reopened = start(dir.path());
    let store = reopened.handle().store().unwrap();
    for (name, value) in &entries {
        assert_eq!(store.meta(name).unwrap().as_ref(), Some(value), "{name} lost across a restart");
    }
}
