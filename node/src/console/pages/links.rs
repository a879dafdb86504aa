//! Links: each peer's lag in entries and seconds, its last contact and refusals, as
//! `linlictl links` shows them; and the tree this node serves, drawn from its routes
//! (this node, its children, the communities below each). Re-rendered every second.

use super::{Cx, Refusal};
use crate::console::html::{self, esc, num, td, td_num};
use crate::link::status::now_ms;
use std::fmt::Write;

/// The most communities drawn under one child (a district's street has about 20).
const TREE_OWNERS_MAX: usize = 200;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let shared = &cx.console.shared;
    let now = now_ms();
    let head: Vec<String> = ["peer", "role", "connected", "lag_entries", "lag_seconds", "last_contact", "refusals"]
        .iter()
        .map(|k| cx.t(k).to_string())
        .collect();
    let rows: Vec<Vec<String>> = shared
        .links
        .all()
        .into_iter()
        .filter(|(peer, _)| cx.viewer.sees_link(peer))
        .map(|(peer, s)| {
            let role = if s.parent { "parent" } else { "child" };
            let connected = if s.connected { "yes" } else { "no" };
            let last =
                if s.last_contact_ms == 0 { cx.t("never").to_string() } else { html::time(s.last_contact_ms as i64) };
            let class = if s.connected { "up" } else { "down" };
            vec![
                format!("<td class=\"{class}\" data-name=\"peer\">{}</td>", esc(&peer)),
                td(cx.t(role)),
                td(cx.t(connected)),
                td_num(s.lag_changes() as i64, &format!("lag:{peer}")),
                format!("<td class=\"n\">{:.1}</td>", s.lag_ms(now) as f64 / 1000.0),
                td(&last),
                td(&format!("{} / {}", num(s.refused_here as i64), num(s.refused_there as i64))),
            ]
        })
        .collect();
    let mut out = html::table("list", &head, &rows);
    let routes = shared.routes();
    let _ = write!(out, "<h2>{}</h2><ul class=\"tree\"><li><b>{}</b><ul>", cx.t("tree"), esc(&routes.me));
    for (child, owners) in &routes.children {
        if !cx.viewer.sees_link(child) && cx.viewer.part != crate::console::viewer::Part::Whole {
            continue;
        }
        let state = shared.links.get(child).map(|s| s.connected);
        let class = match state {
            Some(true) => "up",
            _ => "down",
        };
        let _ = write!(out, "<li><span class=\"{class}\" data-name=\"tree-child\">{}</span>", esc(child));
        let below: Vec<&String> = owners.iter().filter(|o| *o != child).take(TREE_OWNERS_MAX).collect();
        if !below.is_empty() {
            out.push_str("<ul>");
            for owner in below {
                let _ = write!(out, "<li>{}</li>", esc(owner));
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></li></ul>");
    Ok(out)
}
