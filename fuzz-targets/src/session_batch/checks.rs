//! What must hold of a session whatever its peer sends. A failed assertion here is a
//! bug of the session (or of this harness's reading of its contract).

use super::Link;
use linli_core::ids::DocId;
use linli_core::link::{Action, Checkpoint, Frame, PeerIs, Session};
use std::collections::BTreeSet;

/// Polls after one event before the session must say it has nothing to do: a
/// window of batches, the skipped entries between them and a repair of every
/// document take far fewer.
pub(super) const POLLS_MAX: usize = 256;

/// What the checks remember between steps.
pub(crate) struct Seen {
    /// The peer's log applied here through: it never goes back.
    applied_through: u64,
    /// The `through` of this node's last batch (or where shipping resumed).
    sent_through: u64,
}

impl Seen {
    pub fn new(session: &Session) -> Self {
        let progress = session.progress();
        Self { applied_through: progress.applied_through, sent_through: progress.sent_through }
    }
}

/// After every step: every `Apply` was answered, and the counters stay in order.
pub(super) fn after_step(link: &mut Link) {
    let progress = link.session.progress();
    assert!(!link.session.applying(), "an Apply is still open after its answer");
    assert!(
        progress.applied_through >= link.seen.applied_through,
        "applied through {} went back to {}",
        link.seen.applied_through,
        progress.applied_through
    );
    link.seen.applied_through = progress.applied_through;
    assert!(progress.acked_through <= progress.sent_through, "acked past what was sent: {progress:?}");
    assert!(progress.in_flight <= link.session.limits().window_batches_max, "window overrun: {progress:?}");
}

/// A frame the session sends to the peer.
pub(super) fn sent(link: &mut Link, frame: &Frame) {
    match frame {
        Frame::Batch { entries, through, .. } => {
            let after = link.seen.sent_through;
            assert!(*through > after && *through <= link.log_end, "batch through {through} after {after}");
            let mut last = after;
            for entry in entries {
                assert!(
                    entry.seq > last && entry.seq <= *through,
                    "entry {} after {last}, through {through}",
                    entry.seq
                );
                last = entry.seq;
                let peer = link.session.peer();
                let ships = match link.session.peer_is() {
                    PeerIs::Child => link.routes.ships_down(entry, peer),
                    PeerIs::Parent => link.routes.ships_up(entry, peer),
                };
                assert!(ships, "entry {} of {} shipped to {peer} against the routes", entry.seq, entry.doc);
            }
            link.seen.sent_through = *through;
            let in_flight = link.session.progress().in_flight;
            assert!(in_flight <= link.session.limits().window_batches_max, "{in_flight} batches in flight");
        }
        Frame::Ack { through, .. } => {
            let applied = link.session.progress().applied_through;
            assert!(*through <= applied, "acked {through}, applied through {applied} only");
        }
        Frame::Hello(_) => panic!("a session sent a Hello: the runtime sends those"),
        Frame::Refusal { .. } | Frame::Sync { .. } => {}
    }
}

/// The session hands a batch to the engine.
pub(super) fn apply_asked(link: &Link, docs: &[(DocId, Vec<Vec<u8>>)], checkpoint: &Checkpoint) {
    assert!(link.session.applying(), "an Apply the session does not wait for");
    assert_eq!(checkpoint.log_id, link.peer_log_id, "a checkpoint of another log");
    let applied = link.seen.applied_through;
    assert!(checkpoint.through > applied, "an Apply through {} at {applied}", checkpoint.through);
    let unique: BTreeSet<&DocId> = docs.iter().map(|(doc, _)| doc).collect();
    assert_eq!(unique.len(), docs.len(), "a document twice in one Apply");
    if link.session.peer_is() == PeerIs::Child {
        for (doc, _) in docs {
            let refusal = link.routes.refuses_from_child(link.session.peer(), doc);
            assert!(refusal.is_none(), "{doc} reached the engine from a child: {refusal:?}");
        }
    }
}

/// The engine answered: a batch taken is acknowledged through its checkpoint; one to
/// retry ends the session with nothing applied.
pub(super) fn apply_answered(link: &Link, checkpoint: &Checkpoint, retry: bool, answer: Option<&Vec<Action>>) {
    assert!(!link.session.applying(), "still applying after the answer");
    let applied = link.session.progress().applied_through;
    match answer {
        Some(actions) => {
            assert!(!retry, "a document to retry was acknowledged");
            let ack = Action::Send(Frame::Ack { through: checkpoint.through, above: Vec::new() });
            assert_eq!(actions.last(), Some(&ack), "the answer to a batch ends with its Ack");
            assert_eq!(applied, checkpoint.through, "applied through what was acked");
        }
        None => {
            assert!(retry, "the session ended on an answer it should have taken");
            assert_eq!(applied, link.seen.applied_through, "a retried batch counted as applied");
        }
    }
}
