//! Which log entries a link ships, and which it accepts.
//!
//! A node's documents belong to owners (communities, or the node itself). Up, a child
//! ships what its subtree wrote. Down, a parent ships to a child the documents of that
//! child's subtree and the documents that belong to no child (its own and those that
//! came from above: a district's service menu), so a broadcast reaches everyone and a
//! community never receives another community's records. Nobody ships an entry back
//! to the peer it came from.
//!
//! An owner that was below this node and left it (a community moved to another street)
//! is no broadcast: its entries stay in the log as history and go nowhere, so the
//! communities that stayed never receive it.
//!
//! A parent accepts from a child only documents of the child's subtree. The subtree a
//! child announces is trusted as far as its parent's config reaches: a street knows
//! its communities by config and a community's subtree is the community alone; the
//! district trusts the streets it is configured to accept.

use crate::ids::{DocId, NodeId};
use crate::store::LogEntry;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    /// This node.
    pub me: String,
    /// Each child's subtree (owners, the child included), as last announced.
    pub children: BTreeMap<String, BTreeSet<String>>,
    /// Owners that were below this node and moved away: never shipped anywhere.
    pub left: BTreeSet<String>,
}

impl Routes {
    pub fn new(me: &NodeId) -> Self {
        Self { me: me.to_string(), children: BTreeMap::new(), left: BTreeSet::new() }
    }

    /// Whether a document of `owner` goes to every child: it belongs to none of them
    /// and never did (this node's own, or one that came from above).
    fn broadcast(&self, owner: &str) -> bool {
        !self.below(owner) && !self.left.contains(owner)
    }

    /// Owners of this node's subtree: itself and every child's subtree.
    pub fn subtree(&self) -> BTreeSet<String> {
        let mut owners: BTreeSet<String> = self.children.values().flatten().cloned().collect();
        owners.insert(self.me.clone());
        owners
    }

    pub(crate) fn below(&self, owner: &str) -> bool {
        self.children.values().any(|owners| owners.contains(owner))
    }

    /// Whether `entry` goes up to this node's parent `parent`.
    pub fn ships_up(&self, entry: &LogEntry, parent: &NodeId) -> bool {
        entry.origin.as_ref() != Some(parent) && (entry.doc.owner == self.me || self.below(&entry.doc.owner))
    }

    /// Whether `entry` goes down to `child`.
    pub fn ships_down(&self, entry: &LogEntry, child: &NodeId) -> bool {
        if entry.origin.as_ref() == Some(child) {
            return false;
        }
        let owner = entry.doc.owner.as_str();
        match self.children.get(child.as_str()) {
            Some(owners) if owners.contains(owner) => true,
            _ => self.broadcast(owner),
        }
    }

    /// Whether a document is shared with `child` at all (repair syncs these).
    pub fn shares_down(&self, doc: &DocId, child: &NodeId) -> bool {
        self.children.get(child.as_str()).is_some_and(|owners| owners.contains(&doc.owner))
            || self.broadcast(&doc.owner)
    }

    /// The nodes whose Automerge actors `child` may not write under: this node, and
    /// every other child with its subtree (see `doc::admit`). Nodes above this one
    /// are not listed: a community that moved brings their edits of its records.
    pub fn actors_refused_from(&self, child: &NodeId) -> BTreeSet<String> {
        let own = self.children.get(child.as_str());
        let mut refused: BTreeSet<String> = self
            .children
            .iter()
            .filter(|(other, _)| other.as_str() != child.as_str())
            .flat_map(|(other, owners)| std::iter::once(other).chain(owners))
            .filter(|node| own.is_none_or(|own| !own.contains(*node)))
            .cloned()
            .collect();
        refused.insert(self.me.clone());
        refused.remove(child.as_str());
        refused
    }

    /// `None` when `child` may send changes to `doc`; otherwise why not.
    pub fn refuses_from_child(&self, child: &NodeId, doc: &DocId) -> Option<String> {
        match self.children.get(child.as_str()) {
            Some(owners) if owners.contains(&doc.owner) => None,
            Some(_) => {
                Some(format!("document {doc} belongs to `{}`, which is not in the subtree of `{child}`", doc.owner))
            }
            None => Some(format!("`{child}` is not a child of `{}`", self.me)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(owner: &str, origin: Option<&str>) -> LogEntry {
        LogEntry {
            seq: 1,
            doc: DocId::new(owner, "requests", "2026-11").unwrap(),
            origin: origin.map(|o| NodeId::new(o).unwrap()),
            changes: vec![],
            traces: Vec::new(),
        }
    }

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn street() -> Routes {
        let mut routes = Routes::new(&id("s"));
        routes.children.insert("a".into(), ["a".to_string()].into());
        routes.children.insert("b".into(), ["b".to_string()].into());
        routes
    }

    #[test]
    fn up_ships_the_subtree_and_never_echoes_the_parent() {
        let routes = street();
        assert!(routes.ships_up(&entry("a", Some("a")), &id("d")));
        assert!(routes.ships_up(&entry("s", None), &id("d")));
        assert!(!routes.ships_up(&entry("a", Some("d")), &id("d")), "came from the parent");
        assert!(!routes.ships_up(&entry("d", Some("d")), &id("d")), "a broadcast from above");
        assert!(!routes.ships_up(&entry("x", Some("a")), &id("d")), "not in the subtree");
    }

    #[test]
    fn down_ships_the_childs_own_and_broadcasts_only() {
        let routes = street();
        assert!(routes.ships_down(&entry("a", Some("d")), &id("a")), "a dispatch from above");
        assert!(routes.ships_down(&entry("a", None), &id("a")), "the street's own dispatch");
        assert!(!routes.ships_down(&entry("a", Some("a")), &id("a")), "an echo");
        assert!(!routes.ships_down(&entry("b", Some("b")), &id("a")), "another community's");
        assert!(routes.ships_down(&entry("d", Some("d")), &id("a")), "the district's menu");
        assert!(routes.ships_down(&entry("s", None), &id("b")), "the street's own documents");
    }

    #[test]
    fn a_community_that_moved_away_is_no_broadcast() {
        let mut routes = street();
        routes.children.remove("b");
        routes.left.insert("b".into());
        assert!(!routes.ships_down(&entry("b", Some("b")), &id("a")), "the moved community's own");
        assert!(!routes.ships_down(&entry("b", None), &id("a")), "the street's dispatch to it");
        assert!(!routes.shares_down(&DocId::new("b", "requests", "all").unwrap(), &id("a")));
        assert!(!routes.ships_up(&entry("b", Some("b")), &id("d")), "no longer in the subtree");
        assert!(routes.ships_down(&entry("d", Some("d")), &id("a")), "broadcasts still go");
    }

    #[test]
    fn a_child_is_refused_documents_outside_its_subtree() {
        let routes = street();
        assert_eq!(routes.refuses_from_child(&id("a"), &DocId::new("a", "requests", "all").unwrap()), None);
        let why = routes.refuses_from_child(&id("a"), &DocId::new("b", "requests", "all").unwrap()).unwrap();
        assert!(why.contains("b/requests/all") && why.contains("subtree of `a`"), "{why}");
        assert!(routes.refuses_from_child(&id("z"), &DocId::new("z", "requests", "all").unwrap()).is_some());
    }
}
