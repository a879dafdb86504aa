//! The synthetic communities that feed the streets: each an in-memory replica (the
//! same core a community server runs) writing a Longgang-like mix — a new request,
//! then its moves along the status machine (dispatched, accepted, resolved) — whose
//! log batches are applied at its street as a community link would apply them.

use linli_benches::NOW_MS;
use linli_core::ids::{DocId, NodeId, RecordKey};
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};
use linli_core::write::{FieldOp, Write};
use linli_node::EngineHandle;
use serde_json::json;
use std::collections::{BTreeSet, VecDeque};

/// A document and changes to it, as the engine applies them.
type DocChanges = (DocId, Vec<Vec<u8>>);

/// The moves a request makes after it is reported, in order.
const MOVES: [&str; 3] = ["dispatched", "accepted", "resolved"];

/// The writes of one community: a new request every fourth, else the oldest open
/// request's next move. Whoever writes them (an in-memory replica, a community
/// server's engine) reports each new request's key back.
pub struct Mix {
    id: String,
    /// Requests not yet resolved and how many moves each made, oldest first.
    open: VecDeque<(RecordKey, usize)>,
    made: usize,
}

impl Mix {
    pub fn new(id: &str) -> Mix {
        Mix { id: id.to_string(), open: VecDeque::new(), made: 0 }
    }

    /// The next write, and whether it creates a request (then its key goes to
    /// [`Mix::created`]).
    pub fn next(&mut self) -> (Write, bool) {
        self.made += 1;
        if self.made % 4 == 1 || self.open.is_empty() {
            return (self.request(), true);
        }
        let (key, moved) = self.open.pop_front().expect("an open request");
        let mut ops = vec![FieldOp::Set { field: "status".into(), value: json!(MOVES[moved]) }];
        match MOVES[moved] {
            "dispatched" => ops.push(FieldOp::Set { field: "assignee".into(), value: json!("网格员") }),
            "resolved" => {
                let resolved_at = NOW_MS as i64 + self.made as i64 * 1_000;
                ops.push(FieldOp::Set { field: "resolved_at".into(), value: json!(resolved_at) })
            }
            _ => {}
        }
        if moved + 1 < MOVES.len() {
            self.open.push_back((key.clone(), moved + 1));
        }
        (Write::update(key, ops), false)
    }

    pub fn created(&mut self, key: RecordKey) {
        self.open.push_back((key, 0));
    }

    fn request(&self) -> Write {
        Write::create(
            &self.id,
            "requests",
            &[
                ("category", json!(["environment", "safety", "roads_and_facilities", "other"][self.made % 4])),
                ("channel", json!("qr_code")),
                ("grid", json!(format!("grid-{}", self.made % 13))),
                ("summary", json!(format!("楼道灯坏了，晚上出入不便（{}）", self.made))),
                ("reported_at", json!(NOW_MS as i64)),
                ("deadline", json!(NOW_MS as i64 + 48 * 3_600_000)),
            ],
        )
    }
}

/// A synthetic community: the mix written into an in-memory replica, its log batches
/// applied at the street.
pub struct Community {
    pub id: String,
    replica: StoredReplica<MemoryStore>,
    mix: Mix,
    /// This community's log, applied at the street through this sequence number.
    shipped: u64,
}

impl Community {
    pub fn new(id: &str, registries: &Registries) -> Community {
        let config = ReplicaConfig::new(NodeId::new(id).expect("community id"), Scope::only(id));
        let replica = StoredReplica::open(config, registries.clone(), MemoryStore::new()).expect("replica");
        Community { id: id.to_string(), replica, mix: Mix::new(id), shipped: 0 }
    }

    /// One write, one change. Returns the request's key when it was new.
    pub fn step(&mut self) -> Option<RecordKey> {
        let (write, new) = self.mix.next();
        let key = self.replica.write(write, NOW_MS + self.mix.made as u64).expect("write").key;
        new.then(|| {
            self.mix.created(key.clone());
            key
        })
    }

    /// The log entries written since the last batch, by document in log order, and
    /// how many changes they hold.
    fn batch(&mut self) -> (Vec<DocChanges>, usize) {
        let entries = self.replica.store.log_after(self.shipped, usize::MAX).expect("community log");
        let mut docs: Vec<DocChanges> = Vec::new();
        let mut changes = 0;
        for entry in entries {
            self.shipped = entry.seq;
            changes += entry.changes.len();
            match docs.iter_mut().find(|(doc, _)| *doc == entry.doc) {
                Some((_, held)) => held.extend(entry.changes),
                None => docs.push((entry.doc, entry.changes)),
            }
        }
        (docs, changes)
    }

    /// Applies what was written since the last call at `street`, as the community's
    /// link would: one engine step, durable when it returns. Returns the changes.
    pub async fn ship(&mut self, street: &EngineHandle) -> usize {
        let (docs, changes) = self.batch();
        if changes > 0 {
            let origin = NodeId::new(&self.id).expect("community id");
            street
                .apply_async(origin, BTreeSet::new(), docs, Default::default(), Vec::new(), tracing::Span::none())
                .await
                .expect("the street applies its community's batch");
        }
        changes
    }
}
