//! The deterministic first change of every registry document.
//!
//! Every replica that creates a document starts it from these same bytes (fixed actor,
//! fixed time, the `records` list), so replicas that create one document independently
//! agree on its root object and can merge each other's records.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT};
use std::sync::OnceLock;

pub const GENESIS_ACTOR: &[u8] = b"linli-genesis";
/// 2020-01-01T00:00:00Z in ms: fixed, and not 0.
pub const GENESIS_TIME_MS: i64 = 1_577_836_800_000;
pub const RECORDS: &str = "records";

pub fn genesis_bytes() -> &'static [u8] {
    static GENESIS: OnceLock<Vec<u8>> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
        doc.put_object(ROOT, RECORDS, ObjType::List).expect("putting a list on a fresh document's root");
        doc.commit_with(CommitOptions::default().with_time(GENESIS_TIME_MS));
        doc.save()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ReadDoc;

    #[test]
    fn genesis_is_the_same_everywhere() {
        let mut a = AutoCommit::load(genesis_bytes()).unwrap();
        let mut b = AutoCommit::load(genesis_bytes()).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        let (_, records_a) = a.get(ROOT, RECORDS).unwrap().unwrap();
        let (_, records_b) = b.get(ROOT, RECORDS).unwrap().unwrap();
        assert_eq!(records_a, records_b);
    }
}
