//! A peer whose clock runs ahead cannot move this node's clock for good: its changes
//! dated past the configured skew are refused with a reason, and this node's next
//! timestamps (and the records it creates) stay in the present.

mod common;

use common::*;
use linli_core::Error;
use linli_core::ids::NodeId;
use linli_core::replica::Scope;
use linli_core::store::Storage;
use linli_core::write::Write;

const DAY_MS: u64 = 24 * 3_600_000;

#[test]
fn a_change_dated_past_the_skew_bound_is_refused_and_leaves_the_clock_alone() {
    // The community's clock runs a day ahead (a flat CMOS battery).
    let mut community = community();
    let ahead = community.write(Write::create(COMMUNITY, "requests", &request_fields(0)), NOW_MS + DAY_MS).unwrap();
    let entries = community.store.log_after(0, usize::MAX).unwrap();
    let docs: Vec<_> = entries.into_iter().map(|e| (e.doc, e.changes)).collect();
    let origin = NodeId::new(COMMUNITY).unwrap();

    let mut street = replica("lg-pingdi", Scope::only(COMMUNITY));
    let results = street.apply(&origin, docs.clone(), NOW_MS).unwrap();
    let [(_, Err(refused))] = results.as_slice() else { panic!("expected one refusal, got {results:?}") };
    assert!(matches!(refused, Error::ClockAhead { .. }), "{refused}");
    assert!(!refused.may_pass(), "a change from the future is refused for good, with a Refusal");
    let reason = refused.to_string();
    assert!(reason.contains("clock_skew_ms_max") && reason.contains("runs ahead"), "{reason}");
    assert!(street.replica.get(&street.store, &ahead.key).unwrap().is_none(), "the refused change was applied");

    // The street's own next write is stamped now, not a day ahead.
    let own = street.write(Write::create(COMMUNITY, "requests", &request_fields(1)), NOW_MS).unwrap();
    assert!(own.at.wall_ms() < NOW_MS + 1_000, "the street's clock moved to {} ms", own.at.wall_ms());

    // Once this node's clock is within the bound of the change, it applies.
    let results = street.apply(&origin, docs, NOW_MS + DAY_MS - 60_000).unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    assert!(street.replica.get(&street.store, &ahead.key).unwrap().is_some());
}
