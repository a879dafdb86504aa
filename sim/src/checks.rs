//! The checks at the end of every run. Each says what it compared and, when it
//! fails, the first differences.
//!
//! - converged: every document a community holds is equal at every tier above it (its
//!   street, the district, the city when there is one), and so are the top's own
//!   documents (and a city's districts') everywhere below them;
//! - aggregates: the district's maintained views equal the views recounted from the
//!   ledger of acknowledged writes, and every node's views equal a recount of its own
//!   documents;
//! - no acknowledged write lost: every record the ledger knows is at the district with
//!   exactly the fields and claims its acknowledged writes left;
//! - no `local` field above its community, at its street or at the district;
//! - no community holds another community's documents (only its own, its street's
//!   and the district's);
//! - each street counts only its own communities, itself and the broadcasts from above
//!   (a community that moved away is forgotten);
//! - in a city ([`city`]): each district counts only its own subtree and the city's
//!   broadcast, and the city's views are the sum of its districts'.

mod city;

use crate::error::SimError;
use crate::ledger::Ledger;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::{DocId, RecordKey};
use linli_core::views::Views;
use serde::Serialize;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// Differences a failed check lists at most.
const SHOWN_MAX: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: String) -> Self {
        Self { name: name.to_string(), passed, detail }
    }

    pub(crate) fn from_problems(name: &str, compared: usize, what: &str, problems: Vec<String>) -> Self {
        if problems.is_empty() {
            return Self::new(name, true, format!("{compared} {what} compared"));
        }
        let shown: Vec<&str> = problems.iter().take(SHOWN_MAX).map(String::as_str).collect();
        Self::new(name, false, format!("{} of {compared} {what} differ: {}", problems.len(), shown.join("; ")))
    }
}

/// What the checks read of a district, in either mode.
// The futures are awaited where they are made, never sent to another thread.
#[allow(async_fn_in_trait)]
pub trait Inspect {
    /// Every node of the topology.
    fn node_ids(&self) -> Vec<String>;
    /// Every document `node` holds, as JSON by document id; an error when it is down.
    async fn docs(&self, node: &str) -> Result<BTreeMap<String, Json>, SimError>;
    /// The views `node` maintains and a recount of its documents; `None` while it is down.
    async fn views_and_recount(&self, node: &str) -> Result<Option<(Views, Views)>, SimError>;
    /// A record as `node` holds it; `None` when it does not, or it is down.
    async fn record(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError>;
}

pub async fn run_all(district: &impl Inspect, topology: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError> {
    Ok(vec![
        converged(district, topology).await?,
        aggregates(district, topology, ledger).await?,
        nothing_lost(district, topology, ledger).await?,
    ]
    .into_iter()
    .flatten()
    .collect())
}

async fn docs(district: &impl Inspect, node: &str) -> Result<BTreeMap<String, Json>, SimError> {
    district.docs(node).await
}

async fn converged(district: &impl Inspect, topology: &Topology) -> Result<Vec<Check>, SimError> {
    let mut above_streets = BTreeMap::new();
    for node in std::iter::once(&topology.top).chain(topology.districts.iter().map(|d| &d.id)) {
        above_streets.insert(node.clone(), docs(district, node).await?);
    }
    let mut problems = Vec::new();
    let mut foreign = Vec::new();
    let mut compared = 0;
    for street in &topology.streets {
        let at_street = docs(district, &street.id).await?;
        // The tiers above the street, the top first: their documents are compared below.
        let mut higher = topology.ancestors(&street.id);
        higher.rotate_right(1);
        for community in &street.communities {
            let mine = docs(district, &community.id).await?;
            let others = mine.keys().filter(|doc| {
                let owner = DocId::parse(doc).map(|d| d.owner).unwrap_or_default();
                owner != community.id && owner != street.id && !higher.contains(&owner)
            });
            foreign.extend(others.map(|doc| format!("{} holds {doc}", community.id)));
            for (doc, json) in &mine {
                compared += 1;
                if at_street.get(doc) != Some(json) {
                    problems.push(format!("{doc} differs between {} and {}", community.id, street.id));
                }
                for node in &higher {
                    if above_streets.get(node).and_then(|docs| docs.get(doc)) != Some(json) {
                        problems.push(format!("{doc} differs between {} and {node}", community.id));
                    }
                }
            }
            for node in &higher {
                let Some(at_node) = above_streets.get(node) else { continue };
                let owned_above = at_node.keys().filter(|d| d.starts_with(&format!("{}/", community.id)));
                for doc in owned_above.filter(|d| !mine.contains_key(*d)) {
                    problems.push(format!("{doc} is at {node} but not at its community"));
                }
                // The top's own documents (and a city's districts') reach every community below.
                for (doc, json) in at_node.iter().filter(|(d, _)| d.starts_with(&format!("{node}/"))) {
                    compared += 1;
                    if mine.get(doc) != Some(json) {
                        problems.push(format!("{doc} differs between {node} and {}", community.id));
                    }
                }
            }
        }
    }
    let communities = topology.community_count();
    Ok(vec![
        Check::from_problems("converged", compared, "documents", problems),
        Check::from_problems("no community holds another's documents", communities, "communities", foreign),
    ])
}

async fn aggregates(district: &impl Inspect, topology: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError> {
    let (maintained, _) = district
        .views_and_recount(&topology.top)
        .await?
        .ok_or_else(|| SimError::NoNode { node: topology.top.clone() })?;
    let expected = ledger.expected_views();
    let mut problems = diff_views(&maintained, &expected);
    let compared = expected.counts.len() + expected.sums.len() + expected.open_by_deadline.len();
    let recount =
        Check::from_problems("aggregates equal the ledger", compared, "view entries", std::mem::take(&mut problems));

    let mut stale = Vec::new();
    let mut foreign = Vec::new();
    let nodes = district.node_ids();
    for node in &nodes {
        let Some((views, recounted)) = district.views_and_recount(node).await? else { continue };
        if views != recounted {
            stale.push(format!("{node}: {}", diff_views(&views, &recounted).join(", ")));
        }
        if let Some(street) = topology.streets.iter().find(|s| &s.id == node) {
            let above = topology.ancestors(&street.id);
            let mine: BTreeSet<&str> = street
                .communities
                .iter()
                .map(|c| c.id.as_str())
                .chain([street.id.as_str()])
                .chain(above.iter().map(String::as_str))
                .collect();
            let counted: BTreeSet<&str> = views.counts.keys().map(|k| k.community.as_str()).collect();
            foreign.extend(counted.difference(&mine).map(|other| format!("{node} counts {other}")));
        }
    }
    let compared = nodes.len();
    let mut checks = vec![
        recount,
        Check::from_problems("views equal a recount at every node", compared, "nodes", stale),
        Check::from_problems("streets count only their communities", topology.streets.len(), "streets", foreign),
    ];
    if !topology.districts.is_empty() {
        checks.extend(city::districts_add_up(district, topology).await?);
    }
    Ok(checks)
}

/// The first differences between two views, as `key: got vs expected`.
pub(crate) fn diff_views(got: &Views, expected: &Views) -> Vec<String> {
    let mut problems = Vec::new();
    let keys: BTreeSet<_> = got.counts.keys().chain(expected.counts.keys()).collect();
    for key in keys {
        let (g, e) = (got.counts.get(key), expected.counts.get(key));
        if g != e {
            problems.push(format!(
                "count {}/{}/{}/{}: {} vs {}",
                key.community,
                key.registry,
                key.status,
                key.category,
                g.unwrap_or(&0),
                e.unwrap_or(&0)
            ));
        }
    }
    let keys: BTreeSet<_> = got.sums.keys().chain(expected.sums.keys()).collect();
    for key in keys {
        let (g, e) = (got.sums.get(key), expected.sums.get(key));
        if g != e {
            problems.push(format!(
                "sum {}/{}/{}/{}: {} vs {}",
                key.community,
                key.registry,
                key.field,
                key.period,
                g.unwrap_or(&0),
                e.unwrap_or(&0)
            ));
        }
    }
    for open in got.open_by_deadline.symmetric_difference(&expected.open_by_deadline) {
        let side = if got.open_by_deadline.contains(open) { "only maintained" } else { "only expected" };
        problems.push(format!("open request {} ({side})", open.1));
    }
    problems
}

async fn nothing_lost(district: &impl Inspect, topology: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError> {
    let mut lost = Vec::new();
    let mut leaked = Vec::new();
    let mut looked = 0;
    for (key, expected) in ledger.records() {
        // The top first, then the tiers between it and the record's community.
        let mut above = vec![topology.top.clone()];
        above.extend(topology.ancestors(&key.doc.owner).into_iter().filter(|node| *node != topology.top));
        for node in &above {
            looked += 1;
            let Some(record) = district.record(node, key).await? else {
                lost.push(format!("{key} missing at {node}"));
                continue;
            };
            let locals: Vec<&str> = record
                .fields
                .keys()
                .filter(|f| expected.schema.field(f).is_some_and(|spec| spec.local))
                .map(String::as_str)
                .collect();
            if !locals.is_empty() {
                leaked.push(format!("{key} at {node} holds {}", locals.join(", ")));
            }
            let replicated: BTreeMap<_, _> = record
                .fields
                .iter()
                .filter(|(f, _)| expected.schema.field(f).is_some_and(|spec| !spec.local))
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect();
            if replicated != expected.fields {
                lost.push(format!("{key} at {node}: fields {replicated:?}, acknowledged {:?}", expected.fields));
            }
            for (field, claimants) in &expected.claimants {
                let held: BTreeSet<String> = record
                    .claims
                    .get(field)
                    .map(|c| c.entries.iter().map(|e| e.by.clone()).collect())
                    .unwrap_or_default();
                if &held != claimants {
                    lost.push(format!("{key} at {node}: claims on {field} {held:?}, acknowledged {claimants:?}"));
                }
            }
        }
    }
    Ok(vec![
        Check::from_problems("no acknowledged write lost", looked, "records", lost),
        Check::from_problems("no local field above its community", looked, "records", leaked),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::views::CountKey;

    #[test]
    fn a_difference_in_the_views_fails_the_check_and_names_the_entry() {
        let mut expected = Views::default();
        let key = CountKey {
            community: "c1".into(),
            registry: "requests".into(),
            status: "resolved".into(),
            category: "environment".into(),
        };
        expected.counts.insert(key.clone(), 3);
        let mut got = expected.clone();
        assert!(diff_views(&got, &expected).is_empty());
        got.counts.insert(key, 2);
        got.open_by_deadline.insert((5, "c1/requests/2026-11/r1".into()));
        let problems = diff_views(&got, &expected);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("c1/requests/resolved/environment: 2 vs 3"), "{problems:?}");
        let check = Check::from_problems("aggregates", 2, "entries", problems);
        assert!(!check.passed);
        assert!(check.detail.starts_with("2 of 2 entries differ"), "{}", check.detail);
    }
}
