//! The engine and its store driven in one thread, step by step: persist, then answer.
//!
//! The simplest runtime, used by the simulator, the tests and inside the node's writer
//! thread. A failed commit poisons it: memory is then ahead of disk, so every later
//! call fails until the replica is reopened from the store.

use super::{Effect, Event, Replica, ReplicaConfig, SplitReport, SplitRule, Written};
use crate::error::{Error, Result};
use crate::ids::{DocId, NodeId};
use crate::schema::Registries;
use crate::store::Storage;
use crate::write::Write;
use std::collections::BTreeMap;

pub struct StoredReplica<S: Storage> {
    pub replica: Replica,
    pub store: S,
    poisoned: bool,
}

impl<S: Storage> StoredReplica<S> {
    /// Opens the replica over `store` and commits what opening decided (a new store's
    /// actor, views recounted because they could not be read).
    pub fn open(config: ReplicaConfig, registries: Registries, mut store: S) -> Result<Self> {
        let mut replica = Replica::open(config, registries, &store)?;
        if let Some(birth) = replica.birth() {
            store.commit(&birth)?;
        }
        Ok(Self { replica, store, poisoned: false })
    }

    /// Runs one event: commits its batch (one sync), then returns the other effects.
    pub fn step(&mut self, event: Event) -> Result<Vec<Effect>> {
        if self.poisoned {
            return Err(Error::Corrupt {
                what: "replica",
                key: self.replica.node().to_string(),
                reason: "an earlier commit failed; reopen from the store".into(),
            });
        }
        // Everything earlier is committed (this runtime commits before it returns), so
        // the cache may drop documents now.
        self.replica.evict();
        let effects = self.replica.step(&self.store, event);
        let mut rest = Vec::with_capacity(effects.len());
        for effect in effects {
            match effect {
                Effect::Persist(batch) if batch.is_empty() => {}
                Effect::Persist(batch) => {
                    if let Err(e) = self.store.commit(&batch) {
                        self.poisoned = true;
                        return Err(e);
                    }
                }
                other => rest.push(other),
            }
        }
        Ok(rest)
    }

    /// Writes several records together: one batch, one sync. Results in order.
    pub fn write_many(&mut self, writes: Vec<Write>, now_ms: u64) -> Result<Vec<Result<Written>>> {
        let writes = writes.into_iter().enumerate().map(|(i, w)| (i as u64, w)).collect();
        let effects = self.step(Event::Writes { writes, now_ms })?;
        Ok(effects
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::Written { result, .. } => Some(result),
                _ => None,
            })
            .collect())
    }

    pub fn write(&mut self, write: Write, now_ms: u64) -> Result<Written> {
        self.write_many(vec![write], now_ms)?.pop().unwrap_or_else(|| {
            Err(Error::Corrupt {
                what: "replica",
                key: self.replica.node().to_string(),
                reason: "no answer to a write".into(),
            })
        })
    }

    /// Applies changes from peer `origin`, received at `now_ms`; returns per document
    /// how many were new here.
    pub fn apply(
        &mut self,
        origin: &NodeId,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        now_ms: u64,
    ) -> Result<Vec<(DocId, Result<usize>)>> {
        let effects = self.step(Event::Changes {
            origin: origin.clone(),
            actors_refused: Default::default(),
            docs,
            traces: Default::default(),
            meta: Vec::new(),
            now_ms,
        })?;
        Ok(effects
            .into_iter()
            .filter_map(|effect| match effect {
                Effect::Applied { doc, result, .. } => Some((doc, result)),
                _ => None,
            })
            .collect())
    }

    /// Splits community `from` (see [`Event::Split`]).
    pub fn split(
        &mut self,
        from: &str,
        by_field: &str,
        to: BTreeMap<String, String>,
        default_to: Option<&str>,
        now_ms: u64,
    ) -> Result<SplitReport> {
        let rule =
            SplitRule { from: from.into(), by_field: by_field.into(), to, default_to: default_to.map(str::to_string) };
        let event = Event::Split { rule, now_ms };
        let effects = self.step(event)?;
        effects
            .into_iter()
            .find_map(|effect| match effect {
                Effect::Split { result } => Some(result),
                _ => None,
            })
            .unwrap_or_else(|| {
                Err(Error::Corrupt {
                    what: "replica",
                    key: self.replica.node().to_string(),
                    reason: "no answer to a split".into(),
                })
            })
    }

    pub fn tick(&mut self, now_ms: u64) -> Result<()> {
        self.step(Event::Tick { now_ms }).map(|_| ())
    }
}
