//! Service sites (党群服务阵地) by kind and status, by colour class, and the V
//! stations that went silent: no report for 24 hours (or never), highlighted, oldest
//! first.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, esc, num, td, td_num};
use linli_core::query::{Sites, site_colours};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// A V station that has not reported for this long is silent.
pub const SILENT_MS: i64 = 24 * 3_600_000;
/// The colour classes in the order of the spectrum (Pingdi's seven), not of their names.
const COLOUR_ORDER: [&str; 7] = ["red", "orange", "yellow", "green", "cyan", "blue", "purple"];
/// The silent stations listed.
pub const SILENT_LISTED: usize = 100;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let at_ms = cx.now_ms;
    let (answer, colours) = cx
        .read(placement, move |views, ctx| {
            let colours = site_colours(views, &filter, ctx.placement);
            Sites { filter, at_ms, silent_ms: SILENT_MS, silent_kind: "v_station".into(), limit: SILENT_LISTED }
                .answer(views, ctx.placement)
                .map(|answer| (answer, colours))
        })
        .await?
        .map_err(refused)?;
    let statuses: BTreeSet<&str> = answer.counts.iter().map(|c| c.status.as_str()).collect();
    let mut by_kind: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    for c in &answer.counts {
        *by_kind.entry(&c.kind).or_default().entry(&c.status).or_default() += c.count;
    }
    let mut head = vec![cx.t("kind").to_string()];
    head.extend(statuses.iter().map(|s| esc(cx.lang.value(s))));
    let rows: Vec<Vec<String>> = by_kind
        .iter()
        .map(|(kind, counts)| {
            let mut row = vec![td(cx.lang.value(kind))];
            for status in &statuses {
                row.push(td_num(counts.get(status).copied().unwrap_or(0), &format!("sites:{kind}:{status}")));
            }
            row
        })
        .collect();
    let mut out = html::table("list", &head, &rows);
    let _ = write!(out, "<h2>{}</h2><p class=\"colours\">", cx.t("colour"));
    let mut colours = colours;
    colours.sort_by_key(|(colour, _)| COLOUR_ORDER.iter().position(|c| c == colour).unwrap_or(COLOUR_ORDER.len()));
    for (colour, n) in &colours {
        let _ = write!(
            out,
            "<span class=\"colour colour-{}\"><span class=\"swatch\"></span>{} <b data-name=\"colour:{}\">{}</b></span>",
            esc(colour),
            esc(cx.lang.value(colour)),
            esc(colour),
            num(*n)
        );
    }
    out.push_str("</p>");
    let _ = write!(
        out,
        "<h2>{} <span class=\"silent-count\" data-name=\"silent-total\">{}</span></h2>",
        cx.t("silent"),
        num(answer.silent_total as i64)
    );
    let head: Vec<String> =
        ["record", "street", "community", "status", "last_report"].iter().map(|k| cx.t(k).to_string()).collect();
    let rows: Vec<Vec<String>> = answer
        .silent
        .iter()
        .map(|s| {
            let last = s.last_report_ms.map(html::time).unwrap_or_else(|| cx.t("never").to_string());
            vec![
                format!("<td class=\"key silent\" data-name=\"silent-site\">{}</td>", esc(&s.record)),
                td(&s.street),
                td(&s.community),
                td(cx.lang.value(&s.status)),
                td(&last),
            ]
        })
        .collect();
    out.push_str(&html::table("list silent", &head, &rows));
    Ok(out)
}
