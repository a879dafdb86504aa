//! What a signed-in operator may see on this node's console: the whole subtree, or
//! the part of it its scope names.
//!
//! The rules are the `Query` service's (`crate::server::authority`), narrowed rather
//! than refused: over gRPC a street's operator asks at its street, but in a browser
//! it may open the district's console and see its own street there. So:
//! - a scope of this node or its parent sees everything this node serves;
//! - a scope of a child sees that child's part: a street at a district (answers keep
//!   its communities only), a community at a street;
//! - a scope of a community below a child sees that community;
//! - any other scope is refused at sign-in, with the rule.
//!
//! Every answer the console gives goes through [`Viewer::filter`]: a request that
//! asks for rows outside the viewer's part is refused (the page says so), never
//! answered with them. Auditors see aggregates; drill-down into records needs a role
//! that reads records (`Authority::may_read`).

use super::session::Session;
use crate::server::authority::{Caller, Role};
use linli_core::link::Routes;
use linli_core::query::{Filter, Placement};

/// The part of this node's subtree a viewer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Whole,
    /// One child of a district (or a city): the communities placed under it.
    Street(String),
    Community(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub operator: String,
    pub role: Role,
    pub scope: String,
    pub part: Part,
}

/// The part `session` sees at node `me` (with `parent`; `leaves_below`: its children
/// are communities, as at a street), or why it sees nothing.
pub fn part_of(
    session: &Session,
    me: &str,
    parent: Option<&str>,
    leaves_below: bool,
    routes: &Routes,
) -> Result<Part, String> {
    let scope = session.scope.as_str();
    let whole = scope == me || parent == Some(scope);
    match session.role {
        Role::Operator | Role::Auditor if whole => return Ok(Part::Whole),
        Role::Staff if scope == me => return Ok(Part::Whole),
        _ => {}
    }
    if session.role != Role::Staff && routes.children.contains_key(scope) {
        return Ok(if leaves_below { Part::Community(scope.to_string()) } else { Part::Street(scope.to_string()) });
    }
    if routes.subtree().contains(scope) {
        return Ok(Part::Community(scope.to_string()));
    }
    Err(format!("`{scope}` is not in the subtree of `{me}`; sign in at the console of your scope"))
}

impl Viewer {
    pub fn new(session: Session, part: Part) -> Self {
        Viewer { operator: session.operator, role: session.role, scope: session.scope, part }
    }

    /// The caller the authority checks record reads against.
    pub fn caller(&self) -> Caller {
        Caller::Operator { id: self.operator.clone(), role: self.role, scope: self.scope.clone() }
    }

    /// `asked` narrowed to this viewer's part; an ask outside it is refused with why.
    pub fn filter(&self, mut asked: Filter, placement: &Placement) -> Result<Filter, String> {
        let outside = |what: &str| format!("{what} is outside the part of `{}` this console shows you", self.scope);
        match &self.part {
            Part::Whole => {}
            Part::Street(street) => {
                if let Some(asked_street) = asked.street.as_deref().filter(|s| *s != street) {
                    return Err(outside(&format!("street `{asked_street}`")));
                }
                if let Some(community) = asked.community.as_deref().filter(|c| placement.street(c) != street) {
                    return Err(outside(&format!("community `{community}`")));
                }
                asked.street = Some(street.clone());
            }
            Part::Community(community) => {
                if let Some(asked_community) = asked.community.as_deref().filter(|c| *c != community) {
                    return Err(outside(&format!("community `{asked_community}`")));
                }
                if let Some(street) = asked.street.as_deref().filter(|s| *s != placement.street(community)) {
                    return Err(outside(&format!("street `{street}`")));
                }
                asked.community = Some(community.clone());
            }
        }
        Ok(asked)
    }

    /// Whether a link row of `peer` is this viewer's to see.
    pub fn sees_link(&self, peer: &str) -> bool {
        match &self.part {
            Part::Whole => true,
            Part::Street(s) | Part::Community(s) => s == peer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn district() -> Routes {
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        let mut routes = Routes { me: "lg".into(), children: BTreeMap::new(), left: BTreeSet::new() };
        routes.children.insert("lg-s1".into(), set(&["lg-s1", "lg-s1-c1", "lg-s1-c2"]));
        routes.children.insert("lg-s2".into(), set(&["lg-s2", "lg-s2-c1"]));
        routes
    }

    fn session(id: &str) -> Session {
        let (role, scope) = crate::server::authority::operator_of(id).expect("operator");
        Session { operator: id.into(), role, scope, expires_ms: 0 }
    }

    fn placement() -> Placement {
        let mut p = Placement::default();
        for (c, s) in [("lg-s1-c1", "lg-s1"), ("lg-s1-c2", "lg-s1"), ("lg-s2-c1", "lg-s2")] {
            p.street_of.insert(c.into(), s.into());
        }
        p
    }

    #[test]
    fn a_streets_operator_at_the_district_sees_its_street_and_nothing_else() {
        let routes = district();
        let s = session("operator--lg-s1--li");
        let part = part_of(&s, "lg", None, false, &routes).expect("part");
        assert_eq!(part, Part::Street("lg-s1".into()));
        let viewer = Viewer::new(s, part);
        let narrowed = viewer.filter(Filter::default(), &placement()).expect("own");
        assert_eq!(narrowed.street.as_deref(), Some("lg-s1"));
        let other = Filter { street: Some("lg-s2".into()), ..Default::default() };
        assert!(viewer.filter(other, &placement()).expect_err("other street").contains("`lg-s2`"));
        let theirs = Filter { community: Some("lg-s2-c1".into()), ..Default::default() };
        assert!(viewer.filter(theirs, &placement()).is_err());
        let mine = Filter { community: Some("lg-s1-c2".into()), ..Default::default() };
        assert!(viewer.filter(mine, &placement()).is_ok());
        assert!(viewer.sees_link("lg-s1") && !viewer.sees_link("lg-s2"));
    }

    #[test]
    fn the_districts_operator_sees_the_whole_and_a_stranger_is_refused() {
        let routes = district();
        assert_eq!(part_of(&session("auditor--lg--a"), "lg", None, false, &routes), Ok(Part::Whole));
        assert_eq!(part_of(&session("operator--lg--a"), "lg-s1", Some("lg"), false, &routes), Ok(Part::Whole));
        let staff = part_of(&session("staff--lg-s1-c2--w"), "lg", None, false, &routes);
        assert_eq!(staff, Ok(Part::Community("lg-s1-c2".into())));
        let stranger = part_of(&session("operator--ft-s1--x"), "lg", None, false, &routes).expect_err("stranger");
        assert!(stranger.contains("`ft-s1` is not in the subtree of `lg`"), "{stranger}");
    }
}
