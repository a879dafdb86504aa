//! The writer thread: owns the replica, turns queued requests into engine steps, and
//! hands each step's batch to the committer with the answers to release once it is
//! durable.
//!
//! It takes the first request, then gathers what may share its batch: every write
//! already waiting (up to `write_batch_max`) runs as one `Writes` step, one Automerge
//! change per touched document; consecutive steps that group (peers' changes) run one
//! after another into one batch. Other steps run alone. While the committer syncs one
//! batch the writer prepares the next; past `batches_in_flight_max` it waits. The
//! cache is trimmed only when every batch in flight is durable, so a document that
//! reloads from disk has all its changes. When no request comes for a `tick`, it does
//! background work (compaction).

use super::request::{Answer, Commit, Reply, Request, StepRequest};
use super::{StopReason, WallClock, stop_reason};
use crate::error::NodeError;
use crate::metrics::NodeMetrics;
use linli_core::replica::{Effect, Event, Replica, Written};
use linli_core::store::StoreBatch;
use linli_core::write::Write;
use linli_store_rocks::RocksStore;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether a waiting request joins the batch being gathered, or is handled after it.
enum Joins<T> {
    Yes(T),
    No(Request),
}

pub(super) struct Writer {
    pub replica: Replica,
    /// For reads only; the committer writes.
    pub store: RocksStore,
    pub requests: Receiver<Request>,
    pub commits: Option<SyncSender<Commit>>,
    pub done: Receiver<()>,
    pub in_flight: usize,
    pub batch_max: usize,
    pub tick: Duration,
    /// What steps are stamped with.
    pub clock: WallClock,
    pub stopped: StopReason,
    pub committer: Option<JoinHandle<()>>,
    pub metrics: Arc<NodeMetrics>,
}

impl Writer {
    pub fn run(mut self) {
        let mut carry: Option<Request> = None;
        loop {
            self.reap();
            let first = match carry.take() {
                Some(request) => request,
                None => match self.requests.recv_timeout(self.tick) {
                    Ok(request) => request,
                    Err(RecvTimeoutError::Timeout) => {
                        self.background();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            match first {
                Request::Write(write, reply) => {
                    let (writes, next) = self.gather((write, reply), |request| match request {
                        Request::Write(write, reply) => Joins::Yes((write, reply)),
                        other => Joins::No(other),
                    });
                    carry = next;
                    self.write_batch(writes);
                }
                Request::Step(step) if step.groups => {
                    // Group commit for links too: batches from several peers waiting
                    // together share one synced write.
                    let (steps, next) = self.gather(step, |request| match request {
                        Request::Step(step) if step.groups => Joins::Yes(step),
                        other => Joins::No(other),
                    });
                    carry = next;
                    self.steps(steps);
                }
                Request::Step(step) => self.steps(vec![step]),
                Request::Read(read) => self.read(read),
                Request::Shutdown => break,
            }
        }
        self.drain();
        // Closing the channel ends the committer once it has committed everything.
        self.commits = None;
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }

    /// `first` and the requests already waiting that `take` accepts, up to
    /// `write_batch_max`; also the first request it refused, to handle next.
    fn gather<T>(&self, first: T, take: impl Fn(Request) -> Joins<T>) -> (Vec<T>, Option<Request>) {
        let mut gathered = vec![first];
        while gathered.len() < self.batch_max {
            match self.requests.try_recv() {
                Ok(request) => match take(request) {
                    Joins::Yes(item) => gathered.push(item),
                    Joins::No(other) => return (gathered, Some(other)),
                },
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        (gathered, None)
    }

    pub fn has_stopped(&self) -> bool {
        stop_reason(&self.stopped).is_some()
    }

    pub fn stopped_error(&self) -> NodeError {
        NodeError::Stopped { reason: stop_reason(&self.stopped) }
    }

    /// Counts the batches the committer has finished, without waiting.
    fn reap(&mut self) {
        while self.in_flight > 0 && self.done.try_recv().is_ok() {
            self.in_flight -= 1;
        }
    }

    /// Waits until every batch sent to the committer is durable (or failed).
    pub fn drain(&mut self) {
        while self.in_flight > 0 {
            if self.done.recv().is_err() {
                self.in_flight = 0;
                return;
            }
            self.in_flight -= 1;
        }
    }

    /// Trims the document cache if it is over its bound, once nothing is in flight.
    fn trim_cache(&mut self) {
        if self.replica.cache_over_bound() {
            self.drain();
            self.replica.evict();
        }
    }

    fn send(&mut self, commit: Commit) {
        let Some(commits) = &self.commits else { return };
        if let Err(rejected) = commits.send(commit) {
            // The committer is gone: nothing can become durable any more.
            for answer in rejected.0.answers {
                answer.fail(Some("the committer thread ended".into()));
            }
            return;
        }
        self.in_flight += 1;
    }

    fn write_batch(&mut self, writes: Vec<(Write, Reply<Written>)>) {
        if self.has_stopped() {
            for (_, reply) in writes {
                let _ = reply.send(Err(self.stopped_error()));
            }
            return;
        }
        self.trim_cache();
        let batch_size = writes.len();
        let (writes, replies): (Vec<Write>, Vec<Reply<Written>>) = writes.into_iter().unzip();
        let span = match writes.iter().any(|write| write.trace.is_some()) {
            false => tracing::Span::none(),
            true => crate::telemetry::join(
                tracing::info_span!("linli.engine.step", linli.node = %self.replica.node(), requests = batch_size),
                writes.iter().filter_map(|write| write.trace),
            ),
        };
        let event = Event::Writes {
            writes: writes.into_iter().enumerate().map(|(i, w)| (i as u64, w)).collect(),
            now_ms: self.clock.now_ms(),
        };
        let mut batch = StoreBatch::default();
        let mut replies: Vec<Option<Reply<Written>>> = replies.into_iter().map(Some).collect();
        let mut answers = Vec::with_capacity(batch_size);
        let started = Instant::now();
        let effects = span.in_scope(|| self.replica.step(&self.store, event));
        self.metrics.engine_step_seconds.observe_duration(started.elapsed());
        self.metrics.engine_batch_requests.observe(batch_size as f64);
        for effect in effects {
            match effect {
                Effect::Persist(persist) => batch.extend(persist),
                Effect::Written { request, result } => {
                    if result.is_ok() {
                        NodeMetrics::add(&self.metrics.changes_local, 1);
                    }
                    if let Some(reply) = replies.get_mut(request as usize).and_then(Option::take) {
                        answers.push(Answer::new(reply, result.map_err(NodeError::from)));
                    }
                }
                Effect::Applied { .. } | Effect::Sync { .. } | Effect::Split { .. } | Effect::LogRenewed { .. } => {}
                Effect::Quarantined { docs } => NodeMetrics::add(&self.metrics.quarantined, docs.len() as u64),
            }
        }
        self.note_cache();
        tracing::trace!(batch_size, "write batch prepared");
        let spans = if span.is_none() { Vec::new() } else { vec![self.append_span(&span, &batch)] };
        self.send(Commit { batch, answers, spans });
    }

    /// Runs steps one after another into one batch, answered once it is durable.
    fn steps(&mut self, steps: Vec<StepRequest>) {
        if self.has_stopped() {
            for step in steps {
                step.reply.fail(stop_reason(&self.stopped));
            }
            return;
        }
        self.trim_cache();
        let mut batch = StoreBatch::default();
        let mut answers = Vec::with_capacity(steps.len());
        let mut spans = Vec::new();
        self.metrics.engine_batch_requests.observe(steps.len() as f64);
        for StepRequest { event, reply, span, .. } in steps {
            let mut effects = Vec::new();
            let step_span = match span.is_none() {
                true => tracing::Span::none(),
                false => {
                    tracing::info_span!(parent: &span, "linli.engine.step", linli.node = %self.replica.node(), requests = 1)
                }
            };
            let started = Instant::now();
            let stepped = step_span.in_scope(|| self.replica.step(&self.store, event(self.clock.now_ms())));
            if !step_span.is_none() {
                spans.push(step_span);
            }
            self.metrics.engine_step_seconds.observe_duration(started.elapsed());
            for effect in stepped {
                match effect {
                    Effect::Persist(persist) => batch.extend(persist),
                    other => {
                        match &other {
                            Effect::Applied { result: Ok(changes), .. } | Effect::Sync { result: Ok(changes), .. } => {
                                NodeMetrics::add(&self.metrics.changes_peer, *changes as u64)
                            }
                            Effect::Quarantined { docs } => {
                                NodeMetrics::add(&self.metrics.quarantined, docs.len() as u64)
                            }
                            _ => {}
                        }
                        effects.push(other)
                    }
                }
            }
            answers.push(reply.answer(effects));
        }
        self.note_cache();
        let spans = spans.iter().map(|span| self.append_span(span, &batch)).collect();
        self.send(Commit { batch, answers, spans });
    }

    /// The span of `batch`'s way to disk, for a traced step's `span` (see `Commit::spans`).
    fn append_span(&self, span: &tracing::Span, batch: &StoreBatch) -> tracing::Span {
        let entries = batch.log.len();
        tracing::info_span!(parent: span, "linli.log.append", linli.node = %self.replica.node(), entries)
    }

    /// Publishes the cache's size, the waiting documents and the views' entries, as of
    /// this step.
    fn note_cache(&self) {
        let (docs, bytes) = self.replica.cache_size();
        NodeMetrics::set(&self.metrics.documents_cached, docs as u64);
        NodeMetrics::set(&self.metrics.documents_cached_bytes, bytes as u64);
        NodeMetrics::set(&self.metrics.documents_waiting, self.replica.waiting_documents() as u64);
        for (gauge, entries) in self.metrics.view_entries.iter().zip(self.replica.views().entries()) {
            NodeMetrics::set(gauge, entries as u64);
        }
    }

    fn background(&mut self) {
        if self.has_stopped() {
            return;
        }
        let mut batch = StoreBatch::default();
        for effect in self.replica.step(&self.store, Event::Tick { now_ms: self.clock.now_ms() }) {
            if let Effect::Persist(persist) = effect {
                batch.extend(persist);
            }
        }
        if !batch.is_empty() {
            self.send(Commit { batch, answers: Vec::new(), spans: Vec::new() });
        }
    }
}
