//! Resolution time (reported -> resolved): p50, p90 and p99 by street and category
//! over a chosen window of days, as bars and as a table. The percentiles are the upper
//! bounds of the histogram buckets that hold them, as `linlictl ask resolution` says.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, esc, num, td, td_num};
use linli_core::query::Resolution;
use std::fmt::Write;

/// The window's bounds, in days.
pub const WINDOW_DAYS_MAX: i64 = 366;
pub const WINDOW_DAYS_DEFAULT: i64 = 30;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let days = cx.params.int("days", 1..=WINDOW_DAYS_MAX, WINDOW_DAYS_DEFAULT)?;
    let to_ms = cx.now_ms;
    let from_ms = to_ms - (days - 1) * 86_400_000;
    let (by_street, by_both) = cx
        .read(placement, move |views, ctx| {
            let q = |by_category| Resolution { filter: filter.clone(), from_ms, to_ms, by_street: true, by_category };
            Ok::<_, linli_core::Error>((q(false).answer(views, ctx.placement)?, q(true).answer(views, ctx.placement)?))
        })
        .await?
        .map_err(refused)?;
    let hours = |ms: i64| ms / 3_600_000;
    let mut out = String::new();
    let _ = write!(
        out,
        "<form class=\"window\" method=\"get\" action=\"/resolution\"><label>{} <select name=\"days\">",
        cx.t("window")
    );
    for option in [7, 30, 90, 365] {
        let selected = if option == days { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{option}\"{selected}>{option} {}</option>", cx.t("days"));
    }
    let _ = write!(out, "</select></label> <button>OK</button></form>");
    let bars: Vec<(String, Vec<i64>)> =
        by_street.iter().map(|r| (r.street.clone(), vec![hours(r.p50_ms), hours(r.p90_ms), hours(r.p99_ms)])).collect();
    let unit = if cx.lang == crate::console::i18n::Lang::Zh { "小时" } else { "h" };
    out.push_str(&html::bars(&bars, |h| format!("{} {unit}", num(h))));
    let _ = write!(
        out,
        "<p class=\"legend\"><span class=\"key b1\"></span>{} <span class=\"key b2\"></span>{} <span class=\"key b3\"></span>{}</p>",
        cx.t("p50"),
        cx.t("p90"),
        cx.t("p99")
    );
    let head: Vec<String> =
        ["street", "category", "resolved", "p50", "p90", "p99"].iter().map(|k| cx.t(k).to_string()).collect();
    let rows: Vec<Vec<String>> = by_both
        .iter()
        .map(|r| {
            let name = format!("{}:{}", r.street, r.category);
            vec![
                td(&r.street),
                td(cx.lang.value(&r.category)),
                td_num(r.resolved, &format!("resolved:{name}")),
                format!("<td class=\"n\">{}</td>", esc(&html::span(r.p50_ms, cx.lang))),
                format!("<td class=\"n\">{}</td>", esc(&html::span(r.p90_ms, cx.lang))),
                format!("<td class=\"n\">{}</td>", esc(&html::span(r.p99_ms, cx.lang))),
            ]
        })
        .collect();
    out.push_str(&html::table("list", &head, &rows));
    Ok(out)
}
