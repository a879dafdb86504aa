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

use crate::checks::Inspect;
use crate::error::SimError;
use crate::rng::Rng;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::{NodeId, RecordKey};
use linli_core::link::{Routes, Tier};
use linli_core::replica::Scope;
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
    /// Every node of `topology`, each link configured from the tree (a parent's
    /// routes hold each child's subtree, as a real parent learns it from the Hello).
    pub fn build(topology: &Topology, registries: Registries, rng: Rng) -> Result<Self, SimError> {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut district_routes = Routes::new(&node_id(&topology.district)?);
        for street in &topology.streets {
            let subtree: BTreeSet<String> =
                street.communities.iter().map(|c| c.id.clone()).chain([street.id.clone()]).collect();
            district_routes.children.insert(street.id.clone(), subtree);
        }
        nodes.push(SimNode::new(node_id(&topology.district)?, Tier::District, district_routes, Scope::All));
        for street in &topology.streets {
            let street_index = nodes.len();
            let mut routes = Routes::new(&node_id(&street.id)?);
            for community in &street.communities {
                routes.children.insert(community.id.clone(), [community.id.clone()].into());
            }
            let scope =
                Scope::Owners(street.communities.iter().map(|c| c.id.clone()).chain([street.id.clone()]).collect());
            nodes.push(SimNode::new(node_id(&street.id)?, Tier::Street, routes, scope));
            edges.push((street_index, 0));
            for community in &street.communities {
                edges.push((nodes.len(), street_index));
                let id = node_id(&community.id)?;
                nodes.push(SimNode::new(id.clone(), Tier::Community, Routes::new(&id), Scope::only(&community.id)));
            }
        }
        let index = nodes.iter().enumerate().map(|(i, n)| (n.id.to_string(), i)).collect();
        let mut district = Self { net: Net::new(nodes, &edges, rng), index, registries };
        for i in 0..district.net.nodes.len() {
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
