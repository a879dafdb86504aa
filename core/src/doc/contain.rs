//! Automerge's panics on a peer's bytes, turned into refusals.
//!
//! Automerge (0.12) checks a change's bytes when it decodes them, but not everything it
//! assumes when it applies them: a change whose author skipped a sequence number (its
//! actor never wrote change 1 here, forged or corrupted) makes `apply_changes` panic
//! in its batch import (`lookup_actor(..).unwrap()`). A peer's bytes must never take a
//! node down: its link would resend the same batch after the restart. So a merge of
//! a peer's changes runs inside `catch_unwind`, and a panic becomes [`Error::Corrupt`],
//! refused like changes that do not decode. The caller drops the document, which
//! Automerge may have left half-applied, and reloads it from the store. The panic
//! hook still prints the panic, for the operator.

use crate::error::{Error, Result};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `merge` on document `doc`; a panic inside it is an error.
pub(super) fn contained<T>(doc: &str, merge: impl FnOnce() -> Result<T>) -> Result<T> {
    // Unwind safety: what a panic may leave broken is the document, and the caller
    // drops it on this error.
    catch_unwind(AssertUnwindSafe(merge)).unwrap_or_else(|panic| {
        let message = match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
            (Some(message), _) => message.to_string(),
            (None, Some(message)) => message.clone(),
            (None, None) => "no message".to_string(),
        };
        Err(Error::Corrupt {
            what: "changes",
            key: doc.to_string(),
            reason: format!("Automerge panicked on them: {message}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::RegistryDoc;
    use crate::error::Error;
    use crate::ids::DocId;
    use crate::schema::Registries;
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    /// Two changes of actor `peer.1`; in the second, the actor reads `peer.2`: a
    /// change 2 of an actor that never wrote a change 1.
    fn skipped_sequence_number() -> (RegistryDoc, Vec<Vec<u8>>) {
        let schema = Registries::defaults().unwrap().get("sites").unwrap().clone();
        let id = DocId::new("lg-pingdi", "sites", "all").unwrap();
        let mut peer = RegistryDoc::create(id.clone(), schema.clone(), "peer.1").unwrap();
        let genesis = peer.am.get_heads();
        for (key, value) in [("a", 1), ("b", 2)] {
            peer.am.put(ROOT, key, value).unwrap();
            peer.am.commit();
        }
        let mut changes: Vec<Vec<u8>> = peer.am.get_changes(&genesis).iter().map(|c| c.raw_bytes().to_vec()).collect();
        let second = &mut changes[1];
        let at = second.windows(6).position(|w| w == b"peer.1").expect("the actor in the change");
        second[at + 5] = b'2';
        (RegistryDoc::create(id, schema, "me.1").unwrap(), changes)
    }

    #[test]
    fn a_change_whose_actor_skipped_a_sequence_number_is_refused_not_a_panic() {
        let (mut doc, changes) = skipped_sequence_number();
        let err = doc.apply_remote(&changes, i64::MAX, &Default::default()).expect_err("refused");
        assert!(matches!(&err, Error::Corrupt { what: "changes", .. }), "{err}");
        assert!(err.to_string().contains("Automerge panicked"), "{err}");
        // The first change alone is sound for Automerge: it merges without a panic,
        // and is then judged as any peer's change (it edits the root, which no
        // linli change does: refused by `admit`, not by a panic).
        let (mut doc, changes) = skipped_sequence_number();
        let err = doc.apply_remote(&changes[..1], i64::MAX, &Default::default()).expect_err("a root edit");
        assert!(matches!(&err, Error::Inadmissible { .. }), "{err}");
    }
}
