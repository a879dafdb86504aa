//! The receiving half of a session: the peer's batches become one group per document
//! for the engine, with the checkpoint to persist beside them; refusals; acks.

use super::Action;
use crate::ids::DocId;
use crate::link::limits::{BATCH_DOCS_MAX, BATCH_ENTRIES_BOUND};
use crate::link::{Checkpoint, Frame};
use crate::store::LogEntry;
use std::collections::{BTreeSet, HashMap};

/// Why a batch ends the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BatchRefused {
    /// It breaks the protocol (entries out of order, past its `through`, or a batch
    /// while the previous one is applied).
    Broken(String),
    /// It is over a bound of what this node takes in one batch.
    OverBound(String),
}

pub(super) struct Receiver {
    /// The peer's log is applied here, durably, through this entry.
    applied_through: u64,
    /// The peer's log end as last known (its Hello, or a batch past it).
    peer_log_end: u64,
    /// The batch the engine is applying: the `through` to ack, and the first entry of
    /// each document, which a refusal names.
    applying: Option<(u64, HashMap<DocId, u64>)>,
}

impl Receiver {
    pub fn new(applied_through: u64, peer_log_end: u64) -> Self {
        Self { applied_through, peer_log_end, applying: None }
    }

    pub fn applied_through(&self) -> u64 {
        self.applied_through
    }

    pub fn peer_log_end(&self) -> u64 {
        self.peer_log_end
    }

    pub fn applying(&self) -> bool {
        self.applying.is_some()
    }

    /// A batch of the peer's log through `checkpoint.through`. Entries `refuses` names a reason
    /// for are refused (a `Refusal` each) and the rest grouped per document, in one
    /// pass; the checkpoint goes with them. A batch at or below what is applied here
    /// (a replay) is acked again and applies nothing. `Err`: the batch breaks the
    /// protocol (entries out of order or past its `through`) or is over a bound
    /// ([`BATCH_ENTRIES_BOUND`], [`BATCH_DOCS_MAX`]); nothing of it is applied.
    pub fn on_batch(
        &mut self,
        entries: Vec<LogEntry>,
        checkpoint: Checkpoint,
        actors_refused: BTreeSet<String>,
        refuses: impl Fn(&DocId) -> Option<String>,
    ) -> Result<Vec<Action>, BatchRefused> {
        let through = checkpoint.through;
        if self.applying.is_some() {
            let why = format!("batch through {through} arrived before the previous one was applied");
            return Err(BatchRefused::Broken(why));
        }
        if entries.len() > BATCH_ENTRIES_BOUND {
            let why = format!(
                "batch through {through} holds {} entries, over the bound of {BATCH_ENTRIES_BOUND} per batch: refused whole",
                entries.len()
            );
            return Err(BatchRefused::OverBound(why));
        }
        if through <= self.applied_through {
            return Ok(vec![Action::Send(Frame::Ack { through, above: Vec::new() })]);
        }
        let mut last = self.applied_through;
        for entry in &entries {
            if entry.seq <= last || entry.seq > through {
                let why = format!(
                    "batch through {through}: entry {} is out of order (after {last}, applied through {})",
                    entry.seq, self.applied_through
                );
                return Err(BatchRefused::Broken(why));
            }
            last = entry.seq;
        }
        let mut actions = Vec::new();
        let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
        let mut index: HashMap<DocId, usize> = HashMap::new();
        let mut first_seq: HashMap<DocId, u64> = HashMap::new();
        let mut traces = crate::replica::Traces::new();
        for entry in entries {
            if let Some(reason) = refuses(&entry.doc) {
                actions.push(Action::Send(Frame::Refusal { seq: entry.seq, doc: entry.doc.to_string(), reason }));
                continue;
            }
            if !entry.traces.is_empty() {
                crate::trace::join(traces.entry(entry.doc.clone()).or_default(), entry.traces);
            }
            match index.get(&entry.doc) {
                Some(&i) => docs[i].1.extend(entry.changes),
                None if docs.len() >= BATCH_DOCS_MAX => {
                    let why = format!(
                        "batch through {through} touches more than {BATCH_DOCS_MAX} documents, the bound per batch: refused whole"
                    );
                    return Err(BatchRefused::OverBound(why));
                }
                None => {
                    index.insert(entry.doc.clone(), docs.len());
                    first_seq.insert(entry.doc.clone(), entry.seq);
                    docs.push((entry.doc, entry.changes));
                }
            }
        }
        self.applying = Some((through, first_seq));
        actions.push(Action::Apply { docs, traces, checkpoint, actors_refused });
        Ok(actions)
    }

    /// The engine could not take the batch whole for now: nothing is acked, and
    /// nothing counts as applied past the checkpoint it had.
    pub fn on_retry(&mut self) {
        self.applying = None;
    }

    /// The engine's answer to the batch: refusals for the documents it would not take,
    /// then the `Ack`.
    pub fn on_applied(&mut self, refused: Vec<(DocId, String)>) -> Vec<Action> {
        let Some((through, first_seq)) = self.applying.take() else {
            tracing::warn!("an apply was answered that the session did not ask for");
            return Vec::new();
        };
        let mut actions: Vec<Action> = refused
            .into_iter()
            .map(|(doc, reason)| {
                let seq = first_seq.get(&doc).copied().unwrap_or(0);
                Action::Send(Frame::Refusal { seq, doc: doc.to_string(), reason })
            })
            .collect();
        self.applied_through = through;
        self.peer_log_end = self.peer_log_end.max(through);
        actions.push(Action::Send(Frame::Ack { through, above: Vec::new() }));
        actions
    }
}
