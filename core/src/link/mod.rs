//! The link between a child and its parent: what its frames mean, decided without I/O.
//!
//! One long-lived stream per child-parent link carries frames for every document, both
//! ways. Each side ships its own change log ([`crate::store::LogEntry`]) from the
//! checkpoint the peer holds for it, filtered by [`Routes`]; the peer applies a batch
//! and persists it together with its new checkpoint (one synced write), then acks.
//! An idle reconnect therefore costs one exchange of [`Hello`]s, whatever the number
//! of documents.
//!
//! Checkpoints name the log they refer to (`log_id`, new for every store) and the
//! entry they stop at (its [`LogEntry::fingerprint`]). When a checkpoint names another
//! log, or points past the end of the peer's log, one side lost state it had
//! acknowledged (a wiped disk, a restored backup): [`resume`] asks for repair,
//! Automerge's sync protocol per document, on top of the fast path. When it names an
//! entry of this node's log past its end, or one the log holds otherwise, this node's
//! store was put back to a backup (and may have written on under the same numbers):
//! it takes a new log identity ([`Action::RenewLog`]), so that every peer repairs on
//! its next connect instead of resuming past entries it never saw, or lowering its
//! checkpoint to an end that looks true again after a second restore.
//!
//! Everything a link decides is in [`Session`]: the runtime (`linli-node`'s tokio pump,
//! or the simulator's network) only moves frames, reads the log and calls the engine.
//! [`tree`] builds the routes and scope of a node; [`LinkLimits`] bounds a link.

mod coalesce;
pub mod durable;
pub mod limits;
mod routes;
pub mod session;
pub mod tree;
pub mod trim;

pub use coalesce::coalesce;
pub use limits::LinkLimits;
pub use routes::Routes;
pub use session::{Action, PeerIs, Progress, Session};
pub use trim::{PeerHold, trim_through};

use crate::ids::{DocId, NodeId};
use crate::store::LogEntry;
use std::collections::BTreeSet;

/// Where a node sits in the tree: its height above the leaves (a community is 0, a
/// street 1, a district 2, a city 3). A tree is a chain of tiers of any depth up to
/// [`TIERS_MAX`]; which node is the root is the tree's business (the node without a
/// parent), not its tier's: a district is the root of a district's tree and the child
/// of a city in a city's. Code asks [`Tier::is_leaf`], [`Tier::below`] and
/// [`Tier::above`], never which name a tier has.
///
/// Written by name (`community`, `street`, `district`, `city`, then `tier-4` and up) in
/// config files, environment variables and flags; on the wire as its height plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tier(u8);

/// Tiers a tree may have: the root's watermarks travel down at most
/// [`limits::TIERS_ABOVE_MAX`] tiers above a parent.
pub const TIERS_MAX: usize = limits::TIERS_ABOVE_MAX + 2;

/// The names of the tiers, from the leaves up. The first four are the tiers of a
/// Chinese city's community governance; past them a tier is named by its height.
pub const TIER_NAMES: [&str; TIERS_MAX] =
    ["community", "street", "district", "city", "tier-4", "tier-5", "tier-6", "tier-7", "tier-8", "tier-9"];

// The tiers of the default chain keep the names of the enum they replace, so that a
// match on them reads as before and code outside the link module did not change.
#[allow(non_upper_case_globals)]
impl Tier {
    /// The leaves: the communities, where residents' records are written.
    pub const Community: Tier = Tier(0);
    pub const Street: Tier = Tier(1);
    pub const District: Tier = Tier(2);
    pub const City: Tier = Tier(3);
}

impl Tier {
    /// The lowest tier that may be the root of a tree: a district's tree (the one
    /// linli began with) has its district on top; a street or a community alone is no
    /// tree to coordinate.
    pub const LOWEST_ROOT: Tier = Tier::District;

    /// The tier `height` above the leaves; `None` past [`TIERS_MAX`].
    pub fn at_height(height: usize) -> Option<Tier> {
        u8::try_from(height).ok().filter(|_| height < TIERS_MAX).map(Tier)
    }

    /// How many tiers are below this one.
    pub fn height(self) -> usize {
        usize::from(self.0)
    }

    pub fn is_leaf(self) -> bool {
        self.0 == 0
    }

    /// The tier of this one's children; `None` for the leaves.
    pub fn below(self) -> Option<Tier> {
        self.0.checked_sub(1).map(Tier)
    }

    /// The tier of this one's parent; `None` at [`TIERS_MAX`].
    pub fn above(self) -> Option<Tier> {
        Tier::at_height(self.height() + 1)
    }

    pub fn as_str(self) -> &'static str {
        TIER_NAMES[self.height()]
    }

    /// The plural, for messages about a node's children.
    pub fn plural(self) -> String {
        match self.as_str() {
            "community" => "communities".to_string(),
            "city" => "cities".to_string(),
            name => format!("{name}s"),
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier '{0}': expected community, street, district or city (or tier-4 .. tier-9 above them)")]
pub struct UnknownTier(pub String);

impl std::str::FromStr for Tier {
    type Err = UnknownTier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let height = TIER_NAMES.iter().position(|name| *name == s).ok_or_else(|| UnknownTier(s.to_string()))?;
        Tier::at_height(height).ok_or_else(|| UnknownTier(s.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for Tier {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// How far one node has durably applied another's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The peer's log identity.
    pub log_id: String,
    /// The peer's last log sequence number applied (or skipped as not for us).
    pub through: u64,
    /// The [`LogEntry::fingerprint`] of entry `through` of the peer's log, as the peer
    /// sent it; 0 when unknown (nothing applied yet, or a checkpoint stored before
    /// fingerprints were kept), and then not checked.
    pub fingerprint: u64,
}

/// Marks the stored form that carries a fingerprint: never the first byte of a UTF-8
/// log identity, which is all that followed `through` before.
const FINGERPRINT_MARK: u8 = 0xff;

impl Checkpoint {
    /// The name it is stored under ([`crate::store::StoreBatch::meta`]).
    pub fn meta_name(peer: &NodeId) -> String {
        format!("checkpoint/{peer}")
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.through.to_be_bytes().to_vec();
        out.push(FINGERPRINT_MARK);
        out.extend_from_slice(&self.fingerprint.to_be_bytes());
        out.extend_from_slice(self.log_id.as_bytes());
        out
    }

    /// `None` for bytes that are not a checkpoint: the link then starts from zero,
    /// which costs a full resend but loses nothing.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (through, rest) = bytes.split_at_checked(8)?;
        let through = u64::from_be_bytes(through.try_into().ok()?);
        let (fingerprint, log_id) = match rest.split_first() {
            Some((&FINGERPRINT_MARK, rest)) => {
                let (fingerprint, log_id) = rest.split_at_checked(8)?;
                (u64::from_be_bytes(fingerprint.try_into().ok()?), log_id)
            }
            _ => (0, rest),
        };
        Some(Self { log_id: String::from_utf8(log_id.to_vec()).ok()?, through, fingerprint })
    }
}

/// The first frame each side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub node: NodeId,
    pub tier: Tier,
    /// The sender's log identity and its last sequence number.
    pub log_id: String,
    pub log_end: u64,
    /// The highest seq trimmed from the sender's log (0: none): a peer whose
    /// checkpoint is below it is repaired instead of resumed ([`trim`]).
    pub log_trimmed: u64,
    /// What the sender holds of the peer's log, if anything.
    pub checkpoint: Option<Checkpoint>,
    /// Owners of the documents in the sender's subtree (itself included). A parent
    /// scopes what it accepts from this child by it.
    pub subtree: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    /// Entries of the sender's log; the batch covers the log through `through`,
    /// entries not meant for the receiver included (they are skipped, not sent).
    Batch {
        entries: Vec<LogEntry>,
        through: u64,
        /// [`LogEntry::fingerprint`] of entry `through` (shipped or skipped); 0 when
        /// the sender does not know it.
        fingerprint: u64,
    },
    /// The receiver has durably applied the sender's log through `through`. From a
    /// parent, `above` says how far the child's log is durable at the tiers above it
    /// ([`durable`]): `above[0]` at the parent's parent, and so on up; at most
    /// [`limits::TIERS_ABOVE_MAX`]. Empty from a child or from the root.
    Ack {
        through: u64,
        above: Vec<u64>,
    },
    /// A log entry the receiver would not apply, and why. The link goes on.
    Refusal {
        seq: u64,
        doc: String,
        reason: String,
    },
    /// A message of Automerge's sync protocol for one document (repair path).
    Sync {
        doc: DocId,
        message: Vec<u8>,
    },
}

/// What a link does after the Hellos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Ship this node's log after this sequence number.
    pub send_after: u64,
    /// Checkpoints disagree with what a side holds: run the sync protocol on every
    /// shared document.
    pub repair: bool,
    /// This node lost what it had acknowledged of the link (a wiped disk, a restored
    /// backup, a child it forgot): as a parent, it takes back from the child in the
    /// repair what it had sent it (broadcasts), not only the child's subtree.
    pub i_lost: bool,
    /// The peer lost it: as a child, this node syncs up everything it holds (the
    /// parent's broadcasts too), not only its own subtree.
    pub peer_lost: bool,
}

/// The entry of this node's log that the peer's checkpoint names, when it names this
/// log and one of its entries: the runtime reads it and hands it to [`Session::start`],
/// which checks the checkpoint's fingerprint against it.
pub fn named_seq(mine: &Hello, theirs: &Hello) -> Option<u64> {
    theirs
        .checkpoint
        .as_ref()
        .filter(|cp| cp.log_id == mine.log_id && cp.through > mine.log_trimmed)
        .map(|cp| cp.through)
}

/// Whether this node's store went back in time under the peer's feet, so that it
/// would write other entries under numbers the peer acknowledged: the peer's
/// checkpoint names this log and an entry past its end (the store was put back to a
/// backup), or an entry this log holds otherwise (`named`: its entry at the peer's
/// checkpoint, read by the runtime, `None` when its log has no such entry; the store
/// was put back and wrote on). Either way the log takes a new identity
/// ([`Action::RenewLog`]): a checkpoint of the old one would otherwise be lowered to
/// the restored end by the next batch and look true again, and a second restore to
/// the same backup would then resume past what the peer held and this node lost.
/// A checkpoint without a fingerprint, or naming a trimmed entry, is checked against
/// the log's end only.
pub fn log_diverged(mine: &Hello, theirs: &Hello, named: Option<&LogEntry>) -> bool {
    let Some(cp) = theirs.checkpoint.as_ref() else { return false };
    if cp.log_id != mine.log_id || cp.through == 0 {
        return false;
    }
    if cp.through > mine.log_end {
        return true;
    }
    if cp.through <= mine.log_trimmed || cp.fingerprint == 0 {
        return false;
    }
    named.filter(|entry| entry.seq == cp.through).map(LogEntry::fingerprint) != Some(cp.fingerprint)
}

/// Decides from both Hellos where shipping resumes and whether to repair. Both sides
/// reach the same `repair`: each checks the other's claims about itself and its own
/// claims about the other.
pub fn resume(mine: &Hello, theirs: &Hello) -> Resume {
    // The peer's checkpoint of my log is good if it names this log and not beyond it.
    let their_view_of_me_holds = |cp: &Checkpoint| cp.log_id == mine.log_id && cp.through <= mine.log_end;
    let my_view_of_them_holds = |cp: &Checkpoint| cp.log_id == theirs.log_id && cp.through <= theirs.log_end;
    let resumes_at = theirs.checkpoint.as_ref().filter(|cp| their_view_of_me_holds(cp)).map_or(0, |cp| cp.through);
    let i_apply_from = mine.checkpoint.as_ref().filter(|cp| my_view_of_them_holds(cp)).map_or(0, |cp| cp.through);
    // A log trimmed past a side's checkpoint: the entries between are gone, repair
    // brings what they held and shipping resumes at the trimmed point. Each side sees
    // both gaps, so both decide alike.
    let trimmed_gap = resumes_at < mine.log_trimmed || i_apply_from < theirs.log_trimmed;
    let send_after = resumes_at.max(mine.log_trimmed);
    // One side knows the other and the other holds no checkpoint of it: that side
    // forgot the link (a child that moved away and came back, a wiped disk). What it
    // forgot includes its own changes to the child's documents, which the child's log
    // does not ship back to where they came from: only repair brings them back.
    let i_forgot = mine.checkpoint.is_none() && theirs.checkpoint.is_some();
    let they_forgot = theirs.checkpoint.is_none() && mine.checkpoint.is_some();
    let i_lost = theirs.checkpoint.as_ref().is_some_and(|cp| !their_view_of_me_holds(cp)) || i_forgot;
    let peer_lost = mine.checkpoint.as_ref().is_some_and(|cp| !my_view_of_them_holds(cp)) || they_forgot;
    Resume { send_after, repair: i_lost || peer_lost || trimmed_gap, i_lost, peer_lost }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(node: &str, log_id: &str, log_end: u64, checkpoint: Option<(&str, u64)>) -> Hello {
        Hello {
            node: NodeId::new(node).unwrap(),
            tier: Tier::Community,
            log_id: log_id.into(),
            log_end,
            log_trimmed: 0,
            checkpoint: checkpoint.map(|(log_id, through)| Checkpoint {
                log_id: log_id.into(),
                through,
                fingerprint: 0,
            }),
            subtree: BTreeSet::new(),
        }
    }

    #[test]
    fn tiers_are_a_chain_named_from_the_leaves_up() {
        assert_eq!("city".parse(), Ok(Tier::City));
        assert_eq!(Tier::City.below(), Some(Tier::District));
        assert_eq!(Tier::District.above(), Some(Tier::City));
        assert_eq!(Tier::Community.below(), None);
        assert!(Tier::Community.is_leaf() && !Tier::Street.is_leaf());
        let top = Tier::at_height(TIERS_MAX - 1).expect("the highest tier");
        assert_eq!((top.as_str(), top.above()), ("tier-9", None));
        assert_eq!(top.as_str().parse(), Ok(top));
        assert_eq!(Tier::at_height(TIERS_MAX), None);
        let err = "town".parse::<Tier>().expect_err("no such tier").to_string();
        assert!(err.contains("'town'") && err.contains("city"), "{err}");
        assert_eq!((Tier::City.plural(), Tier::Community.plural()), ("cities".to_string(), "communities".to_string()));
    }

    #[test]
    fn a_known_peer_resumes_from_its_checkpoint_without_repair() {
        let child = hello("c", "c.1", 50, Some(("s.1", 30)));
        let street = hello("s", "s.1", 40, Some(("c.1", 45)));
        assert_eq!(resume(&child, &street), Resume { send_after: 45, repair: false, i_lost: false, peer_lost: false });
        assert_eq!(resume(&street, &child), Resume { send_after: 30, repair: false, i_lost: false, peer_lost: false });
    }

    #[test]
    fn first_contact_ships_everything_without_repair() {
        let child = hello("c", "c.1", 50, None);
        let street = hello("s", "s.1", 40, None);
        assert_eq!(resume(&child, &street), Resume { send_after: 0, repair: false, i_lost: false, peer_lost: false });
    }

    #[test]
    fn a_wiped_side_is_repaired_from_both_ends() {
        // The street lost its disk: a new log, no checkpoint; the child knew the old log.
        let child = hello("c", "c.1", 50, Some(("s.1", 30)));
        let street = hello("s", "s.2", 0, None);
        assert_eq!(resume(&child, &street), Resume { send_after: 0, repair: true, i_lost: false, peer_lost: true });
        assert_eq!(resume(&street, &child), Resume { send_after: 0, repair: true, i_lost: true, peer_lost: false });
    }

    #[test]
    fn a_restored_backup_is_repaired_and_resent() {
        // The child went back to an older backup: its log ends before the street's checkpoint.
        let child = hello("c", "c.1", 20, Some(("s.1", 10)));
        let street = hello("s", "s.1", 40, Some(("c.1", 45)));
        assert_eq!(resume(&child, &street), Resume { send_after: 0, repair: true, i_lost: true, peer_lost: false });
        assert_eq!(resume(&street, &child), Resume { send_after: 10, repair: true, i_lost: false, peer_lost: true });
    }

    #[test]
    fn a_side_that_forgot_the_link_is_repaired() {
        // The street forgot a community that moved away (checkpoint deleted); it came
        // back and still holds its checkpoint of the street's log.
        let child = hello("c", "c.1", 50, Some(("s.1", 30)));
        let street = hello("s", "s.1", 40, None);
        assert_eq!(resume(&child, &street), Resume { send_after: 0, repair: true, i_lost: false, peer_lost: true });
        assert_eq!(resume(&street, &child), Resume { send_after: 30, repair: true, i_lost: true, peer_lost: false });
    }

    #[test]
    fn a_checkpoint_below_the_trimmed_log_is_repaired_and_shipping_resumes_at_the_trim() {
        // The street trimmed its log through 100 while the child was away at 30.
        let child = hello("c", "c.1", 50, Some(("s.1", 30)));
        let street = Hello { log_trimmed: 100, ..hello("s", "s.1", 400, Some(("c.1", 50))) };
        let repaired = |send_after| Resume { send_after, repair: true, i_lost: false, peer_lost: false };
        assert_eq!(resume(&street, &child), repaired(100));
        assert_eq!(resume(&child, &street), repaired(50));
        // A checkpoint at or past the trimmed point resumes as before.
        let child = hello("c", "c.1", 50, Some(("s.1", 100)));
        assert_eq!(resume(&street, &child), Resume { send_after: 100, repair: false, i_lost: false, peer_lost: false });
        // A new child of a trimmed log takes everything by repair.
        let child = hello("c", "c.1", 0, None);
        let street = Hello { checkpoint: None, ..street };
        assert_eq!(resume(&street, &child), repaired(100));
        assert_eq!(resume(&child, &street), repaired(0));
        // A checkpoint naming a trimmed entry cannot be checked against it.
        let child = hello("c", "c.1", 50, Some(("s.1", 90)));
        assert_eq!(named_seq(&street, &child), None);
    }

    #[test]
    fn checkpoints_round_trip_and_garbage_is_none() {
        let cp = Checkpoint { log_id: "lg-pingdi.17f".into(), through: 9, fingerprint: 0xfeed };
        assert_eq!(Checkpoint::decode(&cp.encode()), Some(cp));
        assert_eq!(Checkpoint::decode(&[1, 2]), None);
        // As stored before fingerprints: read, with none to check.
        let mut old = 9u64.to_be_bytes().to_vec();
        old.extend_from_slice(b"lg-pingdi.17f");
        let read = Checkpoint::decode(&old).unwrap();
        assert_eq!((read.log_id.as_str(), read.through, read.fingerprint), ("lg-pingdi.17f", 9, 0));
    }

    #[test]
    fn a_checkpoint_naming_an_entry_the_log_holds_otherwise_means_the_log_diverged() {
        let entry = |seq: u64, byte: u8| LogEntry {
            seq,
            doc: DocId::new("c", "requests", "2026-12").unwrap(),
            origin: None,
            changes: vec![vec![byte; 4]],
            traces: Vec::new(),
        };
        let acked = entry(45, 1);
        let mine = hello("c", "c.1", 60, None);
        let mut theirs = hello("s", "s.1", 40, None);
        theirs.checkpoint = Some(Checkpoint { log_id: "c.1".into(), through: 45, fingerprint: acked.fingerprint() });
        assert_eq!(named_seq(&mine, &theirs), Some(45));
        assert!(!log_diverged(&mine, &theirs, Some(&acked)));
        // Restored from a backup that ended at 20, then wrote 21..60 anew.
        assert!(log_diverged(&mine, &theirs, Some(&entry(45, 2))));
        assert!(log_diverged(&mine, &theirs, None));
        // Another log's checkpoint, or one without a fingerprint: not this check's.
        let other = hello("c", "c.2", 60, None);
        assert!(!log_diverged(&other, &theirs, None) && named_seq(&other, &theirs).is_none());
        // Past the end: put back to a backup, not written on yet. Renewed too.
        let short = hello("c", "c.1", 30, None);
        assert!(log_diverged(&short, &theirs, None));
        theirs.checkpoint = Some(Checkpoint { log_id: "c.1".into(), through: 45, fingerprint: 0 });
        assert!(!log_diverged(&mine, &theirs, None));
    }
}
