//! The children that feed the node under test, each a real server of this process:
//! a street fed by synthetic communities (their batches applied at its engine), or a
//! community writing the mix through its engine.

use crate::config;
use crate::feed::{Community, Mix};
use futures::future::join_all;
use linli_core::ids::RecordKey;
use linli_core::schema::Registries;
use linli_node::config::Tier;
use linli_node::server::{self, Running};
use std::net::SocketAddr;
use std::path::Path;

/// Writes a community server has in flight at once while it takes its backlog.
const WRITES_IN_FLIGHT: usize = 16;

pub enum Feeder {
    Street { id: String, running: Running, communities: Vec<Community>, turn: usize },
    Community { id: String, running: Running, mix: Mix },
}

async fn start(dir: &Path, id: &str, tier: Tier, parent: SocketAddr, children: Vec<String>) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = config(dir, id, tier, addr, Some(format!("http://{parent}")), children);
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let registries = Registries::defaults().expect("registries");
        server::run(config, registries, listener, std::future::pending(), Some(started)).await.expect("child server");
    });
    running.await.expect("child started")
}

impl Feeder {
    pub async fn street(
        dir: &Path,
        id: &str,
        parent: SocketAddr,
        communities: Vec<String>,
        registries: &Registries,
    ) -> Feeder {
        let running = start(dir, id, Tier::Street, parent, communities.clone()).await;
        let communities = communities.iter().map(|c| Community::new(c, registries)).collect();
        Feeder::Street { id: id.to_string(), running, communities, turn: 0 }
    }

    pub async fn community(dir: &Path, id: &str, parent: SocketAddr) -> Feeder {
        let running = start(dir, id, Tier::Community, parent, Vec::new()).await;
        Feeder::Community { id: id.to_string(), running, mix: Mix::new(id) }
    }

    pub fn id(&self) -> &str {
        match self {
            Feeder::Street { id, .. } | Feeder::Community { id, .. } => id,
        }
    }

    /// The end of this child's log: what the node under test must apply.
    pub fn log_end(&self) -> u64 {
        match self {
            Feeder::Street { running, .. } | Feeder::Community { running, .. } => *running.engine.log_end().borrow(),
        }
    }

    /// A slice of the backlog: `steps` writes at each community. Returns the changes.
    pub async fn write(&mut self, steps: usize) -> usize {
        match self {
            Feeder::Street { communities, .. } => {
                let count = steps * communities.len();
                self.tick(count).await
            }
            Feeder::Community { .. } => self.tick(steps).await,
        }
    }

    /// `writes` writes, spread over the street's communities in turn; each community
    /// ships what it wrote. Returns the changes.
    pub async fn tick(&mut self, writes: usize) -> usize {
        match self {
            Feeder::Street { running, communities, turn, .. } => {
                for i in 0..writes {
                    let n = communities.len();
                    communities[(*turn + i) % n].step();
                }
                *turn += writes;
                let mut changes = 0;
                for community in communities.iter_mut() {
                    changes += community.ship(&running.engine).await;
                }
                changes
            }
            Feeder::Community { running, mix, .. } => {
                let mut done = 0;
                while done < writes {
                    let batch: Vec<_> = (0..WRITES_IN_FLIGHT.min(writes - done)).map(|_| mix.next()).collect();
                    done += batch.len();
                    let written = join_all(batch.into_iter().map(|(write, new)| {
                        let engine = running.engine.clone();
                        async move { (engine.write_async(write).await.expect("write"), new) }
                    }))
                    .await;
                    for (written, new) in written {
                        if new {
                            mix.created(written.key);
                        }
                    }
                }
                writes
            }
        }
    }

    /// A new request, durable at this child when this returns: its key and changes.
    pub async fn probe(&mut self) -> (RecordKey, usize) {
        match self {
            Feeder::Street { running, communities, turn, .. } => {
                let n = communities.len();
                let community = &mut communities[*turn % n];
                *turn += 1;
                let key = std::iter::repeat_with(|| community.step()).flatten().next().expect("a new request");
                let changes = community.ship(&running.engine).await;
                (key, changes)
            }
            Feeder::Community { running, mix, .. } => {
                let mut changes = 0;
                loop {
                    let (write, new) = mix.next();
                    let key = running.engine.write_async(write).await.expect("write").key;
                    changes += 1;
                    if new {
                        mix.created(key.clone());
                        return (key, changes);
                    }
                }
            }
        }
    }
}
