//! A city's tree: districts between the top and the streets. Each district is drawn
//! as a district's tree of its own counts (its streets and communities, sizes for a
//! seed of its own), then hung under the city; weights are then taken against the
//! whole city's mean community, so that a city's load is spread as its people are.

use super::{Rng, SimError, Topology};
use serde::Serialize;

/// A district under a city: its id and its streets' ids.
#[derive(Debug, Clone, Serialize)]
pub struct District {
    pub id: String,
    pub streets: Vec<String>,
}

/// A district of a city preset: (id, streets, communities).
pub type DistrictCounts = (&'static str, usize, usize);

/// Shenzhen's ten districts (Dapeng, a new district, among them), with their streets
/// and, as near as the published counts go, their communities: 74 streets and 680
/// communities in all. Luohu, Longgang and Longhua have the counts of their own
/// presets.
const SHENZHEN: [DistrictCounts; 10] = [
    ("sz-futian", 10, 92),
    ("sz-luohu", 10, 83),
    ("sz-yantian", 4, 23),
    ("sz-nanshan", 8, 105),
    ("sz-baoan", 10, 137),
    ("sz-longgang", 11, 111),
    ("sz-longhua", 6, 50),
    ("sz-pingshan", 6, 23),
    ("sz-guangming", 6, 31),
    ("sz-dapeng", 3, 25),
];

/// The city trees: (name, city id, its districts).
pub const CITY_PRESETS: [(&str, &str, &[DistrictCounts]); 1] = [("shenzhen", "sz", &SHENZHEN)];

impl Topology {
    /// A city `city` over `districts`, sizes drawn for `seed`.
    pub fn city(name: &str, city: &str, districts: &[DistrictCounts], seed: u64) -> Result<Self, SimError> {
        if districts.is_empty() {
            return Err(SimError::BadTopology { reason: format!("city {city} has no district") });
        }
        let nodes = 1 + districts.iter().map(|(_, streets, communities)| 1 + streets + communities).sum::<usize>();
        if nodes > super::NODES_MAX {
            return Err(SimError::BadTopology {
                reason: format!("{nodes} nodes is more than the {} one run can hold", super::NODES_MAX),
            });
        }
        let seeds = Rng::new(seed).fork("city");
        let mut tree =
            Topology { name: name.to_string(), top: city.to_string(), districts: Vec::new(), streets: Vec::new() };
        for (id, streets, communities) in districts {
            let drawn = Topology::sized(name, id, *streets, *communities, seeds.fork(id).next_u64())?;
            tree.districts
                .push(District { id: id.to_string(), streets: drawn.streets.iter().map(|s| s.id.clone()).collect() });
            tree.streets.extend(drawn.streets);
        }
        let count = tree.community_count() as f64;
        let mean = tree.communities().map(|c| f64::from(c.people)).sum::<f64>() / count;
        for community in tree.streets.iter_mut().flat_map(|s| s.communities.iter_mut()) {
            community.weight = f64::from(community.people) / mean;
        }
        tree.check_ids()?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::link::Tier;

    #[test]
    fn shenzhen_is_a_city_of_ten_districts_with_the_real_counts() {
        let tree = Topology::preset("shenzhen", 1).expect("preset");
        assert_eq!((tree.top.as_str(), tree.top_tier()), ("sz", Tier::City));
        assert_eq!((tree.districts.len(), tree.streets.len(), tree.community_count()), (10, 74, 680));
        assert_eq!(tree.node_count(), 1 + 10 + 74 + 680);
        let longgang = tree.districts.iter().find(|d| d.id == "sz-longgang").expect("Longgang");
        assert_eq!(longgang.streets.len(), 11);
        let street = &longgang.streets[0];
        assert_eq!(tree.parent_of_street(street), "sz-longgang");
        let community = tree.streets.iter().find(|s| &s.id == street).expect("its street").communities[0].id.clone();
        assert_eq!(tree.ancestors(&community), [street.as_str(), "sz-longgang", "sz"]);
        let mean = tree.communities().map(|c| c.weight).sum::<f64>() / 680.0;
        assert!((mean - 1.0).abs() < 1e-9, "weights against the city's mean: {mean}");
    }

    #[test]
    fn a_citys_coordinators_link_each_tier_to_the_one_above() {
        let tree = Topology::city("t", "c", &[("c-a", 2, 3), ("c-b", 1, 1)], 4).expect("city");
        let coordinators = tree.coordinators();
        assert_eq!(coordinators.len(), 1 + 2 + 3);
        assert_eq!((coordinators[0].tier, &coordinators[0].children), (Tier::City, &vec!["c-a".into(), "c-b".into()]));
        assert!(coordinators.iter().filter(|c| c.tier == Tier::District).all(|c| c.parent.as_deref() == Some("c")));
        for street in coordinators.iter().filter(|c| c.tier == Tier::Street) {
            let district = tree.districts.iter().find(|d| d.streets.contains(&street.id)).expect("its district");
            assert_eq!(street.parent.as_deref(), Some(district.id.as_str()));
        }
        assert_eq!(tree.edges().len(), tree.node_count() - 1, "every node but the top has one parent");
        let err = Topology::city("t", "c", &[], 4).expect_err("no district").to_string();
        assert!(err.contains("no district"), "{err}");
    }
}
