//! Volunteer hours (志愿服务) by month over the last twelve months, and the teams that
//! served the most hours.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, num, td, td_num};
use linli_core::query::Hours;
use linli_core::schema::calendar::{civil, cst_day};
use std::collections::BTreeMap;

/// The months shown, ending with this one.
pub const MONTHS: i64 = 12;
/// The teams listed.
pub const TOP_TEAMS: usize = 10;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let (year, month, _) = civil(cst_day(cx.now_ms));
    let index = year * 12 + i64::from(month) - 1;
    let name = |i: i64| format!("{:04}-{:02}", i / 12, i % 12 + 1);
    let (from_month, to_month) = (name(index - MONTHS + 1), name(index));
    let answer = cx
        .read(placement, move |views, ctx| {
            Hours { filter, from_month, to_month, top: TOP_TEAMS }.answer(views, ctx.placement)
        })
        .await?
        .map_err(refused)?;
    let mut by_month: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for i in index - MONTHS + 1..=index {
        by_month.insert(name(i), (0, 0));
    }
    for row in &answer.months {
        let entry = by_month.entry(row.month.clone()).or_default();
        entry.0 += row.hours;
        entry.1 += row.visits;
    }
    let mut out = String::new();
    let bars: Vec<(String, Vec<i64>)> = by_month.iter().map(|(m, (h, _))| (m.clone(), vec![*h])).collect();
    out.push_str(&html::bars(&bars, num));
    let head: Vec<String> = ["month", "hours_unit", "visits"].iter().map(|k| cx.t(k).to_string()).collect();
    let rows: Vec<Vec<String>> = by_month
        .iter()
        .map(|(m, (h, v))| vec![td(m), td_num(*h, &format!("hours:{m}")), td_num(*v, &format!("visits:{m}"))])
        .collect();
    out.push_str(&html::table("list", &head, &rows));
    out.push_str(&format!("<h2>{}</h2>", cx.t("top_teams")));
    let head: Vec<String> = ["team", "community", "street", "hours_unit"].iter().map(|k| cx.t(k).to_string()).collect();
    let rows: Vec<Vec<String>> = answer
        .top_teams
        .iter()
        .map(|t| vec![td(&t.team), td(&t.community), td(&t.street), td_num(t.hours, &format!("team:{}", t.team))])
        .collect();
    out.push_str(&html::table("list", &head, &rows));
    Ok(out)
}
