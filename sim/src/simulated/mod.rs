//! Sim mode: the same replica engine as the servers, over in-memory stores and a
//! simulated network and clock, driven by one event loop. Nothing reads the wall clock
//! or the OS's randomness: a seed gives the same run, event for event, and a simulated
//! day takes seconds.
//!
//! - [`node`]: one node, its replica stepped in place;
//! - [`net`]: links with the real link's rules, latency, loss and backoff;
//! - [`run`]: the workload, probes, faults and samples on the simulated clock.

pub mod net;
pub mod node;
pub mod run;
mod trim;

use crate::checks::Inspect;
use crate::error::SimError;
use crate::rng::Rng;
use crate::topology::{Coordinator, Topology};
use linli_core::doc::Record;
use linli_core::ids::{NodeId, RecordKey};
use linli_core::link::{LinkLimits, Tier};
use linli_core::schema::Registries;
use linli_core::views::Views;
use net::Net;
use node::SimNode;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The district of a sim run: nodes by id over one [`Net`].
pub struct SimDistrict {
    pub net: Net,
    pub index: BTreeMap<String, usize>,
    registries: Registries,
}

fn node_id(id: &str) -> Result<NodeId, SimError> {
    NodeId::new(id).map_err(|e| SimError::BadTopology { reason: e.to_string() })
}

impl SimDistrict {
    /// Every node of `topology`, each configured with its children as a server is
    /// (a parent learns each child's subtree from its Hello). The communities a split
    /// will make (those of `later` not in `topology`) are there too, down and outside
    /// their street's config until the split.
    pub fn build(
        topology: &Topology,
        later: &Topology,
        registries: Registries,
        limits: LinkLimits,
        rng: Rng,
    ) -> Result<Self, SimError> {
        // Depth first from the top, each node after its parent: a district's tree
        // comes out as it always did (the district, then each street and its
        // communities), so a seed gives the same run as before cities.
        let coordinators: BTreeMap<String, Coordinator> =
            topology.coordinators().into_iter().map(|c| (c.id.clone(), c)).collect();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut pending = vec![(topology.top.clone(), None)];
        while let Some((id, parent)) = pending.pop() {
            if let Some(parent) = parent {
                edges.push((nodes.len(), parent));
            }
            let here = nodes.len();
            let Some(coordinator) = coordinators.get(&id) else {
                nodes.push(SimNode::new(node_id(&id)?, Tier::Community, false, BTreeSet::new()));
                continue;
            };
            let children = coordinator.children.iter().cloned().collect();
            let is_root = coordinator.parent.is_none();
            nodes.push(SimNode::new(node_id(&id)?, coordinator.tier, is_root, children));
            pending.extend(coordinator.children.iter().rev().map(|child| (child.clone(), Some(here))));
        }
        let now = nodes.len();
        let mut index: BTreeMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id.to_string(), i)).collect();
        for street in &later.streets {
            let new: Vec<_> = street.communities.iter().filter(|c| !index.contains_key(&c.id)).collect();
            for community in new {
                let parent = *index.get(&street.id).ok_or_else(|| SimError::NoNode { node: street.id.clone() })?;
                index.insert(community.id.clone(), nodes.len());
                edges.push((nodes.len(), parent));
                nodes.push(SimNode::new(node_id(&community.id)?, Tier::Community, false, BTreeSet::new()));
            }
        }
        let mut district = Self { net: Net::new(nodes, &edges, limits, rng), index, registries };
        for i in 0..now {
            district.net.nodes[i].start(&district.registries)?;
        }
        for link in 0..district.net.links.len() {
            district.net.connect(link)?;
        }
        Ok(district)
    }

    pub fn node(&self, id: &str) -> Result<usize, SimError> {
        self.index.get(id).copied().ok_or_else(|| SimError::NoNode { node: id.to_string() })
    }

    /// Stops `node` (its store kept) and breaks its links.
    pub fn crash(&mut self, node: usize) {
        self.net.nodes[node].crash();
        for link in self.net.links_of(node) {
            self.net.break_link(link);
        }
    }

    /// Stops `node`, drops its store, and breaks its links.
    pub fn wipe(&mut self, node: usize) {
        self.crash(node);
        self.net.nodes[node].wipe();
    }

    /// Stops `node`, puts its last backup in place of its store, and starts it again.
    pub fn restore(&mut self, node: usize) -> Result<(), SimError> {
        self.crash(node);
        self.net.nodes[node].restore()?;
        self.restart(node)
    }

    /// Starts a stopped node; its links connect again.
    pub fn restart(&mut self, node: usize) -> Result<(), SimError> {
        self.net.nodes[node].start(&self.registries)?;
        for link in self.net.links_of(node) {
            self.net.connect(link)?;
        }
        Ok(())
    }

    pub fn cut(&mut self, child: usize) -> Result<usize, SimError> {
        let link = self.uplink(child)?;
        self.net.links[link].cut = true;
        self.net.break_link(link);
        Ok(link)
    }

    pub fn heal(&mut self, child: usize) -> Result<usize, SimError> {
        let link = self.uplink(child)?;
        self.net.links[link].cut = false;
        self.net.connect(link)?;
        Ok(link)
    }

    /// The first half of a move of `community` to the street `to`: `to` restarts with
    /// the community among its children; the district learns `to`'s new subtree from
    /// its Hello when its link comes back.
    pub fn accept(&mut self, to: usize, community: usize) -> Result<(), SimError> {
        if !self.net.nodes[to].is_up() {
            let (id, street) = (&self.net.nodes[community].id, &self.net.nodes[to].id);
            return Err(SimError::Run { reason: format!("{id} cannot move to {street}: it is down") });
        }
        self.take_child(to, community);
        self.crash(to);
        self.restart(to)
    }

    /// `street` is configured with `community` among its children (for its next start).
    fn take_child(&mut self, street: usize, community: usize) {
        let id = self.net.nodes[community].id.to_string();
        self.net.nodes[street].adopt(&id);
    }

    /// The first step of a split at `street`: it restarts with the new communities
    /// among its children, and they start.
    pub fn begin_split(&mut self, street: usize, new: &[usize]) -> Result<(), SimError> {
        for &community in new {
            self.take_child(street, community);
        }
        self.crash(street);
        self.restart(street)?;
        for &community in new {
            self.restart(community)?;
        }
        Ok(())
    }

    /// The second half, once `from` has handed over: `from` restarts without the
    /// community (and forgets its documents, as a server does at start), and the
    /// community's link is re-patched to `to`.
    pub fn release(&mut self, from: usize, to: usize, community: usize) -> Result<(), SimError> {
        let id = self.net.nodes[community].id.to_string();
        self.net.nodes[from].release(&id);
        self.crash(from);
        self.restart(from)?;
        let link = self.uplink(community)?;
        self.net.move_child(link, to);
        self.net.connect(link)
    }

    pub fn uplink(&self, child: usize) -> Result<usize, SimError> {
        self.net
            .uplink(child)
            .ok_or_else(|| SimError::NoNode { node: format!("an uplink of {}", self.net.nodes[child].id) })
    }
}

/// The checks' view of a sim district. The replicas' reads take `&mut` (their
/// document caches), hence the cell.
pub struct Inspector<'a>(pub RefCell<&'a mut SimDistrict>);

impl Inspect for Inspector<'_> {
    fn node_ids(&self) -> Vec<String> {
        self.0.borrow().index.keys().cloned().collect()
    }

    async fn docs(&self, node: &str) -> Result<BTreeMap<String, serde_json::Value>, SimError> {
        let mut district = self.0.borrow_mut();
        let i = district.node(node)?;
        district.net.nodes[i].materialize()?.ok_or_else(|| SimError::NoNode { node: node.to_string() })
    }

    async fn views_and_recount(&self, node: &str) -> Result<Option<(Views, Views)>, SimError> {
        let mut district = self.0.borrow_mut();
        let i = district.node(node)?;
        district.net.nodes[i].views_and_recount()
    }

    async fn record(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        let mut district = self.0.borrow_mut();
        let i = district.node(node)?;
        district.net.nodes[i].get(key)
    }
}
