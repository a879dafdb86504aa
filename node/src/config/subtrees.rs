//! `[subtrees]`: at a district, the communities each street may announce below it (at
//! a city, the streets and communities each district may announce), so that who is
//! below whom comes from the parent's side and not from a child's Hello
//! (`docs/security.md`). From the file only: a list of communities is a
//! deployment's record, not a setting to override per start.
//!
//! ```toml
//! [subtrees]
//! lg-pingdi = ["lg-pingdi-pingdi", "lg-pingdi-fuping"]
//! ```
//!
//! A street listed here is refused a Hello that claims a community not in its list.
//! A street not listed is taken at the communities it announces, unless another
//! street holds one. Moving a community between listed streets is a config change
//! at the district too (and a restart), as it is at the two streets.

use super::{ConfigError, Sourced, Tier, invalid};
use linli_core::ids::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// The table as the file writes it.
pub(super) type SubtreesTable = BTreeMap<String, Vec<String>>;

/// Checks the table against the tier and the children: only a node whose children are
/// coordinators (a district, a city) has one, each key is one of its children, each
/// owner below a valid id listed under one child only.
pub(super) fn build(
    tier: Tier,
    id: &str,
    children: &[String],
    table: Option<Sourced<SubtreesTable>>,
) -> Result<BTreeMap<String, BTreeSet<String>>, ConfigError> {
    let Some(table) = table.filter(|t| !t.value.is_empty()) else { return Ok(BTreeMap::new()) };
    if tier.below().is_none_or(Tier::is_leaf) {
        let problem = format!(
            "only a node whose children are coordinators (a district, a city) lists what is below them; this node \
             is a {tier}"
        );
        return Err(invalid("subtrees", &table.source, problem));
    }
    let mut under: BTreeMap<&str, &str> = BTreeMap::new();
    let mut subtrees = BTreeMap::new();
    for (street, communities) in &table.value {
        let key = format!("subtrees.{street}");
        let bad = |problem: String| invalid(&key, &table.source, problem);
        if !children.contains(street) {
            return Err(bad(format!("'{street}' is not among the children {children:?}")));
        }
        let mut listed = BTreeSet::new();
        for community in communities {
            NodeId::new(community).map_err(|e| bad(e.to_string()))?;
            if community == id || children.contains(community) {
                return Err(bad(format!("'{community}' is this {tier} or one of its children, not below one")));
            }
            if let Some(other) = under.insert(community, street) {
                return Err(bad(format!("'{community}' is listed under '{other}' too")));
            }
            listed.insert(community.clone());
        }
        subtrees.insert(street.clone(), listed);
    }
    Ok(subtrees)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &[&str])]) -> Option<Sourced<SubtreesTable>> {
        let value = entries.iter().map(|(s, c)| (s.to_string(), c.iter().map(|c| c.to_string()).collect())).collect();
        Some(Sourced { value, source: "file d.toml".into() })
    }

    #[test]
    fn a_district_lists_its_streets_communities_and_a_bad_list_names_the_key() {
        let streets = ["s1".to_string(), "s2".to_string()];
        let built = build(Tier::District, "d", &streets, table(&[("s1", &["a", "b"])])).expect("valid");
        assert_eq!(built.get("s1"), Some(&BTreeSet::from(["a".to_string(), "b".to_string()])));
        for (entries, says) in [
            (&[("s9", &["a"][..])][..], "`subtrees.s9`"),
            (&[("s1", &["a"][..]), ("s2", &["a"][..])][..], "listed under 's1' too"),
            (&[("s1", &["s2"][..])][..], "not below one"),
            (&[("s1", &["A b"][..])][..], "`subtrees.s1`"),
        ] {
            let err = build(Tier::District, "d", &streets, table(entries)).expect_err(says).to_string();
            assert!(err.contains(says) && err.contains("file d.toml"), "{err}");
        }
        let err = build(Tier::Street, "s1", &streets, table(&[("s1", &["a"])])).expect_err("a street");
        assert!(err.to_string().contains("only a node whose children are coordinators"), "{err}");
        assert!(build(Tier::Street, "s1", &streets, None).expect("none").is_empty());
        // A city lists its districts' streets and communities.
        let districts = ["d1".to_string()];
        let built = build(Tier::City, "c", &districts, table(&[("d1", &["s1", "a"])])).expect("a city's");
        assert_eq!(built.get("d1"), Some(&BTreeSet::from(["a".to_string(), "s1".to_string()])));
    }
}
