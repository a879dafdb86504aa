//! One node of a simulated district: the same replica engine as a real server, over
//! an in-memory store, stepped by the simulator instead of a thread.
//!
//! Every step's `Persist` effects are committed before the next event, which is what
//! the real engine guarantees before it answers. A crash drops the replica and keeps
//! the store (what was committed is durable); a wipe drops both. A start builds the
//! node's routes and scope from its configured children and its store, as a server
//! does (core's `link::tree`): children that left are forgotten there.

use crate::error::SimError;
use linli_core::doc::Record;
use linli_core::ids::{DocId, NodeId, RecordKey};
use linli_core::link::durable::Watermarks;
use linli_core::link::{Checkpoint, Hello, Routes, Tier, tree};
use linli_core::replica::{Effect, Event, Replica, ReplicaConfig, SplitReport, SplitRule, Traces, Written};
use linli_core::schema::Registries;
use linli_core::store::{LogEntry, MemoryStore, Storage, StoreBatch};
use linli_core::views::Views;
use linli_core::write::Write;
use std::collections::{BTreeMap, BTreeSet};

pub struct SimNode {
    pub id: NodeId,
    pub tier: Tier,
    /// Whether this node is the top of the tree (it has no parent), and so writes
    /// anywhere below it.
    pub is_root: bool,
    /// The children this node is configured with (for its next start).
    children: BTreeSet<String>,
    /// Children that left for good, forgotten at the next start (a server's `--forget`).
    forget: BTreeSet<String>,
    /// Built at each start from the children and the store; a child's Hello adds its
    /// subtree.
    pub routes: Routes,
    store: MemoryStore,
    /// The store as the last [`Self::backup`] found it.
    backup: Option<MemoryStore>,
    /// `None` while the node is down.
    replica: Option<Replica>,
    /// Each new store gets a new Automerge actor: `<node>.<incarnation>`.
    incarnation: u64,
    /// Added to the simulated time this node's clock reads.
    pub skew_ms: i64,
    /// This node's log durable at each tier above it and its children's, kept as a
    /// server's link runtime keeps them. Lost with a crash, as a server's are.
    pub marks: Watermarks,
}

fn core_error(node: &NodeId) -> impl Fn(linli_core::Error) -> SimError + '_ {
    move |source| SimError::Core { node: node.to_string(), source: Box::new(source) }
}

/// What a node's engine made of a peer's batch: the documents it did not take, with
/// why, and those that hold changes waiting for their dependencies.
pub type Applied = (Vec<(DocId, linli_core::Error)>, Vec<DocId>);

impl SimNode {
    pub fn new(id: NodeId, tier: Tier, is_root: bool, children: BTreeSet<String>) -> Self {
        let routes = Routes::new(&id);
        Self {
            id,
            tier,
            is_root,
            children,
            forget: BTreeSet::new(),
            routes,
            store: MemoryStore::new(),
            backup: None,
            replica: None,
            incarnation: 0,
            skew_ms: 0,
            marks: Watermarks::default(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.replica.is_some()
    }

    /// Opens the replica over the store, as a server does at start.
    pub fn start(&mut self, registries: &Registries) -> Result<(), SimError> {
        if self.replica.is_some() {
            return Ok(());
        }
        self.incarnation += 1;
        let scope = tree::scope(self.is_root, self.id.as_str(), &self.children);
        let mut config = ReplicaConfig::new(self.id.clone(), scope);
        config.incarnation = self.incarnation;
        let mut replica = Replica::open(config, registries.clone(), &self.store).map_err(core_error(&self.id))?;
        if let Some(birth) = replica.birth() {
            self.store.commit(&birth).map_err(core_error(&self.id))?;
        }
        self.replica = Some(replica);
        let restored = tree::restore(&self.id, &self.children, &self.forget, |name| self.store.meta(name))
            .map_err(core_error(&self.id))?;
        restored.refuse_missing().map_err(core_error(&self.id))?;
        self.forget.clear();
        if !restored.gone.is_empty() || !restored.forget_meta.is_empty() {
            self.steps(Event::Forget { owners: restored.gone, meta: restored.forget_meta })?;
        }
        self.put_meta(restored.meta)?;
        self.routes = restored.routes;
        Ok(())
    }

    /// Configures `child` below this node, from its next start on.
    pub fn adopt(&mut self, child: &str) {
        self.children.insert(child.to_string());
    }

    /// Configures this node without `child`, from its next start on, and says the
    /// child left for good (`--forget`): that start forgets the child's documents.
    pub fn release(&mut self, child: &str) {
        self.children.remove(child);
        self.forget.insert(child.to_string());
    }

    /// Takes a child's subtree from its Hello, checked as a real parent checks it,
    /// persisted before it is used. `Ok(Err(reason))`: the Hello is refused.
    /// Takes `child`'s Hello as a server's parent does: `Ok(Ok(true))` when this
    /// node's own subtree changed (its uplink must announce it again), `Ok(Err(why))`
    /// when the Hello is refused.
    pub fn accept(&mut self, child: &NodeId, hello: &Hello) -> Result<Result<bool, String>, SimError> {
        let me = (self.id.as_str(), self.tier);
        let subtree = match tree::accepted_subtree(me, child, hello, None, &self.routes.children) {
            Ok(subtree) => subtree,
            Err(reason) => return Ok(Err(reason)),
        };
        let mut routes = self.routes.clone();
        let accepted = routes.accept(child, subtree);
        if !accepted.meta.is_empty() {
            self.put_meta(accepted.meta)?;
            self.routes = routes;
        }
        Ok(Ok(accepted.subtree_changed))
    }

    fn put_meta(&mut self, meta: Vec<(String, Vec<u8>)>) -> Result<(), SimError> {
        if meta.is_empty() {
            return Ok(());
        }
        self.steps(Event::Meta { entries: meta }).map(drop)
    }

    /// Stops the node; what it committed stays.
    pub fn crash(&mut self) {
        self.marks = Watermarks::default();
        self.replica = None;
    }

    /// Stops the node and loses its store.
    pub fn wipe(&mut self) {
        self.replica = None;
        self.store = MemoryStore::new();
    }

    /// Keeps a copy of the store as it is now (what is committed), as a backup.
    pub fn backup(&mut self) {
        self.backup = Some(self.store.clone());
    }

    /// Stops the node and puts its last backup in place of its store.
    pub fn restore(&mut self) -> Result<(), SimError> {
        let backup = self
            .backup
            .clone()
            .ok_or_else(|| SimError::Run { reason: format!("{} has no backup to restore", self.id) })?;
        self.replica = None;
        self.store = backup;
        Ok(())
    }

    fn steps(&mut self, event: Event) -> Result<Vec<Effect>, SimError> {
        let Some(replica) = self.replica.as_mut() else { return Ok(Vec::new()) };
        // As the engine: past the cache's bound, evict between steps (every batch of
        // this node is committed by then).
        if replica.cache_over_bound() {
            replica.evict();
        }
        let effects = replica.step(&self.store, event);
        let mut batch = StoreBatch::default();
        let mut others = Vec::new();
        for effect in effects {
            match effect {
                Effect::Persist(persist) => batch.extend(persist),
                other => others.push(other),
            }
        }
        if !batch.is_empty() {
            self.store.commit(&batch).map_err(core_error(&self.id))?;
        }
        Ok(others)
    }

    /// A local write at `now_ms` (simulated time, before this node's skew). `Ok(None)`
    /// while down; `Err(SimError::Core)` when the replica refuses it.
    pub fn write(&mut self, write: Write, now_ms: u64) -> Result<Option<Written>, SimError> {
        if !self.is_up() {
            return Ok(None);
        }
        let now_ms = now_ms.saturating_add_signed(self.skew_ms);
        let event = Event::Writes { writes: vec![(0, write)], now_ms };
        for effect in self.steps(event)? {
            if let Effect::Written { result, .. } = effect {
                return result.map(Some).map_err(core_error(&self.id));
            }
        }
        Err(SimError::Core {
            node: self.id.to_string(),
            source: Box::new(linli_core::Error::RolledBack {
                doc: "-".into(),
                cause: "the write had no answer".into(),
            }),
        })
    }

    pub fn get(&mut self, key: &RecordKey) -> Result<Option<Record>, SimError> {
        let Some(replica) = self.replica.as_mut() else { return Ok(None) };
        replica.get(&self.store, key).map_err(core_error(&self.id))
    }

    /// Applies a peer's changes, received at `now_ms` (simulated, before this node's
    /// skew), with the link's checkpoint in the same batch; returns
    /// the documents the replica did not take, with why, and those that hold changes
    /// waiting for their dependencies.
    pub fn apply(
        &mut self,
        origin: &NodeId,
        actors_refused: BTreeSet<String>,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        traces: Traces,
        checkpoint: Checkpoint,
        now_ms: u64,
    ) -> Result<Applied, SimError> {
        let meta = vec![(Checkpoint::meta_name(origin), checkpoint.encode())];
        let now_ms = now_ms.saturating_add_signed(self.skew_ms);
        let event = Event::Changes { origin: origin.clone(), actors_refused, docs, traces, meta, now_ms };
        let (mut refused, mut waiting) = (Vec::new(), Vec::new());
        for effect in self.steps(event)? {
            if let Effect::Applied { doc, result, waiting: waits } = effect {
                if waits {
                    waiting.push(doc.clone());
                }
                if let Err(e) = result {
                    refused.push((doc, e));
                }
            }
        }
        Ok((refused, waiting))
    }

    /// One step of Automerge's sync protocol with `peer` on `doc`: the reply to send,
    /// and why the peer's message was refused, if it was.
    pub fn sync(
        &mut self,
        peer: &NodeId,
        actors_refused: BTreeSet<String>,
        doc: DocId,
        message: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(Option<Vec<u8>>, Option<String>), SimError> {
        let now_ms = now_ms.saturating_add_signed(self.skew_ms);
        let event = Event::Sync { peer: peer.clone(), actors_refused, doc, message, now_ms };
        for effect in self.steps(event)? {
            if let Effect::Sync { reply, result, .. } = effect {
                return Ok((reply, result.err().map(|e| e.to_string())));
            }
        }
        Ok((None, None))
    }

    /// Runs a split here (see `docs/split.md`); `Ok(None)` while down.
    pub fn split(&mut self, rule: SplitRule, now_ms: u64) -> Result<Option<SplitReport>, SimError> {
        if !self.is_up() {
            return Ok(None);
        }
        let now_ms = now_ms.saturating_add_signed(self.skew_ms);
        for effect in self.steps(Event::Split { rule, now_ms })? {
            if let Effect::Split { result } = effect {
                return result.map(Some).map_err(core_error(&self.id));
            }
        }
        Ok(None)
    }

    /// Background work (compaction), as a server's tick.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), SimError> {
        let now_ms = now_ms.saturating_add_signed(self.skew_ms);
        self.steps(Event::Tick { now_ms }).map(drop)
    }

    pub fn log_end(&self) -> Result<u64, SimError> {
        self.store.log_last_seq().map_err(core_error(&self.id))
    }

    pub fn log_after(&self, after: u64, max: usize) -> Result<Vec<LogEntry>, SimError> {
        self.store.log_after(after, max).map_err(core_error(&self.id))
    }

    /// The log after `after` for a link's session; `None` when it was trimmed past
    /// `after` (the session ends and the next one repairs).
    pub fn log_after_for_link(&self, after: u64, max: usize) -> Result<Option<Vec<LogEntry>>, SimError> {
        match self.store.log_after(after, max) {
            Ok(entries) => Ok(Some(entries)),
            Err(e @ linli_core::Error::LogTrimmed { .. }) => {
                tracing::info!(node = %self.id, error = %e, "link session ends");
                Ok(None)
            }
            Err(e) => Err(core_error(&self.id)(e)),
        }
    }

    /// The highest seq trimmed from the log (0: none).
    pub fn log_trimmed(&self) -> Result<u64, SimError> {
        self.store.log_trimmed().map_err(core_error(&self.id))
    }

    /// Trims the log through `through` (see `Event::TrimLog`); nothing while down.
    pub fn trim_log(&mut self, through: u64) -> Result<(), SimError> {
        self.steps(Event::TrimLog { through }).map(drop)
    }

    pub fn log_id(&self) -> String {
        self.replica.as_ref().map(|r| r.log_id().to_string()).unwrap_or_default()
    }

    /// The bytes of peers' changes each document holds waiting for their
    /// dependencies (empty while down).
    pub fn waiting_bytes(&self) -> Result<Vec<(DocId, usize)>, SimError> {
        let Some(replica) = self.replica.as_ref() else { return Ok(Vec::new()) };
        replica.waiting_bytes(&self.store).map_err(core_error(&self.id))
    }

    /// The checkpoint this node holds of `peer`'s log, if any.
    pub fn checkpoint_of(&self, peer: &NodeId) -> Result<Option<Checkpoint>, SimError> {
        let bytes = self.store.meta(&Checkpoint::meta_name(peer)).map_err(core_error(&self.id))?;
        Ok(bytes.and_then(|bytes| Checkpoint::decode(&bytes)))
    }

    /// The documents this node quarantined and has not repaired, for a session's start.
    pub fn quarantined(&self) -> Result<BTreeSet<DocId>, SimError> {
        linli_core::replica::quarantined(&self.store).map_err(core_error(&self.id))
    }

    /// This node's log entry that the peer's checkpoint names, for the session's start.
    pub fn named_entry(&self, mine: &Hello, theirs: &Hello) -> Result<Option<LogEntry>, SimError> {
        match linli_core::link::named_seq(mine, theirs) {
            Some(seq) => Ok(self.log_after(seq - 1, 1)?.into_iter().next()),
            None => Ok(None),
        }
    }

    /// Renews the log's identity if it is still `stale` (see `Event::RenewLog`).
    pub fn renew_log(&mut self, stale: String) -> Result<(), SimError> {
        self.steps(Event::RenewLog { stale }).map(drop)
    }

    pub fn doc_ids(&self) -> Result<Vec<DocId>, SimError> {
        self.store.doc_ids().map_err(core_error(&self.id))
    }

    pub fn hello(&self, peer: &NodeId) -> Result<Hello, SimError> {
        let checkpoint = self.checkpoint_of(peer)?;
        Ok(Hello {
            node: self.id.clone(),
            tier: self.tier,
            log_id: self.log_id(),
            log_end: self.log_end()?,
            log_trimmed: self.store.log_trimmed().map_err(core_error(&self.id))?,
            checkpoint,
            subtree: self.routes.subtree(),
        })
    }

    /// Every document as JSON, `None` while down.
    pub fn materialize(&mut self) -> Result<Option<BTreeMap<String, serde_json::Value>>, SimError> {
        let Some(replica) = self.replica.as_mut() else { return Ok(None) };
        replica.materialize(&self.store).map(Some).map_err(core_error(&self.id))
    }

    /// The maintained views and a recount, `None` while down.
    pub fn views_and_recount(&mut self) -> Result<Option<(Views, Views)>, SimError> {
        let Some(replica) = self.replica.as_mut() else { return Ok(None) };
        let views = replica.views().clone();
        let recount = replica.recount(&self.store).map_err(core_error(&self.id))?;
        Ok(Some((views, recount)))
    }
}
