//! A TCP proxy between a child and its parent: counts the bytes of the link both
//! ways, delays them on demand, loses them on demand (a lost chunk closes the
//! connection, as a reset TCP stream: the link reconnects and resumes), and cuts the
//! link (drops every connection and refuses new ones) until healed. It is how the simulator's real mode puts faults on links.
//! A re-parented community's proxy is retargeted to its new street: the community keeps
//! dialling the same address, as a site whose uplink is re-patched.

use crate::rng::Rng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bytes one read forwards at most.
const CHUNK_BYTES: usize = 64 * 1024;

pub struct Proxy {
    addr: SocketAddr,
    target: Arc<std::sync::Mutex<SocketAddr>>,
    bytes_up: Arc<AtomicU64>,
    bytes_down: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    /// Chance per forwarded chunk that the connection is lost, in parts per million.
    loss_ppm: Arc<AtomicU64>,
    /// Bumped on every cut: live connections watch it and close.
    generation: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let bytes_up = Arc::new(AtomicU64::new(0));
        let bytes_down = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let loss_ppm = Arc::new(AtomicU64::new(0));
        let (generation, _) = watch::channel(0u64);
        let target = Arc::new(std::sync::Mutex::new(target));
        let accept = {
            let to = target.clone();
            let (up, down, cut, delay, loss, generation) = (
                bytes_up.clone(),
                bytes_down.clone(),
                cut.clone(),
                delay_ms.clone(),
                loss_ppm.clone(),
                generation.clone(),
            );
            tokio::spawn(async move {
                let mut connections = 0u64;
                loop {
                    let Ok((client, _)) = listener.accept().await else { return };
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let target = *to.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    let Ok(server) = TcpStream::connect(target).await else { continue };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    connections += 1;
                    let faults =
                        |seed: u64| Faults { delay_ms: delay.clone(), loss_ppm: loss.clone(), rng: Rng::new(seed) };
                    tokio::spawn(pump(cr, sw, up.clone(), faults(2 * connections), generation.subscribe()));
                    tokio::spawn(pump(sr, cw, down.clone(), faults(2 * connections + 1), generation.subscribe()));
                }
            })
        };
        Ok(Proxy { addr, target, bytes_up, bytes_down, cut, delay_ms, loss_ppm, generation, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forwards new connections to `target` from now on and drops the live ones.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = target;
        self.generation.send_modify(|g| *g += 1);
    }

    /// Drops the link and keeps it down until [`Self::heal`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Holds every chunk `delay_ms` before forwarding it (0: none).
    pub fn set_delay_ms(&self, delay_ms: u64) {
        self.delay_ms.store(delay_ms, Ordering::SeqCst);
    }

    /// Loses a chunk (and with it the connection) with this chance, in percent (0: none).
    pub fn set_loss_pct(&self, loss_pct: f64) {
        self.loss_ppm.store((loss_pct * 10_000.0) as u64, Ordering::SeqCst);
    }

    /// Bytes both ways since the start.
    pub fn bytes(&self) -> u64 {
        self.bytes_up.load(Ordering::SeqCst) + self.bytes_down.load(Ordering::SeqCst)
    }
}

/// The faults one direction of one connection carries.
struct Faults {
    delay_ms: Arc<AtomicU64>,
    loss_ppm: Arc<AtomicU64>,
    rng: Rng,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: Arc<AtomicU64>,
    mut faults: Faults,
    mut generation: watch::Receiver<u64>,
) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                counter.fetch_add(n as u64, Ordering::SeqCst);
                let loss = faults.loss_ppm.load(Ordering::SeqCst);
                if loss > 0 && faults.rng.chance(loss as f64 / 1e6) {
                    // Dropping both halves closes the connection: the link's stream fails.
                    return;
                }
                let delay = faults.delay_ms.load(Ordering::SeqCst);
                if delay > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            _ = generation.changed() => return,
        }
    }
}
