//! The shape of a tree: its top, the districts between it and the streets when the top
//! is a city, the streets, their communities, and each community's size, drawn for a
//! seed around the facts of a real community (see `docs/simulator.md`).
//!
//! Presets carry the real counts: Longhua 6 streets / 50 communities, Luohu 10 / 83,
//! Longgang 11 / 111, each a district's tree; and Shenzhen, a city of 10 districts,
//! 74 streets and 680 communities ([`city`]). Communities are spread unevenly over
//! streets, and their sizes follow a long tail around Pingdi (6,440 people, 13 grids):
//! a few Beizhan-sized communities write much more.

mod city;
pub use city::{CITY_PRESETS, District};

use crate::error::SimError;
use crate::rng::Rng;
use linli_core::ids::NodeId;
use linli_core::link::Tier;
use linli_core::replica::SplitRule;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    pub name: String,
    /// The top of the tree, the node without a parent: the district of a district's
    /// tree, or the city.
    pub top: String,
    /// Between the top (a city) and the streets: each district and its streets. Empty
    /// in a district's tree, whose streets are under the top.
    pub districts: Vec<District>,
    /// Every street of the tree, in the order of its districts.
    pub streets: Vec<Street>,
}

/// A coordinator of the tree, as its server is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub id: String,
    pub tier: Tier,
    /// `None` for the top.
    pub parent: Option<String>,
    pub children: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Street {
    pub id: String,
    pub communities: Vec<Community>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Community {
    pub id: String,
    pub people: u32,
    pub grids: u32,
    /// V stations and micro stations; `v_stations_24h` of them open all day.
    pub v_stations: u32,
    pub v_stations_24h: u32,
    pub volunteers: u32,
    /// This community's share of the load: 1.0 is an average community.
    pub weight: f64,
}

/// The district's trees: (name, district id, streets, communities).
pub const PRESETS: [(&str, &str, usize, usize); 3] =
    [("longhua", "lh", 6, 50), ("luohu", "lu", 10, 83), ("longgang", "lg", 11, 111)];

/// A tree no larger than this is refused: every node is a server with its own store.
pub const NODES_MAX: usize = 2_000;

impl Topology {
    pub fn preset(name: &str, seed: u64) -> Result<Self, SimError> {
        if let Some((_, city, districts)) = CITY_PRESETS.iter().find(|(preset, ..)| *preset == name) {
            return Self::city(name, city, districts, seed);
        }
        let (_, district, streets, communities) =
            PRESETS.iter().find(|(preset, ..)| *preset == name).ok_or_else(|| SimError::UnknownPreset {
                name: name.to_string(),
                known: Self::preset_names().join(", "),
            })?;
        Self::sized(name, district, *streets, *communities, seed)
    }

    /// Every preset, the district's trees first.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|p| p.0).chain(CITY_PRESETS.iter().map(|p| p.0)).collect()
    }

    /// `streets` streets sharing `communities` communities, sizes drawn for `seed`.
    pub fn sized(name: &str, district: &str, streets: usize, communities: usize, seed: u64) -> Result<Self, SimError> {
        if streets == 0 || communities < streets {
            return Err(SimError::BadTopology {
                reason: format!("{streets} streets and {communities} communities: every street needs a community"),
            });
        }
        if 1 + streets + communities > NODES_MAX {
            return Err(SimError::BadTopology {
                reason: format!("{} nodes is more than the {NODES_MAX} one run can hold", 1 + streets + communities),
            });
        }
        let mut rng = Rng::new(seed).fork("topology");
        let shares: Vec<f64> = (0..streets).map(|_| 0.5 + rng.unit()).collect();
        let counts = apportion(&shares, communities);
        let mut tree =
            Topology { name: name.to_string(), top: district.to_string(), districts: Vec::new(), streets: Vec::new() };
        for (s, count) in counts.into_iter().enumerate() {
            let street = format!("{district}-s{:02}", s + 1);
            let communities =
                (0..count).map(|c| draw_community(&format!("{street}-c{:02}", c + 1), &mut rng)).collect();
            tree.streets.push(Street { id: street, communities });
        }
        let mean = tree.communities().map(|c| f64::from(c.people)).sum::<f64>() / communities as f64;
        for street in &mut tree.streets {
            for community in &mut street.communities {
                community.weight = f64::from(community.people) / mean;
            }
        }
        Ok(tree)
    }

    /// A tree from a TOML file: `name`, `district`, and `[[streets]]` with `id` and
    /// `communities` (ids); sizes are drawn for `seed`.
    pub fn from_file(path: &Path, seed: u64) -> Result<Self, SimError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            name: String,
            district: String,
            streets: Vec<FileStreet>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileStreet {
            id: String,
            communities: Vec<String>,
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Io { what: format!("reading topology {}", path.display()), source: e })?;
        let file: File = toml::from_str(&text)
            .map_err(|e| SimError::BadTopology { reason: format!("{}: {}", path.display(), e.message()) })?;
        let sized = Self::sized(
            &file.name,
            &file.district,
            file.streets.len(),
            file.streets.iter().map(|s| s.communities.len()).sum(),
            seed,
        )?;
        let mut drawn = sized.communities().cloned();
        let mut tree = Topology { name: file.name, top: file.district, districts: Vec::new(), streets: Vec::new() };
        for street in file.streets {
            let communities = street
                .communities
                .into_iter()
                .map(|id| drawn.next().map(|c| Community { id, ..c }))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| SimError::BadTopology { reason: "fewer sizes than communities".into() })?;
            tree.streets.push(Street { id: street.id, communities });
        }
        tree.check_ids()?;
        Ok(tree)
    }

    fn check_ids(&self) -> Result<(), SimError> {
        let mut seen = std::collections::BTreeSet::new();
        for id in std::iter::once(&self.top)
            .chain(self.districts.iter().map(|d| &d.id))
            .chain(self.streets.iter().map(|s| &s.id))
            .chain(self.communities().map(|c| &c.id))
        {
            NodeId::new(id).map_err(|e| SimError::BadTopology { reason: e.to_string() })?;
            if !seen.insert(id.clone()) {
                return Err(SimError::BadTopology { reason: format!("node id {id} appears twice") });
            }
        }
        Ok(())
    }

    pub fn communities(&self) -> impl Iterator<Item = &Community> {
        self.streets.iter().flat_map(|s| s.communities.iter())
    }

    pub fn community_count(&self) -> usize {
        self.streets.iter().map(|s| s.communities.len()).sum()
    }

    pub fn node_count(&self) -> usize {
        1 + self.districts.len() + self.streets.len() + self.community_count()
    }

    /// Every node id: the top, the districts under a city, the streets, the
    /// communities.
    pub fn node_ids(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(self.top.clone())
            .chain(self.districts.iter().map(|d| d.id.clone()))
            .chain(self.streets.iter().map(|s| s.id.clone()))
            .chain(self.communities().map(|c| c.id.clone()))
    }

    /// The tier of the top: a district, or the city above the districts.
    pub fn top_tier(&self) -> Tier {
        if self.districts.is_empty() { Tier::District } else { Tier::City }
    }

    /// Every coordinator, from the top down: its id, tier, parent and children.
    pub fn coordinators(&self) -> Vec<Coordinator> {
        let top_children = match self.districts.is_empty() {
            true => self.streets.iter().map(|s| s.id.clone()).collect(),
            false => self.districts.iter().map(|d| d.id.clone()).collect(),
        };
        let mut all =
            vec![Coordinator { id: self.top.clone(), tier: self.top_tier(), parent: None, children: top_children }];
        for district in &self.districts {
            all.push(Coordinator {
                id: district.id.clone(),
                tier: Tier::District,
                parent: Some(self.top.clone()),
                children: district.streets.clone(),
            });
        }
        for street in &self.streets {
            all.push(Coordinator {
                id: street.id.clone(),
                tier: Tier::Street,
                parent: Some(self.parent_of_street(&street.id).to_string()),
                children: street.communities.iter().map(|c| c.id.clone()).collect(),
            });
        }
        all
    }

    /// The node above `street`: its district under a city, else the top.
    pub fn parent_of_street(&self, street: &str) -> &str {
        let district = self.districts.iter().find(|d| d.streets.iter().any(|s| s == street));
        district.map_or(self.top.as_str(), |d| d.id.as_str())
    }

    /// The node above `node`; `None` for the top and for a node not in the tree.
    pub fn parent_of(&self, node: &str) -> Option<&str> {
        if self.districts.iter().any(|d| d.id == node) {
            return Some(&self.top);
        }
        if self.streets.iter().any(|s| s.id == node) {
            return Some(self.parent_of_street(node));
        }
        self.street_of(node)
    }

    /// Every node above `node`, nearest first, up to the top.
    pub fn ancestors(&self, node: &str) -> Vec<String> {
        let mut above = Vec::new();
        let mut at = node;
        while let Some(parent) = self.parent_of(at) {
            above.push(parent.to_string());
            at = parent;
        }
        above
    }

    /// Every child-parent pair of the tree, depth first from the top: a district's
    /// tree lists each street, then its communities.
    pub fn edges(&self) -> Vec<(String, String)> {
        let coordinators: std::collections::BTreeMap<String, Vec<String>> =
            self.coordinators().into_iter().map(|c| (c.id, c.children)).collect();
        let mut edges = Vec::new();
        let mut stack: Vec<(String, Option<String>)> = vec![(self.top.clone(), None)];
        while let Some((node, parent)) = stack.pop() {
            if let Some(parent) = parent {
                edges.push((node.clone(), parent));
            }
            let children = coordinators.get(&node).map(Vec::as_slice).unwrap_or_default();
            stack.extend(children.iter().rev().map(|child| (child.clone(), Some(node.clone()))));
        }
        edges
    }

    /// This tree after `fault`: a move or a split changes it, other faults do not.
    pub fn after(&self, fault: &crate::faults::Fault) -> Result<Topology, SimError> {
        use crate::faults::FaultKind;
        match fault.kind {
            FaultKind::Move => self.moved(&fault.node, fault.to.as_deref().unwrap_or_default()),
            FaultKind::Split => self.split(&fault.node),
            _ => Ok(self.clone()),
        }
    }

    /// The two communities a split of `community` makes.
    pub fn split_into(community: &str) -> [String; 2] {
        [format!("{community}-a"), format!("{community}-b")]
    }

    pub fn was_split(&self, community: &str) -> bool {
        let [a, _] = Self::split_into(community);
        self.communities().any(|c| c.id == a)
    }

    /// This tree with `community` split in two under its street: the halves share its
    /// people, grids, stations and volunteers; it stays, as history.
    pub fn split(&self, community: &str) -> Result<Topology, SimError> {
        let mut tree = self.clone();
        let street = tree
            .streets
            .iter_mut()
            .find(|s| s.communities.iter().any(|c| c.id == community))
            .ok_or_else(|| SimError::BadTopology { reason: format!("no community {community} to split") })?;
        let old = street.communities.iter().find(|c| c.id == community).cloned();
        let old = old.ok_or_else(|| SimError::BadTopology { reason: format!("no community {community} to split") })?;
        let first_grids = Self::split_grids(old.grids);
        for (id, grids) in Self::split_into(community).into_iter().zip([first_grids, old.grids - first_grids]) {
            NodeId::new(&id).map_err(|e| SimError::BadTopology { reason: e.to_string() })?;
            street.communities.push(Community {
                id,
                people: old.people / 2,
                grids: grids.max(1),
                v_stations: (old.v_stations / 2).max(1),
                v_stations_24h: old.v_stations_24h / 2,
                volunteers: old.volunteers / 2,
                weight: old.weight / 2.0,
            });
        }
        Ok(tree)
    }

    /// The rule of a split of `community` (see [`Self::split`]): by grid, the first
    /// half of its grids to `<id>-a`, the rest to `<id>-b`, every record without a grid
    /// (sites, projects, hours) to `<id>-a`.
    pub fn split_rule(community: &Community) -> SplitRule {
        let [a, b] = Self::split_into(&community.id);
        let first = Self::split_grids(community.grids);
        let to = (1..=community.grids.max(1))
            .map(|n| (crate::workload::grid_name(n), if n <= first { a.clone() } else { b.clone() }))
            .collect();
        SplitRule { from: community.id.clone(), by_field: "grid".into(), to, default_to: Some(a) }
    }

    /// The profile of `community`, if this tree has it.
    pub fn community(&self, community: &str) -> Option<&Community> {
        self.communities().find(|c| c.id == community)
    }

    /// Grids `1..=n` of a community of `grids` go to the first half of a split.
    pub fn split_grids(grids: u32) -> u32 {
        grids.div_ceil(2)
    }

    /// This tree with `community` moved under the street `to` (at the end of its list).
    pub fn moved(&self, community: &str, to: &str) -> Result<Topology, SimError> {
        let mut tree = self.clone();
        let missing = |what: &str| SimError::BadTopology { reason: format!("no {what} to move: {community} to {to}") };
        let from = tree.streets.iter().position(|s| s.communities.iter().any(|c| c.id == community));
        let from = from.ok_or_else(|| missing("community"))?;
        let to = tree.streets.iter().position(|s| s.id == to).ok_or_else(|| missing("street"))?;
        let at = tree.streets[from]
            .communities
            .iter()
            .position(|c| c.id == community)
            .ok_or_else(|| missing("community"))?;
        let moving = tree.streets[from].communities.remove(at);
        tree.streets[to].communities.push(moving);
        Ok(tree)
    }

    pub fn street_of(&self, community: &str) -> Option<&str> {
        self.streets.iter().find(|s| s.communities.iter().any(|c| c.id == community)).map(|s| s.id.as_str())
    }
}

fn draw_community(id: &str, rng: &mut Rng) -> Community {
    // Around Pingdi (6,440 people), with a tail up to Beizhan's size.
    let people = rng.log_normal(8_000.0, 0.6).clamp(1_500.0, 80_000.0) as u32;
    let grids = (f64::from(people) / 500.0).round().clamp(3.0, 60.0) as u32;
    let v_stations = rng.range(1, 4) as u32 + people / 20_000;
    let v_stations_24h = u32::from(rng.chance(0.3));
    let volunteers = (f64::from(people) * (0.01 + 0.02 * rng.unit())) as u32 + 10;
    Community { id: id.to_string(), people, grids, v_stations, v_stations_24h, volunteers, weight: 1.0 }
}

/// Splits `total` into parts proportional to `shares`, each at least one, summing to
/// `total` (largest remainders).
fn apportion(shares: &[f64], total: usize) -> Vec<usize> {
    let spare = total - shares.len();
    let sum: f64 = shares.iter().sum();
    let exact: Vec<f64> = shares.iter().map(|s| s / sum * spare as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| 1 + *e as usize).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())));
    let mut left = total - counts.iter().sum::<usize>();
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_real_counts_and_a_seed_fixes_the_sizes() {
        for (name, _, streets, communities) in PRESETS {
            let tree = Topology::preset(name, 1).expect("preset");
            assert_eq!(tree.streets.len(), streets, "{name}");
            assert_eq!(tree.community_count(), communities, "{name}");
            assert!(tree.streets.iter().all(|s| !s.communities.is_empty()), "{name}: an empty street");
            tree.check_ids().expect("ids");
        }
        let (a, b) = (Topology::preset("longgang", 9).expect("a"), Topology::preset("longgang", 9).expect("b"));
        assert_eq!(serde_json::to_string(&a).ok(), serde_json::to_string(&b).ok());
        let c = Topology::preset("longgang", 10).expect("c");
        assert_ne!(serde_json::to_string(&a).ok(), serde_json::to_string(&c).ok());
    }

    #[test]
    fn bad_shapes_are_refused_with_the_reason() {
        let err = Topology::preset("atlantis", 1).expect_err("unknown");
        assert!(err.to_string().contains("longgang"), "{err}");
        let err = Topology::sized("x", "x", 3, 2, 1).expect_err("too few");
        assert!(err.to_string().contains("every street needs a community"), "{err}");
        let err = Topology::sized("x", "x", 10, 5_000, 1).expect_err("too big");
        assert!(err.to_string().contains("2000"), "{err}");
    }

    #[test]
    fn a_topology_file_names_its_nodes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "name = \"shuanghe\"\ndistrict = \"cy\"\n[[streets]]\nid = \"cy-jxq\"\ncommunities = [\"cy-sh-1\", \"cy-sh-2\"]\n",
        )
        .expect("write");
        let tree = Topology::from_file(&path, 3).expect("file");
        assert_eq!(tree.street_of("cy-sh-2"), Some("cy-jxq"));
        std::fs::write(&path, "name = \"x\"\ndistrict = \"x\"\n[[streets]]\nid = \"s\"\ncommunities = [\"a b\"]\n")
            .expect("write");
        let err = Topology::from_file(&path, 3).expect_err("bad id");
        assert!(err.to_string().contains("a b"), "{err}");
    }
}
