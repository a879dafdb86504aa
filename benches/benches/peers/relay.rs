//! A TCP relay on loopback that counts the bytes each way: both peers' wires go
//! through the same one, so their byte counts are measured alike. It can cut every
//! connection and refuse new ones (a link drop), and tell when the wire went quiet.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the relay shares with its tasks.
struct Counters {
    /// Bytes from the dialing peer to the accepting one, and back.
    up_bytes: AtomicU64,
    down_bytes: AtomicU64,
    /// Microseconds since `started` of the last byte relayed either way.
    last_byte_us: AtomicU64,
    /// Refuse new connections (closed at once) while set.
    cut: AtomicBool,
    started: Instant,
}

pub struct Relay {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepting: JoinHandle<()>,
}

impl Relay {
    /// A relay in front of `target`.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let counters = Arc::new(Counters {
            up_bytes: AtomicU64::new(0),
            down_bytes: AtomicU64::new(0),
            last_byte_us: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            started: Instant::now(),
        });
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = tokio::spawn({
            let (counters, connections) = (counters.clone(), connections.clone());
            async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if counters.cut.load(Ordering::SeqCst) {
                        continue;
                    }
                    let Ok(outbound) = TcpStream::connect(target).await else { continue };
                    let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
                    let (inbound_read, inbound_write) = inbound.into_split();
                    let (outbound_read, outbound_write) = outbound.into_split();
                    let counters = counters.clone();
                    connections.lock().expect("relay connections").push(tokio::spawn(async move {
                        tokio::join!(
                            pump(inbound_read, outbound_write, &counters, true),
                            pump(outbound_read, inbound_write, &counters, false)
                        );
                    }));
                }
            }
        });
        Relay { addr, counters, connections, accepting }
    }

    /// Bytes relayed so far: (dialer to acceptor, acceptor to dialer).
    pub fn bytes(&self) -> (u64, u64) {
        (self.counters.up_bytes.load(Ordering::SeqCst), self.counters.down_bytes.load(Ordering::SeqCst))
    }

    /// Drops every connection and refuses new ones until [`Relay::heal`].
    pub fn cut(&self) {
        self.counters.cut.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().expect("relay connections").drain(..) {
            connection.abort();
        }
    }

    pub fn heal(&self) {
        self.counters.cut.store(false, Ordering::SeqCst);
    }

    fn last_byte(&self) -> Instant {
        self.counters.started + Duration::from_micros(self.counters.last_byte_us.load(Ordering::SeqCst))
    }

    /// Waits until no byte crossed for `quiet`; returns when the last one did.
    pub async fn quiet(&self, quiet: Duration) -> Instant {
        let waited = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let last = self.last_byte();
            if last.elapsed() >= quiet {
                return last;
            }
            assert!(waited.elapsed() < Duration::from_secs(300), "the relay never went quiet");
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counters: &Counters,
    up: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let count = if up { &counters.up_bytes } else { &counters.down_bytes };
        count.fetch_add(read as u64, Ordering::SeqCst);
        counters.last_byte_us.store(counters.started.elapsed().as_micros() as u64, Ordering::SeqCst);
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
