//! A TCP proxy between a child and its parent: counts the bytes of the link both
//! ways, and cuts it (drops every connection and refuses new ones) until healed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    addr: SocketAddr,
    pub bytes_up: Arc<AtomicU64>,
    pub bytes_down: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
    /// Bumped on every cut: live connections watch it and close.
    generation: watch::Sender<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let bytes_up = Arc::new(AtomicU64::new(0));
        let bytes_down = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel(0u64);
        let accept = {
            let (up, down, cut, generation) = (bytes_up.clone(), bytes_down.clone(), cut.clone(), generation.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { return };
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(target).await else { continue };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, up.clone(), generation.subscribe()));
                    tokio::spawn(pump(sr, cw, down.clone(), generation.subscribe()));
                }
            })
        };
        Proxy { addr, bytes_up, bytes_down, cut, generation, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops the link and keeps it down until [`Self::heal`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// Bytes both ways since the last reset.
    pub fn bytes(&self) -> u64 {
        self.bytes_up.load(Ordering::SeqCst) + self.bytes_down.load(Ordering::SeqCst)
    }

    pub fn reset_bytes(&self) {
        self.bytes_up.store(0, Ordering::SeqCst);
        self.bytes_down.store(0, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: Arc<AtomicU64>,
    mut generation: watch::Receiver<u64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                counter.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            _ = generation.changed() => return,
        }
    }
}
