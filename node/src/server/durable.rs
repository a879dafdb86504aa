//! "Where is my write?": waiting for a write to be durable at a tier above, and
//! locating a record's latest change along the tree, from the watermarks the parents'
//! Acks bring down ([`crate::link::durability`]).

use crate::link::{LinkStatus, Shared};
use linli_core::ids::RecordKey;
use linli_core::link::Tier;
use linli_core::store::Storage;
use linli_proto::v1;
use std::time::Duration;
use tonic::Status;

/// The tiers above this node, nearest first: as many as its parent's acks report
/// levels for (the parent, and each tier above it, up to the root), and at least the
/// parent's before the first ack. A node knows its place in the chain from its own
/// tier and how far up the tree goes from its parent's word.
fn above(shared: &Shared, levels: &[u64]) -> Vec<Tier> {
    let known = levels.len().max(usize::from(shared.has_parent));
    (1..=known).map_while(|up| Tier::at_height(shared.tier.height() + up)).collect()
}

fn wire(tier: Tier) -> i32 {
    linli_proto::convert::tier_to_wire(tier)
}

/// The link to this node's parent, as it stands now.
fn parent_link(shared: &Shared) -> Option<(String, LinkStatus)> {
    shared.links.all().into_iter().find(|(_, status)| status.parent)
}

fn when(ms: u64) -> String {
    let age_s = crate::link::status::now_ms().saturating_sub(ms) / 1000;
    format!("{age_s} s ago")
}

/// Where log entry `seq` of this node waits on its way up, in words; `None` once every
/// tier above holds it.
fn waits_on(shared: &Shared, seq: u64, levels: &[u64]) -> Option<String> {
    let me = shared.engine.node();
    let tiers = above(shared, levels);
    let first_missing = tiers.iter().enumerate().find(|(level, _)| levels.get(*level).is_none_or(|d| *d < seq))?;
    let (level, tier) = first_missing;
    Some(match (level, parent_link(shared)) {
        (_, None) => format!("no link from `{me}` to its {tier} has come up since this node started"),
        (0, Some((parent, status))) if !status.connected => format!(
            "the link from `{me}` to its {tier} `{parent}`, down since its last frame {}",
            when(status.last_contact_ms)
        ),
        (0, Some((parent, _))) => format!("the {tier} `{parent}` to acknowledge it (the link from `{me}` is up)"),
        (_, Some((parent, status))) => {
            let below = tiers[level - 1];
            let since = status.acked_since_ms(seq).map(|ms| format!(", which holds it since {}", when(ms)));
            format!("the link from the {below} `{parent}` up to the {tier}{}", since.unwrap_or_default())
        }
    })
}

/// Refuses, before anything is written, to wait for a tier above the top of the tree:
/// the root has nothing above it. Below the root, how far up the tree goes is what
/// the parent's acks say, and they say less while a tier above restarts: a wait for a
/// tier they do not report times out and says so, it is never refused on their word.
pub fn check_reachable(shared: &Shared, at: Tier) -> Result<(), Status> {
    if at <= shared.tier || shared.has_parent {
        return Ok(());
    }
    let me = shared.engine.node();
    let problem = format!("`{me}` is the top of its tree, a {}: there is no {at} above it", shared.tier);
    Err(Status::invalid_argument(problem))
}

/// Waits until log entry `seq` of this node is durable at `at`, at most `wait_ms`.
pub async fn until_durable(shared: &Shared, seq: u64, at: Tier, wait_ms: u64) -> Result<(), Status> {
    if at <= shared.tier {
        return Ok(());
    }
    let level = at.height() - shared.tier.height() - 1;
    let mut levels = shared.durability.levels();
    let reached = |levels: &Vec<u64>| levels.get(level).is_some_and(|durable| *durable >= seq);
    let waited = tokio::time::timeout(Duration::from_millis(wait_ms), levels.wait_for(reached)).await;
    if matches!(waited, Ok(Ok(_))) {
        return Ok(());
    }
    let levels = shared.durability.current();
    let waiting = waits_on(shared, seq, &levels).unwrap_or_else(|| match above(shared, &levels).last() {
        Some(top) if *top < at => format!("a {at} its acks have never named: the tiers above reach the {top}"),
        _ => "nothing".into(),
    });
    Err(Status::deadline_exceeded(format!(
        "the write is durable at `{}` (log entry {seq}) and is shipped when the link allows; not durable at the \
         {at} within {wait_ms} ms: it waits on {waiting}",
        shared.engine.node()
    )))
}

/// Where the latest change of `key`'s document is durable: here, and each tier above.
pub async fn locate(shared: &Shared, key: RecordKey) -> Result<v1::WhereReply, Status> {
    let node = shared.engine.node().to_string();
    let store = shared.engine.store().map_err(super::status)?;
    let doc = key.doc.clone();
    let stored = tokio::task::spawn_blocking(move || store.load_doc(&doc))
        .await
        .map_err(|e| Status::internal(format!("reading the document: {e}")))?
        .map_err(|e| super::status(e.into()))?;
    let holds = shared.engine.get_async(key).await.map_err(super::status)?.is_some();
    let seq = stored
        .filter(|_| holds)
        .and_then(|stored| stored.chunks.last().map(|(seq, _)| *seq).or(stored.snapshot.as_ref().map(|(seq, _)| *seq)));
    let Some(seq) = seq else {
        return Ok(v1::WhereReply {
            node: node.clone(),
            seq: None,
            tiers: Vec::new(),
            waits_on: format!("`{node}` does not hold the record: ask at its community"),
        });
    };
    let levels = shared.durability.current();
    let parent = parent_link(shared);
    let mut tiers = vec![v1::TierHold { tier: wire(shared.tier), node: node.clone(), durable: true, since_ms: None }];
    for (level, tier) in above(shared, &levels).into_iter().enumerate() {
        let durable = levels.get(level).is_some_and(|d| *d >= seq);
        let (name, since_ms) = match (&parent, level) {
            (Some((parent, status)), 0) => (parent.clone(), status.acked_since_ms(seq).filter(|_| durable)),
            _ => (String::new(), None),
        };
        tiers.push(v1::TierHold { tier: wire(tier), node: name, durable, since_ms });
    }
    Ok(v1::WhereReply { node, seq: Some(seq), tiers, waits_on: waits_on(shared, seq, &levels).unwrap_or_default() })
}
