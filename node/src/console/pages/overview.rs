//! Overview: open requests by street (or community) × category as a heat table, the
//! overdue count and the oldest overdue request, and the last 30 days' intake against
//! resolutions.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, Series, esc, heat, num, td, td_num};
use crate::console::i18n::Lang;
use linli_core::Error;
use linli_core::query::daily::{Daily, DayCount, INTAKE, RESOLVED};
use linli_core::query::{Ctx, Filter, Open, OpenCount, Overdue, OverdueAnswer, REQUESTS};
use linli_core::views::Views;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The days of the intake curve.
pub const CURVE_DAYS: usize = 30;

/// What the overview shows, read from the views in one turn.
pub struct Overview {
    pub open: Vec<OpenCount>,
    pub overdue: OverdueAnswer,
    pub intake: Vec<DayCount>,
    pub resolved: Vec<DayCount>,
    /// Rows are communities (at a street or a community), not streets.
    pub by_community: bool,
}

/// Reads the overview for `filter` at `now` from the views.
pub fn answer(views: &Views, ctx: &Ctx, filter: Filter, now: i64, by_community: bool) -> Result<Overview, Error> {
    let open =
        Open { filter: filter.clone(), by_street: !by_community, by_community, by_category: true, by_status: false }
            .answer(views, ctx)?;
    let overdue = Overdue { filter: filter.clone(), at_ms: now, limit: 1 }.answer(views, ctx.placement)?;
    let day = |duration: &str| Daily {
        filter: filter.clone(),
        registry: REQUESTS.into(),
        duration: duration.into(),
        last_ms: now,
        days: CURVE_DAYS,
    };
    let intake = day(INTAKE).answer(views, ctx.placement)?;
    let resolved = day(RESOLVED).answer(views, ctx.placement)?;
    Ok(Overview { open, overdue, intake, resolved, by_community })
}

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let by_community = cx.rows_are_communities();
    let now = cx.now_ms;
    let overview =
        cx.read(placement, move |views, ctx| answer(views, ctx, filter, now, by_community)).await?.map_err(refused)?;
    Ok(render(&overview, cx.lang))
}

/// The overview as HTML.
pub fn render(overview: &Overview, lang: Lang) -> String {
    let Overview { open, overdue, intake, resolved, by_community } = overview;
    let by_community = *by_community;
    let mut out = String::new();
    // The heat table.
    let mut cells: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut categories = BTreeSet::new();
    for row in open {
        let group = if by_community { row.community.as_str() } else { row.street.as_str() };
        *cells.entry((group, row.category.as_str())).or_default() += row.count;
        categories.insert(row.category.as_str());
    }
    let groups: BTreeSet<&str> = cells.keys().map(|(g, _)| *g).collect();
    let max = cells.values().copied().max().unwrap_or(0);
    let group_key = if by_community { "community" } else { "street" };
    let mut head = vec![lang.t(group_key).to_string()];
    head.extend(categories.iter().map(|c| esc(lang.value(c))));
    head.push(lang.t("total").to_string());
    let mut rows = Vec::new();
    for group in &groups {
        let mut row = vec![td(group)];
        let mut total = 0;
        for category in &categories {
            let n = cells.get(&(*group, *category)).copied().unwrap_or(0);
            total += n;
            row.push(format!(
                "<td class=\"n {}\" data-name=\"open:{}:{}\">{}</td>",
                heat(n, max),
                esc(group),
                esc(category),
                num(n)
            ));
        }
        row.push(td_num(total, &format!("open:{group}")));
        rows.push(row);
    }
    let mut totals = vec![format!("<td><b>{}</b></td>", lang.t("total"))];
    for category in &categories {
        let n: i64 = cells.iter().filter(|((_, c), _)| c == category).map(|(_, n)| n).sum();
        totals.push(td_num(n, &format!("open-category:{category}")));
    }
    totals.push(td_num(cells.values().sum(), "open-total"));
    rows.push(totals);
    let _ = write!(out, "<section><h2>{}</h2>{}</section>", lang.t("open_requests"), html::table("heat", &head, &rows));

    // Overdue: how many, and the oldest.
    let _ = write!(
        out,
        "<section class=\"cards\"><div class=\"card\"><h2>{}</h2><p class=\"big\" data-name=\"overdue-total\">{}</p></div>",
        lang.t("overdue_total"),
        num(overdue.total as i64)
    );
    match overdue.records.first() {
        Some(oldest) => {
            let _ = write!(
                out,
                "<div class=\"card\"><h2>{}</h2><p class=\"big\" data-name=\"oldest-age\">{}</p><p>{} · {} · <a href=\"/overdue\">{}</a></p></div>",
                lang.t("oldest"),
                esc(&html::span(oldest.overdue_ms, lang)),
                esc(&oldest.community),
                esc(lang.value(&oldest.category)),
                esc(&oldest.record)
            );
        }
        None => {
            let _ = write!(
                out,
                "<div class=\"card\"><h2>{}</h2><p class=\"big\">{}</p></div>",
                lang.t("oldest"),
                lang.t("none")
            );
        }
    }
    let today_in = intake.last().map_or(0, |d| d.count);
    let today_done = resolved.last().map_or(0, |d| d.count);
    let _ = write!(
        out,
        "<div class=\"card\"><h2>{} {}</h2><p class=\"big\"><span data-name=\"intake-today\">{}</span> / <span data-name=\"resolved-today\">{}</span></p><p>{} / {}</p></div></section>",
        lang.t("today"),
        lang.t("intake"),
        num(today_in),
        num(today_done),
        lang.t("intake"),
        lang.t("resolved")
    );

    // The daily curve.
    let labels: Vec<String> = intake.iter().map(|d| d.day.get(5..).unwrap_or(&d.day).to_string()).collect();
    let intake_counts: Vec<i64> = intake.iter().map(|d| d.count).collect();
    let resolved_counts: Vec<i64> = resolved.iter().map(|d| d.count).collect();
    let chart = html::line_chart(
        &labels,
        &[
            Series { label: lang.t("intake"), class: "s1", values: &intake_counts },
            Series { label: lang.t("resolved"), class: "s2", values: &resolved_counts },
        ],
    );
    let _ = write!(out, "<section><h2>{}</h2>{chart}</section>", lang.t("daily"));
    out
}
