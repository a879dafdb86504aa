//! Who is below whom, decided in one place: the scope a node writes in, the routes its
//! links follow, what a restart changes, and what a child's Hello may add.
//!
//! The server (`linli-node`) and the simulator both build a node's [`Routes`] and
//! [`Scope`] here, from the node's configured children and what its store remembers:
//! - `subtree/<child>`: the owners below each child, as last accepted from it (a
//!   street's communities), so routes hold while the child is away;
//! - `children`: the children at the last start. One no longer configured moved to
//!   another parent *if the operator says so* (`--forget <child>`): its documents are
//!   forgotten here, with its checkpoint and subtree (were the checkpoint kept, a child
//!   that comes back would resume past changes this node no longer holds, and its new
//!   ones would wait for them forever). One missing without that word is a typo until
//!   shown otherwise: the node refuses to start and keeps everything
//!   ([`Restored::refuse_missing`]).
//! - `children_left`: every owner that moved away, kept for good: the log still holds
//!   their entries, and they must not reach the children as broadcasts.

use super::{Checkpoint, Hello, Routes, Tier};
use crate::error::Error;
use crate::ids::NodeId;
use crate::replica::Scope;
use std::collections::BTreeSet;

/// The meta key of the children at the last start.
pub const CHILDREN_META: &str = "children";

/// The meta key of the owners that moved away from below this node.
pub const LEFT_META: &str = "children_left";

/// The meta key of a child's subtree.
pub fn subtree_meta_name(child: &str) -> String {
    format!("subtree/{child}")
}

/// A list of owners as kept in meta: comma-separated.
pub fn encode_owners<'a>(owners: impl IntoIterator<Item = &'a String>) -> Vec<u8> {
    owners.into_iter().cloned().collect::<Vec<_>>().join(",").into_bytes()
}

pub fn decode_owners(bytes: Option<&[u8]>) -> BTreeSet<String> {
    bytes
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .map(|s| s.split(',').filter(|c| !c.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// The documents a node may originate changes for: the top of the tree, everything
/// below it; any other node, its own and its children's.
pub fn scope<'a>(tier: Tier, me: &str, children: impl IntoIterator<Item = &'a String>) -> Scope {
    match tier {
        Tier::District => Scope::All,
        Tier::Community | Tier::Street => {
            Scope::Owners(children.into_iter().cloned().chain([me.to_string()]).collect())
        }
    }
}

/// What a node's start makes of its config and its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub routes: Routes,
    /// Owners that moved away since the last start: their documents are to be
    /// forgotten ([`crate::replica::Event::Forget`]) before the links start.
    pub gone: BTreeSet<String>,
    /// Meta of the children that left (checkpoint and subtree), deleted in the same
    /// batch as their documents.
    pub forget_meta: Vec<String>,
    /// Meta to persist (the new children and left lists), when they changed.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Children at the last start that are neither configured nor named to forget:
    /// nothing of them is forgotten, and the node must not start
    /// ([`Self::refuse_missing`]).
    pub missing: BTreeSet<String>,
}

impl Restored {
    /// Refuses a start that would silently drop children (see the module docs).
    pub fn refuse_missing(&self) -> Result<(), Error> {
        if self.missing.is_empty() {
            return Ok(());
        }
        Err(Error::ChildrenMissing { children: self.missing.iter().cloned().collect::<Vec<_>>().join(",") })
    }
}

/// Routes from the configured `children` and what the store's `meta` remembers (see
/// the module docs); children that left since the last start and are named in
/// `forget` are forgotten and remembered as left; those left out of the config but not
/// named are [`Restored::missing`] and nothing changes. A name in `forget` that is
/// configured is ignored: the config says it is below. A failed read of `meta` fails
/// the restore.
pub fn restore<E>(
    me: &NodeId,
    children: &BTreeSet<String>,
    forget: &BTreeSet<String>,
    meta: impl Fn(&str) -> Result<Option<Vec<u8>>, E>,
) -> Result<Restored, E> {
    let subtree_of = |child: &str| -> Result<BTreeSet<String>, E> {
        let mut owners = decode_owners(meta(&subtree_meta_name(child))?.as_deref());
        owners.insert(child.to_string());
        Ok(owners)
    };
    let mut routes = Routes::new(me);
    for child in children {
        routes.children.insert(child.clone(), subtree_of(child)?);
    }
    let before = decode_owners(meta(CHILDREN_META)?.as_deref());
    let missing: BTreeSet<String> =
        before.difference(children).filter(|child| !forget.contains(*child)).cloned().collect();
    if !missing.is_empty() {
        return Ok(Restored { routes, gone: BTreeSet::new(), forget_meta: Vec::new(), meta: Vec::new(), missing });
    }
    let mut gone = BTreeSet::new();
    let mut forget_meta = Vec::new();
    for child in before.difference(children) {
        gone.extend(subtree_of(child)?);
        let peer = NodeId::new(child).ok();
        forget_meta.extend(peer.map(|peer| Checkpoint::meta_name(&peer)));
        forget_meta.push(subtree_meta_name(child));
    }
    // Owners still below another child stay.
    let kept = routes.subtree();
    gone.retain(|owner| !kept.contains(owner));
    let left_before = decode_owners(meta(LEFT_META)?.as_deref());
    let mut left: BTreeSet<String> = left_before.iter().chain(&gone).cloned().collect();
    // One that came back is below again.
    left.retain(|owner| !kept.contains(owner));
    let mut updates = Vec::new();
    if before != *children {
        updates.push((CHILDREN_META.to_string(), encode_owners(children)));
    }
    if left != left_before {
        updates.push((LEFT_META.to_string(), encode_owners(&left)));
    }
    routes.left = left;
    Ok(Restored { routes, gone, forget_meta, meta: updates, missing })
}

/// The subtree a parent accepts for `child` from its Hello: a community is its own
/// subtree; a street or district child vouches for its own children.
pub fn accepted_subtree(child: &NodeId, hello: &Hello) -> BTreeSet<String> {
    match hello.tier {
        Tier::Community => [child.to_string()].into(),
        Tier::Street | Tier::District => {
            let mut owners = hello.subtree.clone();
            owners.insert(child.to_string());
            owners
        }
    }
}

impl Routes {
    /// Takes `child`'s subtree as accepted from its Hello. Returns the meta entry to
    /// persist *before* the routes are used (they must survive a restart while the
    /// child is away), or `None` when nothing changed.
    pub fn accept(&mut self, child: &NodeId, hello: &Hello) -> Option<(String, Vec<u8>)> {
        let subtree = accepted_subtree(child, hello);
        if self.children.get(child.as_str()) == Some(&subtree) {
            return None;
        }
        let entry = (subtree_meta_name(child.as_str()), encode_owners(&subtree));
        self.children.insert(child.to_string(), subtree);
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_first_start_has_each_child_alone_and_records_the_children() {
        let restored = restore(&id("s"), &set(&["a", "b"]), &set(&[]), |_| Ok::<_, ()>(None)).unwrap();
        assert_eq!(restored.routes.children.get("a"), Some(&set(&["a"])));
        assert!(restored.gone.is_empty());
        assert_eq!(restored.meta, vec![(CHILDREN_META.to_string(), b"a,b".to_vec())]);
    }

    #[test]
    fn a_child_no_longer_configured_is_forgotten_and_remembered_as_left() {
        let stored: BTreeMap<String, Vec<u8>> =
            [(CHILDREN_META.to_string(), b"a,b".to_vec()), (subtree_meta_name("b"), b"b".to_vec())].into();
        let restored =
            restore(&id("s"), &set(&["a"]), &set(&["b"]), |name| Ok::<_, ()>(stored.get(name).cloned())).unwrap();
        assert_eq!(restored.gone, set(&["b"]));
        assert_eq!(restored.routes.left, set(&["b"]));
        assert!(restored.meta.contains(&(LEFT_META.to_string(), b"b".to_vec())));
        assert_eq!(restored.forget_meta, vec!["checkpoint/b".to_string(), subtree_meta_name("b")]);
        // It comes back: below again, no longer left.
        let stored: BTreeMap<String, Vec<u8>> =
            [(CHILDREN_META.to_string(), b"a".to_vec()), (LEFT_META.to_string(), b"b".to_vec())].into();
        let restored =
            restore(&id("s"), &set(&["a", "b"]), &set(&[]), |name| Ok::<_, ()>(stored.get(name).cloned())).unwrap();
        assert!(restored.routes.left.is_empty() && restored.gone.is_empty());
    }

    #[test]
    fn a_child_left_out_of_the_config_without_forget_is_kept_and_the_start_refused() {
        let stored: BTreeMap<String, Vec<u8>> =
            [(CHILDREN_META.to_string(), b"a,b,c".to_vec()), (subtree_meta_name("b"), b"b".to_vec())].into();
        // `b` typed away, `c` confirmed: nothing is forgotten, not even `c`, until the
        // config and the word agree.
        let restored =
            restore(&id("s"), &set(&["a"]), &set(&["c"]), |name| Ok::<_, ()>(stored.get(name).cloned())).unwrap();
        assert_eq!(restored.missing, set(&["b"]));
        assert!(restored.gone.is_empty() && restored.forget_meta.is_empty() && restored.meta.is_empty());
        let refused = restored.refuse_missing().unwrap_err().to_string();
        assert!(refused.contains("[b]") && refused.contains("--forget b"), "{refused}");
    }

    #[test]
    fn a_street_vouches_for_its_communities_and_a_community_for_itself() {
        let hello = |tier, subtree: &[&str]| Hello {
            node: id("x"),
            tier,
            log_id: "x.1".into(),
            log_end: 0,
            log_trimmed: 0,
            checkpoint: None,
            subtree: set(subtree),
        };
        let mut routes = Routes::new(&id("d"));
        let entry = routes.accept(&id("x"), &hello(Tier::Street, &["a", "b"]));
        assert_eq!(entry, Some((subtree_meta_name("x"), b"a,b,x".to_vec())));
        assert_eq!(routes.accept(&id("x"), &hello(Tier::Street, &["a", "b"])), None, "unchanged");
        routes.accept(&id("x"), &hello(Tier::Community, &["a", "b"]));
        assert_eq!(routes.children.get("x"), Some(&set(&["x"])), "a community claims only itself");
    }

    #[test]
    fn the_district_writes_everywhere_and_a_street_in_its_communities() {
        assert_eq!(scope(Tier::District, "d", &set(&["s"])), Scope::All);
        assert_eq!(scope(Tier::Street, "s", &set(&["a"])), Scope::Owners(set(&["a", "s"])));
    }
}
