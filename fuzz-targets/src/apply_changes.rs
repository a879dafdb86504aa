//! A peer's changes applied to a replica: the input is Automerge changes (or sync
//! messages) for one document, delivered to the street's engine as a link's `Apply`
//! delivers them ([`Event::Changes`]), or as the repair path does ([`Event::Sync`]).
//!
//! These are the bytes of a log entry, which the session passes on unread: Automerge
//! parses them here, the engine checks their time, merges them, keeps those that wait
//! for dependencies, moves the rows and views, and logs what is new. A change may be
//! refused with an error; a panic is a bug. Whatever it took, the engine must also
//! keep its documented promises, checked at the end: its views equal a recount from
//! the stored documents, and a restart over the store sees the same documents and
//! views as the engine that wrote it (nothing in memory that is not durable).
//!
//! Input: one byte of flags, then pieces (two bytes of length, big-endian, then the
//! bytes; the last cut short by the input's end), at most [`PIECES_MAX`].
//! Flags: bits 0-2 pick the document, bit 3 delivers each piece in its own event
//! (changes that wait across batches), bit 4 delivers them as sync messages.

use crate::fixtures::{self, COMMUNITY, DISTRICT, NOW_MS, OTHER_COMMUNITY, STREET, node};
use crate::reader::Reader;
use linli_core::doc::RegistryDoc;
use linli_core::ids::DocId;
use linli_core::replica::{Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::MemoryStore;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// Pieces of one input: a few changes, a chain to wait and release.
const PIECES_MAX: usize = 16;

/// Applies `data` as a peer's changes to a street's replica; panics only on a bug.
pub fn apply_changes(data: &[u8]) {
    let mut input = Reader::new(data);
    let flags = input.byte();
    let docs = fixtures::docs();
    let doc = docs[usize::from(flags & 7) % docs.len()].clone();
    let mut pieces = Vec::new();
    while !input.is_empty() && pieces.len() < PIECES_MAX {
        pieces.push(input.sized().to_vec());
    }
    let one_by_one = flags & 8 != 0;
    let as_sync = flags & 16 != 0;
    // A district's document comes down from the district; the rest up from a community.
    let origin = node(if doc.owner == DISTRICT { DISTRICT } else { COMMUNITY });

    // From the community, as a street takes it: not under the street's actor nor
    // the other community's (see `doc::admit`); from the district, anything.
    let refused: BTreeSet<String> = match doc.owner == DISTRICT {
        true => BTreeSet::new(),
        false => [STREET, OTHER_COMMUNITY].map(String::from).into(),
    };

    let mut street = open(1, MemoryStore::new());
    let events: Vec<Event> = match (as_sync, one_by_one) {
        (true, _) => std::iter::once(None)
            .chain(pieces.into_iter().map(Some))
            .map(|message| Event::Sync {
                peer: origin.clone(),
                actors_refused: refused.clone(),
                doc: doc.clone(),
                message,
                now_ms: NOW_MS,
            })
            .collect(),
        (false, true) => pieces.into_iter().map(|piece| changes(&origin, &refused, &doc, vec![piece])).collect(),
        (false, false) => vec![changes(&origin, &refused, &doc, pieces)],
    };
    for event in events {
        // An error here is a failed commit; the in-memory store never fails one.
        if let Err(e) = street.step(event) {
            panic!("the memory store refused a batch: {e}");
        }
    }
    check_durable(&mut street, &doc);
}

fn changes(origin: &linli_core::ids::NodeId, refused: &BTreeSet<String>, doc: &DocId, changes: Vec<Vec<u8>>) -> Event {
    let actors_refused = refused.clone();
    let docs = vec![(doc.clone(), changes)];
    Event::Changes {
        origin: origin.clone(),
        actors_refused,
        docs,
        traces: Default::default(),
        meta: Vec::new(),
        now_ms: NOW_MS,
    }
}

/// The street's replica over `store`, started for the `incarnation`th time. It may
/// write its communities' documents and its own.
fn open(incarnation: u64, store: MemoryStore) -> StoredReplica<MemoryStore> {
    static REGISTRIES: OnceLock<Registries> = OnceLock::new();
    let registries = REGISTRIES.get_or_init(|| Registries::defaults().expect("the shipped registries parse"));
    let scope = Scope::Owners([COMMUNITY, OTHER_COMMUNITY, STREET].map(String::from).into());
    let config = ReplicaConfig { incarnation, ..ReplicaConfig::new(node(STREET), scope) };
    StoredReplica::open(config, registries.clone(), store).expect("a replica opens over a memory store")
}

/// What the engine holds in memory is what a restart reads from its store.
fn check_durable(street: &mut StoredReplica<MemoryStore>, doc: &DocId) {
    let StoredReplica { replica, store, .. } = street;
    let recount = replica.recount(store).expect("a recount of a memory store");
    assert_eq!(replica.views(), &recount, "the views differ from a recount of the stored documents");
    let heads = replica.heads(store, doc).expect("the document's heads");
    let mut restarted = open(2, store.clone());
    assert_eq!(restarted.replica.views(), replica.views(), "a restart reads other views");
    let restarted_heads = restarted.replica.heads(&restarted.store, doc).expect("the reloaded document's heads");
    // A document created in memory holds its genesis change, which is never stored
    // alone: the store then holds nothing of it, and a restart reads no heads.
    let schema = replica.registries().get(&doc.registry).expect("a fixture's registry").clone();
    let genesis = RegistryDoc::create(doc.clone(), schema, "genesis").expect("a new document").heads();
    let new_doc = |heads: Vec<_>| if heads == genesis { Vec::new() } else { heads };
    assert_eq!(new_doc(restarted_heads), new_doc(heads), "a restart reads another document");
}
