//! The checks of the tier a city adds: what the city holds is what its districts hold,
//! added up, and no district counts another's communities. A city aggregates with the
//! same engine and views as a district, so the views' own checks (a recount at every
//! node, the ledger at the top) hold for it already; these check the tier between.

use super::{Check, Inspect, diff_views};
use crate::error::SimError;
use crate::topology::Topology;
use linli_core::views::Views;
use std::collections::BTreeSet;

pub async fn districts_add_up(nodes: &impl Inspect, topology: &Topology) -> Result<Vec<Check>, SimError> {
    let (city, _) =
        nodes.views_and_recount(&topology.top).await?.ok_or_else(|| SimError::NoNode { node: topology.top.clone() })?;
    let mut sum = Views::default();
    let mut foreign = Vec::new();
    let mut unmatched = Vec::new();
    for district in &topology.districts {
        let Some((views, _)) = nodes.views_and_recount(&district.id).await? else {
            unmatched.push(format!("{} is down", district.id));
            continue;
        };
        let subtree = subtree(topology, &district.id);
        let own = |owner: &str| subtree.contains(owner);
        let counted: BTreeSet<&str> = views.counts.keys().map(|k| k.community.as_str()).collect();
        let outside = counted.iter().filter(|owner| !own(owner) && **owner != topology.top);
        foreign.extend(outside.map(|other| format!("{} counts {other}", district.id)));
        add_owned(&mut sum, &views, own);
    }
    // The city's own entries (its broadcast) are no district's: it adds them itself.
    add_owned(&mut sum, &city, |owner| owner == topology.top);
    unmatched.extend(diff_views(&city, &sum).into_iter().map(|d| format!("city vs its districts: {d}")));
    let compared = city.counts.len() + city.sums.len() + city.open_by_deadline.len();
    let districts = topology.districts.len();
    Ok(vec![
        Check::from_problems("districts count only their streets' communities", districts, "districts", foreign),
        Check::from_problems("the city's views are the sum of its districts'", compared, "view entries", unmatched),
    ])
}

/// The owners below `district`, itself included.
fn subtree(topology: &Topology, district: &str) -> BTreeSet<String> {
    let mut owners = BTreeSet::from([district.to_string()]);
    for street in topology.streets.iter().filter(|s| topology.parent_of_street(&s.id) == district) {
        owners.insert(street.id.clone());
        owners.extend(street.communities.iter().map(|c| c.id.clone()));
    }
    owners
}

/// Adds to `sum` the entries of `views` whose owner `own` says is this node's.
fn add_owned(sum: &mut Views, views: &Views, own: impl Fn(&str) -> bool) {
    for (key, count) in views.counts.iter().filter(|(k, _)| own(&k.community)) {
        sum.counts.insert(key.clone(), *count);
    }
    for (key, total) in views.sums.iter().filter(|(k, _)| own(&k.community)) {
        sum.sums.insert(key.clone(), *total);
    }
    let open = views.open_by_deadline.iter().filter(|(_, record)| own(record.split('/').next().unwrap_or_default()));
    sum.open_by_deadline.extend(open.cloned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::views::CountKey;

    fn count(community: &str, n: i64) -> (CountKey, i64) {
        let key = CountKey {
            community: community.into(),
            registry: "requests".into(),
            status: "open".into(),
            category: "other".into(),
        };
        (key, n)
    }

    #[test]
    fn only_a_districts_own_entries_add_to_the_sum() {
        let mut district = Views::default();
        district.counts.extend([count("a", 2), count("c", 5), count("b", 1)]);
        district.open_by_deadline.insert((9, "a/requests/2026-11/r1".into()));
        district.open_by_deadline.insert((9, "c/requests/2026-11/r2".into()));
        let mut sum = Views::default();
        add_owned(&mut sum, &district, |owner| owner == "a" || owner == "b");
        assert_eq!(sum.counts.len(), 2, "c is not the district's");
        assert_eq!(sum.open_by_deadline.len(), 1);
        let mut city = sum.clone();
        assert!(diff_views(&city, &sum).is_empty());
        city.counts.extend([count("a", 3)]);
        assert_eq!(diff_views(&city, &sum).len(), 1, "a count the district does not hold");
    }
}
