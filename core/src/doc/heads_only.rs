//! A sync message with its changes taken out: what a parent reads of a child's message
//! on a document it broadcasts.
//!
//! Automerge's sync protocol needs both sides' messages: the parent learns from the
//! child's heads and "have" what to send. A child writes nothing to a broadcast (its
//! owner is above it), so whatever changes its message carries are refused; the rest
//! of the message still moves the parent's side of the conversation.

use crate::error::{Error, Result};
use automerge::sync;

/// `message` re-encoded without its changes, and whether it carried any. A message
/// that does not decode is refused with the document it was for.
pub fn sync_heads_only(doc: &str, message: &[u8]) -> Result<(Vec<u8>, bool)> {
    let mut decoded = sync::Message::decode(message).map_err(|e| Error::Corrupt {
        what: "sync message",
        key: doc.to_string(),
        reason: e.to_string(),
    })?;
    let carried = decoded.changes.iter().any(|chunk| !chunk.is_empty());
    decoded.changes = sync::ChunkList::empty();
    Ok((decoded.encode(), carried))
}

/// A sync message on a one-field document, as a peer sends it: its first (heads only),
/// or, `with_change`, the one that carries the change to a peer that holds nothing.
#[cfg(test)]
pub(crate) fn test_sync_message(with_change: bool) -> Vec<u8> {
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};
    let mut am = AutoCommit::new();
    am.put(ROOT, "site", "east gate").expect("put");
    let mut state = sync::State::new();
    let first = am.sync().generate_sync_message(&mut state).expect("first");
    if !with_change {
        return first.encode();
    }
    // After hearing that the peer holds nothing, the next message carries the change.
    let reply = AutoCommit::new().sync().generate_sync_message(&mut sync::State::new()).expect("reply");
    am.sync().receive_sync_message(&mut state, reply).expect("receive");
    am.sync().generate_sync_message(&mut state).expect("changes").encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_taken_out_and_the_heads_stay() {
        let message = test_sync_message(true);
        let before = sync::Message::decode(&message).expect("decode");
        assert!(before.changes.iter().any(|c| !c.is_empty()), "the message carries a change");
        let (stripped, carried) = sync_heads_only("d/sites/all", &message).expect("strip");
        assert!(carried);
        let after = sync::Message::decode(&stripped).expect("decode stripped");
        assert!(after.changes.iter().all(|c| c.is_empty()));
        assert_eq!(after.heads, before.heads);
        // A message without changes goes through as it was, said so.
        let (again, carried) = sync_heads_only("d/sites/all", &stripped).expect("again");
        assert!(!carried);
        assert_eq!(sync::Message::decode(&again).expect("decode").heads, before.heads);
    }

    #[test]
    fn a_message_that_does_not_decode_names_its_document() {
        let err = sync_heads_only("d/sites/all", b"\x07garbage").expect_err("garbage");
        assert!(err.to_string().contains("d/sites/all"), "{err}");
    }
}
