//! Personal data (fields marked `local`): a write of only local fields is acknowledged
//! without a change to any replicated document. That no byte of them reaches a
//! document, a change or the log is checked on RocksDB, in `linli-store-rocks`.

mod common;

use common::*;
use linli_core::write::Write;
use serde_json::json;

const PHONE: &str = "13912345678";

#[test]
fn a_write_of_only_local_fields_is_acknowledged_without_a_change() {
    let mut node = community();
    let key = new_request(&mut node, 0).key;
    let seq_before = node.replica.next_seq();
    let written = node.write(Write::set(key.clone(), &[("reporter_phone", json!(PHONE))]), NOW_MS).unwrap();
    assert_eq!(written.seq, None, "nothing entered the document, so nothing was logged");
    assert_eq!(node.replica.next_seq(), seq_before);
    let record = node.replica.get(&node.store, &key).unwrap().unwrap();
    assert_eq!(record.get("reporter_phone").and_then(|v| v.as_str()), Some(PHONE));
}
