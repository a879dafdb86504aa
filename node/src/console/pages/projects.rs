//! Micro-projects (民生微实事) by community and year: budget and spend against the
//! 2,000,000 yuan cap a community may plan in a year; plans over the cap flagged.
//! Cancelled projects do not count against the cap.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, esc, td, yuan};
use linli_core::query::Projects;
use linli_core::schema::calendar::{civil, cst_day};
use std::fmt::Write;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let this_year = civil(cst_day(cx.now_ms)).0;
    let year = cx.params.int("year", 2000..=2100, this_year)?.to_string();
    let asked = year.clone();
    let rows = cx
        .read(placement, move |views, ctx| {
            Projects { filter, year: asked, over_cap_only: false }.answer(views, ctx.placement)
        })
        .await?
        .map_err(refused)?;
    let mut out = String::new();
    let _ = write!(
        out,
        "<form class=\"window\" method=\"get\" action=\"/projects\"><label>{} <select name=\"year\">",
        cx.t("year")
    );
    for option in (this_year - 4..=this_year).rev() {
        let selected = if option.to_string() == year { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{option}\"{selected}>{option}</option>");
    }
    let _ = write!(out, "</select></label> <button>OK</button> <span class=\"cap\">{}</span></form>", cx.t("cap"));
    let over = rows.iter().filter(|r| r.over_cap).count();
    let _ = write!(out, "<p class=\"summary\">{}: <b data-name=\"over-cap-count\">{over}</b></p>", cx.t("over_cap"));
    let bars: Vec<(String, Vec<i64>)> =
        rows.iter().map(|r| (r.community.clone(), vec![r.budget_fen / 100, r.spent_fen / 100])).collect();
    out.push_str(&html::bars(&bars, html::num));
    let _ = write!(
        out,
        "<p class=\"legend\"><span class=\"key b1\"></span>{} <span class=\"key b2\"></span>{} ({})</p>",
        cx.t("budget"),
        cx.t("spent"),
        cx.t("yuan")
    );
    let head: Vec<String> =
        ["street", "community", "budget", "spent", "over_cap"].iter().map(|k| cx.t(k).to_string()).collect();
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let flag = if r.over_cap {
                format!("<td class=\"over\" data-name=\"over-cap\">{}</td>", cx.t("over_cap"))
            } else {
                format!("<td>{}</td>", cx.t("within_cap"))
            };
            vec![
                td(&r.street),
                td(&r.community),
                format!("<td class=\"n\" data-name=\"budget:{}\">{}</td>", esc(&r.community), yuan(r.budget_fen)),
                format!("<td class=\"n\" data-name=\"spent:{}\">{}</td>", esc(&r.community), yuan(r.spent_fen)),
                flag,
            ]
        })
        .collect();
    out.push_str(&html::table("list", &head, &table_rows));
    Ok(out)
}
