//! samod (the Rust automerge-repo): two repos with in-memory storage, the dialing one
//! holding the community's documents, over samod's own length-delimited TCP framing
//! through the counting relay. A document "has arrived" when the accepting repo's
//! copy reaches the dialing repo's heads (seen through its change stream); samod's
//! "the peer has our changes" is the peer's in-memory acknowledgement, never a
//! durable one: nothing samod does here waits for a disk.

use crate::relay::Relay;
use crate::{LinkFigures, Trial};
use automerge::{Automerge, Change, ChangeHash};
use futures::StreamExt;
use futures::future::join_all;
use samod::storage::InMemoryStorage;
use samod::{AcceptorEvent, AcceptorHandle, BackoffConfig, DialerHandle, DocHandle, PeerId, Repo, Transport, Url};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(300);

/// samod's `TcpDialer` with `TCP_NODELAY`, as linli's channels have it, so Nagle's
/// delay does not fall on one peer only.
struct NoDelayDialer {
    addr: std::net::SocketAddr,
}

impl samod::Dialer for NoDelayDialer {
    type Error = std::io::Error;

    fn url(&self) -> Url {
        Url::parse(&format!("tcp://{}", self.addr)).expect("url")
    }

    fn connect(&self) -> futures::future::BoxFuture<'static, Result<Transport, samod::DialError<std::io::Error>>> {
        let addr = self.addr;
        Box::pin(async move {
            let io = TcpStream::connect(addr).await.map_err(samod::DialError::transient)?;
            io.set_nodelay(true).map_err(samod::DialError::transient)?;
            Ok(Transport::from_tokio_io(io))
        })
    }
}

struct Pair {
    dialing: Repo,
    accepting: Repo,
    acceptor: AcceptorHandle,
    accept_task: JoinHandle<()>,
    relay: Relay,
    dialer: Option<DialerHandle<std::io::Error>>,
}

impl Pair {
    async fn new() -> Pair {
        let repo = |name: &'static str| {
            Repo::build_tokio().with_peer_id(PeerId::from(name)).with_storage(InMemoryStorage::new()).load()
        };
        let (dialing, accepting) = (repo("community").await, repo("street").await);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = accepting.make_acceptor(Url::parse(&format!("tcp://{addr}")).expect("url")).expect("acceptor");
        let accept_task = tokio::spawn({
            let acceptor = acceptor.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let _ = acceptor.accept(Transport::from_tokio_io(stream));
                }
            }
        });
        let relay = Relay::start(addr).await;
        Pair { dialing, accepting, acceptor, accept_task, relay, dialer: None }
    }

    async fn connect(&mut self) {
        let mut events = self.acceptor.events();
        let backoff = BackoffConfig {
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retries: None,
        };
        let dialer = self.dialing.dial(backoff, Arc::new(NoDelayDialer { addr: self.relay.addr })).expect("dial");
        tokio::time::timeout(LIMIT, dialer.established()).await.expect("dial in time").expect("dialed");
        tokio::time::timeout(LIMIT, async {
            while let Some(event) = events.next().await {
                if let AcceptorEvent::ClientConnected { .. } = event {
                    return;
                }
            }
        })
        .await
        .expect("accepted in time");
        self.dialer = Some(dialer);
    }

    async fn disconnect(&mut self) {
        if let Some(dialer) = self.dialer.take() {
            dialer.close();
        }
        self.relay.cut();
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.relay.heal();
    }

    /// The community's documents, each loaded from `changes`, and the street's copies
    /// once it found them (synced).
    async fn documents(&mut self, changes: &[Vec<Vec<u8>>]) -> (Vec<DocHandle>, Vec<DocHandle>) {
        let mut sources = Vec::with_capacity(changes.len());
        for doc in changes {
            sources.push(self.dialing.create(loaded(doc)).await.expect("create"));
        }
        if self.dialer.is_none() {
            self.connect().await;
        }
        let finds = sources.iter().map(|handle| self.accepting.find(handle.document_id().clone()));
        let found = tokio::time::timeout(LIMIT, join_all(finds)).await.expect("found in time");
        let copies: Vec<DocHandle> =
            found.into_iter().map(|found| found.expect("repo running").expect("document found")).collect();
        wait_heads(&copies, &heads(&sources)).await;
        (sources, copies)
    }

    async fn stop(self) {
        self.accept_task.abort();
        drop(self.relay);
        self.dialing.stop().await;
        self.accepting.stop().await;
    }
}

fn genesis() -> Automerge {
    Automerge::load(linli_core::doc::genesis_bytes()).expect("genesis")
}

fn loaded(changes: &[Vec<u8>]) -> Automerge {
    let mut doc = genesis();
    doc.apply_changes(changes.iter().map(|c| Change::from_bytes(c.clone()).expect("change"))).expect("apply");
    doc
}

fn heads(handles: &[DocHandle]) -> Vec<Vec<ChangeHash>> {
    handles.iter().map(|h| h.with_document(|d| d.get_heads())).collect()
}

/// Waits until every copy has its target heads.
async fn wait_heads(copies: &[DocHandle], targets: &[Vec<ChangeHash>]) -> Instant {
    let waited = Instant::now();
    loop {
        if heads(copies) == targets {
            return Instant::now();
        }
        assert!(waited.elapsed() < LIMIT, "samod: the copies never reached the source's heads");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Applies change `round` of every document, round-robin, one `with_document` (one
/// change) at a time, as linli's writers add one request at a time.
async fn apply_round_robin(sources: &[DocHandle], changes: &[Vec<Vec<u8>>], rounds: std::ops::Range<usize>) {
    let (sources, changes) = (sources.to_vec(), changes.to_vec());
    tokio::task::spawn_blocking(move || {
        for round in rounds {
            for (handle, doc) in sources.iter().zip(&changes) {
                let change = Change::from_bytes(doc[round].clone()).expect("change");
                handle.with_document(|d| d.apply_changes([change])).expect("apply");
            }
        }
    })
    .await
    .expect("writer");
}

/// Every document's changes applied at the dialing repo while linked, until the
/// accepting repo has them all.
pub async fn throughput(changes: &[Vec<Vec<u8>>]) -> Trial {
    let mut pair = Pair::new().await;
    let empty: Vec<Vec<Vec<u8>>> = changes.iter().map(|_| Vec::new()).collect();
    let (sources, copies) = pair.documents(&empty).await;
    pair.relay.quiet(Duration::from_millis(500)).await;
    let per_doc = changes.iter().map(Vec::len).min().unwrap_or(0);
    let before = pair.relay.bytes();
    let started = Instant::now();
    let watch = Watch::new(&copies);
    apply_round_robin(&sources, changes, 0..per_doc).await;
    let done = watch.until(&heads(&sources)).await;
    let until = pair.relay.bytes();
    pair.relay.quiet(Duration::from_millis(500)).await;
    let trial = Trial::new(per_doc * changes.len(), done - started, before, until, pair.relay.bytes());
    pair.stop().await;
    trial
}

/// The accepting repo holds the first `base` changes of every document; the link
/// drops, the rest are applied, the link comes back.
pub async fn catch_up(changes: &[Vec<Vec<u8>>], base: usize) -> Trial {
    let mut pair = Pair::new().await;
    let bases: Vec<Vec<Vec<u8>>> = changes.iter().map(|doc| doc[..base].to_vec()).collect();
    let (sources, copies) = pair.documents(&bases).await;
    pair.relay.quiet(Duration::from_millis(500)).await;
    pair.disconnect().await;
    let per_doc = changes.iter().map(Vec::len).min().unwrap_or(0);
    apply_round_robin(&sources, changes, base..per_doc).await;
    let watch = Watch::new(&copies);
    let before = pair.relay.bytes();
    let started = Instant::now();
    pair.connect().await;
    let done = watch.until(&heads(&sources)).await;
    let until = pair.relay.bytes();
    pair.relay.quiet(Duration::from_millis(500)).await;
    let trial = Trial::new((per_doc - base) * changes.len(), done - started, before, until, pair.relay.bytes());
    pair.stop().await;
    trial
}

/// Both repos hold the same documents; the link drops and comes back.
pub async fn idle_reconnect(changes: &[Vec<Vec<u8>>]) -> LinkFigures {
    let mut pair = Pair::new().await;
    pair.documents(changes).await;
    pair.relay.quiet(Duration::from_millis(1_000)).await;
    pair.disconnect().await;
    let before = pair.relay.bytes();
    let started = Instant::now();
    pair.connect().await;
    let last = pair.relay.quiet(Duration::from_millis(1_000)).await;
    let after = pair.relay.bytes();
    pair.stop().await;
    LinkFigures { bytes: (after.0 - before.0) + (after.1 - before.1), elapsed: last.saturating_duration_since(started) }
}

/// When each copy last changed, from samod's change stream, so the time a copy
/// reached its heads is when it happened, not when a poll saw it.
/// Each copy's heads and when it reached them.
type Latest = Arc<Mutex<Vec<(Vec<ChangeHash>, Instant)>>>;

struct Watch {
    latest: Latest,
    tasks: Vec<JoinHandle<()>>,
}

impl Watch {
    fn new(copies: &[DocHandle]) -> Watch {
        let now = Instant::now();
        let latest: Latest = Arc::new(Mutex::new(heads(copies).into_iter().map(|h| (h, now)).collect()));
        let tasks = copies
            .iter()
            .enumerate()
            .map(|(i, copy)| {
                let (mut changes, latest) = (copy.changes(), latest.clone());
                tokio::spawn(async move {
                    while let Some(changed) = changes.next().await {
                        latest.lock().expect("watch")[i] = (changed.new_heads, Instant::now());
                    }
                })
            })
            .collect();
        Watch { latest, tasks }
    }

    async fn until(&self, targets: &[Vec<ChangeHash>]) -> Instant {
        let waited = Instant::now();
        loop {
            {
                let latest = self.latest.lock().expect("watch");
                let sorted = |h: &Vec<ChangeHash>| {
                    let mut h = h.clone();
                    h.sort();
                    h
                };
                if latest.iter().zip(targets).all(|((h, _), t)| sorted(h) == sorted(t)) {
                    return latest.iter().map(|(_, at)| *at).max().unwrap_or(waited);
                }
            }
            assert!(waited.elapsed() < LIMIT, "samod: the copies never reached the source's heads");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
