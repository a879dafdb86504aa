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
use std::collections::{BTreeMap, BTreeSet};

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

/// The documents a node may originate changes for: the root of the tree (the node
/// without a parent), everything below it; any other node, its own and its
/// children's. A coordinator between others (a district under a city) is no root:
/// its parent would refuse what it wrote outside its subtree, so it writes where a
/// street does.
pub fn scope<'a>(is_root: bool, me: &str, children: impl IntoIterator<Item = &'a String>) -> Scope {
    if is_root {
        return Scope::All;
    }
    Scope::Owners(children.into_iter().cloned().chain([me.to_string()]).collect())
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

/// The subtree a parent takes for `child` from its Hello, checked against what the
/// parent knows from its own side; `Err` names the child and the claim that
/// disagrees, and the Hello is refused (nothing of it is kept).
///
/// - Its tier is the one below the parent's, whatever the Hello says.
/// - A community's subtree is itself.
/// - A coordinator's (a street's, a district's under a city) is the owners it
///   announces, each of them one the parent's own config puts under it (`allowed`; `None`: the parent's config does not say, and the
///   street's word is taken, as before a district listed its streets' communities).
///   A street that announces fewer (one moved away) is taken at that.
/// - Nobody claims the parent itself, nor an owner another child holds (`held`: each
///   child's subtree as last accepted, kept across restarts): a community changes
///   street when its old street lets it go (restarted with `--forget`), never because
///   another street says so. Until then the new street's Hello is refused whole, so
///   nothing it sends for the community is taken and then lost.
pub fn accepted_subtree(
    parent: (&str, Tier),
    child: &NodeId,
    hello: &Hello,
    allowed: Option<&BTreeSet<String>>,
    held: &BTreeMap<String, BTreeSet<String>>,
) -> Result<BTreeSet<String>, String> {
    let (me, tier) = parent;
    let Some(expected) = tier.below() else {
        return Err(format!("`{me}` is a {tier}: it has no children, and `{child}` is none"));
    };
    if hello.tier != expected {
        return Err(format!(
            "`{child}` says it is a {}, but `{me}` takes its children for {}: Hello refused",
            hello.tier,
            expected.plural()
        ));
    }
    let claimed = hello.subtree.iter().filter(|owner| *owner != child.as_str());
    if claimed.clone().any(|owner| owner == me) {
        return Err(format!("`{child}` claims `{me}` below it, but that is its parent: Hello refused"));
    }
    let holder =
        |owner: &String| held.iter().find(|(other, owners)| other.as_str() != child.as_str() && owners.contains(owner));
    if let Some((owner, (other, _))) = claimed.clone().find_map(|owner| holder(owner).map(|h| (owner, h))) {
        return Err(format!(
            "`{child}` claims `{owner}`, which `{other}` holds: a community changes street when its old street \
             lets it go (restarted with `--forget {owner}`): Hello refused"
        ));
    }
    let refused: Vec<&String> = match (expected.is_leaf(), allowed) {
        (true, _) => claimed.collect(),
        (_, Some(allowed)) => claimed.filter(|owner| !allowed.contains(*owner)).collect(),
        (_, None) => Vec::new(),
    };
    if let Some(first) = refused.first() {
        let whose = match expected.is_leaf() {
            true => format!("a {expected}'s subtree is itself"),
            false => format!("`{me}`'s config does not put it under `{child}`"),
        };
        return Err(format!(
            "`{child}` claims `{first}` ({} claim(s) in all) below it, but {whose}: Hello refused",
            refused.len()
        ));
    }
    let mut owners = hello.subtree.clone();
    owners.insert(child.to_string());
    Ok(owners)
}

/// What taking a child's subtree changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The meta entries to persist *before* the routes are used (they must survive a
    /// restart while the child is away); empty when nothing changed.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Whether this node's own subtree changed (a district took a street's new
    /// communities): its parent took that subtree from this node's last Hello, so the
    /// uplink must start a new session to announce it, or the parent refuses the
    /// newcomers' changes. The server and the simulator both act on this.
    pub subtree_changed: bool,
}

impl Routes {
    /// Takes `child`'s subtree, as [`accepted_subtree`] checked it: see [`Accepted`].
    ///
    /// An owner the child no longer announces, and no other child holds, counts as
    /// left ([`LEFT_META`]) until a child announces it: a community between its old
    /// street and its new one is no broadcast, or this node would ship its documents
    /// to every child (the old street among them) in the meantime.
    pub fn accept(&mut self, child: &NodeId, subtree: BTreeSet<String>) -> Accepted {
        if self.children.get(child.as_str()) == Some(&subtree) {
            return Accepted::default();
        }
        let subtree_before = self.subtree();
        let mut entries = vec![(subtree_meta_name(child.as_str()), encode_owners(&subtree))];
        let before = self.children.insert(child.to_string(), subtree.clone()).unwrap_or_default();
        let mut left = self.left.clone();
        for owner in before.difference(&subtree) {
            if !self.below(owner) {
                left.insert(owner.clone());
            }
        }
        left.retain(|owner| !subtree.contains(owner));
        if left != self.left {
            entries.push((LEFT_META.to_string(), encode_owners(&left)));
            self.left = left;
        }
        Accepted { meta: entries, subtree_changed: self.subtree() != subtree_before }
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

    fn hello(tier: Tier, subtree: &[&str]) -> Hello {
        Hello {
            node: id("x"),
            tier,
            log_id: "x.1".into(),
            log_end: 0,
            log_trimmed: 0,
            checkpoint: None,
            subtree: set(subtree),
        }
    }

    #[test]
    fn a_street_is_taken_at_the_communities_the_parent_puts_under_it() {
        let held = BTreeMap::new();
        let allowed = set(&["a", "b", "c"]);
        let accepted =
            accepted_subtree(("d", Tier::District), &id("x"), &hello(Tier::Street, &["a", "b"]), None, &held);
        assert_eq!(accepted, Ok(set(&["a", "b", "x"])), "no list in the district's config: its word");
        let accepted =
            accepted_subtree(("d", Tier::District), &id("x"), &hello(Tier::Street, &["a", "b"]), Some(&allowed), &held);
        assert_eq!(accepted, Ok(set(&["a", "b", "x"])), "fewer than listed: one moved away");
        let refused =
            accepted_subtree(("d", Tier::District), &id("x"), &hello(Tier::Street, &["a", "z"]), Some(&allowed), &held);
        let reason = refused.expect_err("another street's community");
        assert!(reason.contains("`x` claims `z`") && reason.contains("`d`'s config"), "{reason}");
        let mut routes = Routes::new(&id("d"));
        let accepted = routes.accept(&id("x"), set(&["a", "b", "x"]));
        assert_eq!(accepted.meta, vec![(subtree_meta_name("x"), b"a,b,x".to_vec())]);
        assert!(accepted.subtree_changed, "new owners below");
        assert_eq!(routes.accept(&id("x"), set(&["a", "b", "x"])), Accepted::default(), "unchanged");
        // `b` moves to `y`: between the two it is left (no broadcast), then `y`'s.
        let accepted = routes.accept(&id("x"), set(&["a", "x"]));
        assert_eq!(accepted.meta[1], (LEFT_META.to_string(), b"b".to_vec()));
        assert!(accepted.subtree_changed, "`b` is no longer below");
        assert!(!routes.shares_down(&crate::ids::DocId::new("b", "requests", "2026-11").unwrap(), &id("x")));
        let accepted = routes.accept(&id("y"), set(&["b", "y"]));
        assert_eq!(accepted.meta[1], (LEFT_META.to_string(), Vec::new()));
        assert!(accepted.subtree_changed, "`b` and `y` below again");
        assert!(routes.left.is_empty());
    }

    #[test]
    fn a_hello_claiming_another_tier_or_more_than_itself_is_refused_naming_the_claim() {
        let held = BTreeMap::new();
        let street = ("s", Tier::Street);
        let reason =
            accepted_subtree(street, &id("x"), &hello(Tier::Street, &["a"]), None, &held).expect_err("a street");
        assert!(reason.contains("`x` says it is a street") && reason.contains("communities"), "{reason}");
        let reason =
            accepted_subtree(street, &id("x"), &hello(Tier::Community, &["x", "a"]), None, &held).expect_err("more");
        assert!(reason.contains("`x` claims `a`") && reason.contains("a community's subtree is itself"), "{reason}");
        assert_eq!(accepted_subtree(street, &id("x"), &hello(Tier::Community, &["x"]), None, &held), Ok(set(&["x"])));
        let reason = accepted_subtree(("d", Tier::District), &id("x"), &hello(Tier::Community, &[]), None, &held);
        assert!(reason.expect_err("a community under the district").contains("says it is a community"));
    }

    #[test]
    fn a_street_cannot_claim_the_district_nor_a_community_another_street_holds() {
        let district = ("d", Tier::District);
        let held: BTreeMap<String, BTreeSet<String>> =
            [("x".to_string(), set(&["a", "x"])), ("y".to_string(), set(&["b", "y"]))].into();
        let reason = accepted_subtree(district, &id("x"), &hello(Tier::Street, &["a", "b"]), None, &held);
        let reason = reason.expect_err("y holds b");
        assert!(reason.contains("`x` claims `b`, which `y` holds") && reason.contains("--forget b"), "{reason}");
        let reason = accepted_subtree(district, &id("x"), &hello(Tier::Street, &["d"]), None, &held);
        assert!(reason.expect_err("the parent").contains("`x` claims `d`"));
        let reason = accepted_subtree(district, &id("x"), &hello(Tier::Street, &["y"]), None, &held);
        assert!(reason.expect_err("another street").contains("which `y` holds"));
        // Its own, and one no one holds (a move once the old street let it go): taken.
        let taken = accepted_subtree(district, &id("x"), &hello(Tier::Street, &["a", "c"]), None, &held);
        assert_eq!(taken, Ok(set(&["a", "c", "x"])));
    }

    #[test]
    fn a_city_takes_its_districts_with_their_streets_and_communities_and_no_street() {
        let held = BTreeMap::new();
        let city = ("sz", Tier::City);
        let district = hello(Tier::District, &["s1", "a", "b"]);
        assert_eq!(accepted_subtree(city, &id("x"), &district, None, &held), Ok(set(&["a", "b", "s1", "x"])));
        let allowed = set(&["s1", "a"]);
        let reason = accepted_subtree(city, &id("x"), &district, Some(&allowed), &held).expect_err("b not listed");
        assert!(reason.contains("`x` claims `b`") && reason.contains("`sz`'s config"), "{reason}");
        let reason = accepted_subtree(city, &id("x"), &hello(Tier::Street, &["a"]), None, &held).expect_err("a street");
        assert!(
            reason.contains("says it is a street") && reason.contains("takes its children for districts"),
            "{reason}"
        );
    }

    #[test]
    fn the_district_writes_everywhere_and_a_street_in_its_communities() {
        assert_eq!(scope(true, "d", &set(&["s"])), Scope::All);
        assert_eq!(scope(false, "s", &set(&["a"])), Scope::Owners(set(&["a", "s"])));
        // A district under a city is no root: it writes where a street does.
        assert_eq!(scope(false, "d", &set(&["s"])), Scope::Owners(set(&["d", "s"])));
    }
}
