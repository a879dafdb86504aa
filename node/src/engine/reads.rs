//! Reads: the handle's read calls, and how the writer runs them.
//!
//! A read is a closure that runs on the engine thread with the replica and its store,
//! after every batch in flight is durable, so it never sees state the disk does not
//! hold yet; only its answer is sent back. It holds the writer while it runs: reads
//! must be bounded (the query module's answers are). After a failed commit no read
//! runs: memory may be ahead of disk.

use super::handle::EngineHandle;
use super::request::{ReadRequest, Reply, Request};
use super::writer::Writer;
use crate::error::NodeError;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::Replica;
use linli_core::schema::Registries;
use linli_core::views::Views;
use linli_store_rocks::RocksStore;
use std::collections::BTreeMap;

/// A read on the engine thread; its answer goes to `reply`.
fn reader<T: Send + 'static>(
    reply: Reply<T>,
    read: impl FnOnce(&mut Replica, &RocksStore) -> Result<T, NodeError> + Send + 'static,
) -> ReadRequest {
    Box::new(move |replica: Result<(&mut Replica, &RocksStore), NodeError>| {
        let _ = reply.send(replica.and_then(|(replica, store)| read(replica, store)));
    })
}

impl EngineHandle {
    fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Replica, &RocksStore) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        self.call(|reply| Request::Read(reader(reply, read)))
    }

    async fn read_async<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Replica, &RocksStore) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        self.call_async(|reply| Request::Read(reader(reply, read))).await
    }

    /// Runs `read` over the views and the registries on the engine thread, once every
    /// batch in flight is durable, and returns its result. `read` holds the writer
    /// while it runs: it must be bounded (the query module's answers are).
    pub async fn read_views_async<R: Send + 'static>(
        &self,
        read: impl FnOnce(&Views, &Registries) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.read_async(move |replica, _| Ok(read(replica.views(), replica.registries()))).await
    }

    /// A page of `owner`'s `registry` (see `Replica::list_page`); no local fields.
    pub async fn list_page_async(
        &self,
        owner: String,
        registry: String,
        after: Option<RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>, NodeError> {
        self.read_async(move |replica, store| Ok(replica.list_page(store, &owner, &registry, after.as_ref(), limit)?))
            .await
    }

    pub fn get(&self, key: RecordKey) -> Result<Option<Record>, NodeError> {
        self.read(move |replica, store| Ok(replica.get(store, &key)?))
    }

    pub async fn get_async(&self, key: RecordKey) -> Result<Option<Record>, NodeError> {
        self.read_async(move |replica, store| Ok(replica.get(store, &key)?)).await
    }

    /// The maintained views.
    pub fn views(&self) -> Result<Views, NodeError> {
        self.read(|replica, _| Ok(replica.views().clone()))
    }

    pub async fn views_async(&self) -> Result<Views, NodeError> {
        self.read_async(|replica, _| Ok(replica.views().clone())).await
    }

    /// The views recounted from the stored documents.
    pub fn recount(&self) -> Result<Views, NodeError> {
        self.read(|replica, store| Ok(replica.recount(store)?))
    }

    pub async fn recount_async(&self) -> Result<Views, NodeError> {
        self.read_async(|replica, store| Ok(replica.recount(store)?)).await
    }

    /// Every document as JSON, for comparing replicas.
    pub async fn materialize_async(&self) -> Result<BTreeMap<String, serde_json::Value>, NodeError> {
        self.read_async(|replica, store| Ok(replica.materialize(store)?)).await
    }
}

impl Writer {
    /// Runs a read once every batch in flight is durable.
    pub(super) fn read(&mut self, read: ReadRequest) {
        self.drain();
        // After a failed commit memory may be ahead of disk: answer nothing from it.
        if self.has_stopped() {
            read(Err(self.stopped_error()));
        } else {
            read(Ok((&mut self.replica, &self.store)));
        }
    }
}
