//! Personal (`local`) fields never leave the community's node, over real TLS
//! connections: during a workload that writes names and phone numbers, nothing the
//! community's link can send upward (its log and its documents, which are all a
//! session ships) and nothing the street or the district stores holds them, and an
//! operator's `Get`, `Records` and `Query` answers there never carry them.
//!
//! The wire itself is TLS with zstd inside, so it is checked where its bytes come
//! from and where they land: the community's log and documents, the coordinators'
//! files (every byte under their data directories) and their decoded logs.

mod common;

use automerge::Change;
use common::*;
use linli_core::ids::RecordKey;
use linli_core::store::Storage;
use linli_core::write::Write;
use linli_node::config::Tier;
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::query_request::Query as Q;
use linli_proto::v1::registry_client::RegistryClient;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const STREET: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
const NAME: &str = "独有姓名甲乙丙";
const PHONE: &str = "13912345678";
const NEW_PHONE: &str = "13787654321";
const NEEDLES: [&str; 3] = [NAME, PHONE, NEW_PHONE];
const WAIT: Duration = Duration::from_secs(30);

/// Everything `store` holds outside the community's own local family, as text: every
/// logged change raw and decoded, every document's stored bytes.
fn stored_text(store: &dyn Storage) -> String {
    let mut text = String::new();
    for entry in store.log_after(0, usize::MAX).expect("log") {
        for bytes in &entry.changes {
            text.push_str(&String::from_utf8_lossy(bytes));
            let change = Change::from_bytes(bytes.clone()).expect("a logged change decodes");
            text.push_str(&format!("{:?}", change.decode()));
        }
    }
    for doc in store.doc_ids().expect("docs") {
        let stored = store.load_doc(&doc).expect("load").expect("a listed document");
        if let Some((_, snapshot)) = &stored.snapshot {
            text.push_str(&String::from_utf8_lossy(snapshot));
        }
        for (_, chunk) in &stored.chunks {
            text.push_str(&String::from_utf8_lossy(chunk));
        }
    }
    text
}

/// Every byte of every file under `dir` (RocksDB's WAL, tables, manifest), as text.
fn files_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        match path.is_dir() {
            true => text.push_str(&files_text(&path)),
            false => {
                if let Ok(bytes) = std::fs::read(&path) {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
    text
}

fn assert_clean(what: &str, text: &str) {
    for needle in NEEDLES {
        assert!(!text.contains(needle), "{what} holds personal data ({needle})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn personal_fields_reach_no_byte_upward_nor_any_operators_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]), any()).await;
    let up = parent(DISTRICT, district.addr);
    let street = start(config(STREET, Tier::Street, dir.path().join("s"), up, &[C1]), any()).await;
    let up = parent(STREET, street.addr);
    let c1 = start(config(C1, Tier::Community, dir.path().join("c1"), up, &[]), any()).await;

    // The workload: requests with the reporter's name and phone, a later new phone
    // number, and the replicated edits around them.
    let mut keys: Vec<RecordKey> = Vec::new();
    for i in 0..20 {
        let mut create = request(C1, i);
        let personal = [("reporter_name", json!(NAME)), ("reporter_phone", json!(PHONE))];
        create.ops.extend(Write::create(C1, "requests", &personal).ops);
        keys.push(write(&c1, create).await.key);
    }
    for key in keys.iter().step_by(3) {
        write(&c1, Write::set(key.clone(), &[("reporter_phone", json!(NEW_PHONE))])).await;
        write(&c1, Write::set(key.clone(), &[("status", json!("dispatched"))])).await;
    }
    for key in &keys {
        eventually("every request at the district", WAIT, || async { get(&district, key).await.is_some() }).await;
    }
    let last = keys.last().expect("a key").clone();
    eventually("the last edits at the district", WAIT, || async { holds_same(&c1, &district).await }).await;

    // The community holds them (so the checks below could fail)...
    let own = get(&c1, &keys[0]).await.expect("the community's record").to_string();
    assert!(own.contains(NEW_PHONE) && own.contains(NAME), "{own}");
    // ...and ships none of them: its log and documents are what its link sends up.
    assert_clean("the community's log and documents", &stored_text(&c1.engine().store().expect("store")));

    for (node, name) in [(&street, "the street"), (&district, "the district")] {
        assert_clean(&format!("{name}'s log and documents"), &stored_text(&node.engine().store().expect("store")));
        assert_clean(&format!("{name}'s files"), &files_text(&node.config.data_dir));
        // An operator's answers.
        let mut registry = RegistryClient::new(channel(node).await);
        for key in [&keys[0], &last] {
            let reply = registry.get(v1::GetRequest { record_key: key.to_string() }).await.expect("get");
            let json = reply.into_inner().record_json.expect("the record is held");
            assert_clean(&format!("{name}'s Get"), &json);
        }
        let mut query = QueryClient::new(channel(node).await);
        let records = v1::RecordsRequest { community: C1.into(), registry: "requests".into(), limit: 100, after: None };
        let page = query.records(records).await.expect("records").into_inner();
        assert_eq!(page.records_json.len(), keys.len(), "{name} lists every request");
        assert_clean(&format!("{name}'s Records"), &page.records_json.join("\n"));
        let ask = v1::QueryRequest {
            at_ms: Some(NOW_MS),
            filter: Some(v1::QueryFilter::default()),
            query: Some(Q::OpenList(v1::OpenListQuery { limit: 100, after: None })),
        };
        let answer = query.ask(ask).await.expect("ask").into_inner();
        assert_clean(&format!("{name}'s Query"), &format!("{answer:?}"));
    }
}
