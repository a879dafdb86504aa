//! Overdue requests, oldest first: how long each is overdue, where, what; each
//! community links to its records page by page.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, esc, num, td, url};
use linli_core::query::{LIST_MAX, Overdue};
use std::fmt::Write;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let limit = cx.params.int("limit", 1..=LIST_MAX as i64, 100)? as usize;
    let at_ms = cx.now_ms;
    let answer = cx
        .read(placement, move |views, ctx| Overdue { filter, at_ms, limit }.answer(views, ctx.placement))
        .await?
        .map_err(refused)?;
    let head: Vec<String> = ["age", "street", "community", "category", "status", "deadline", "record"]
        .iter()
        .map(|k| cx.t(k).to_string())
        .collect();
    let rows: Vec<Vec<String>> = answer
        .records
        .iter()
        .map(|r| {
            vec![
                format!("<td class=\"n\" data-name=\"age\">{}</td>", esc(&html::span(r.overdue_ms, cx.lang))),
                td(&r.street),
                format!(
                    "<td><a href=\"/records?community={}&amp;registry=requests\">{}</a></td>",
                    url(&r.community),
                    esc(&r.community)
                ),
                td(cx.lang.value(&r.category)),
                td(cx.lang.value(&r.status)),
                td(&html::time(r.deadline_ms)),
                format!("<td class=\"key\" data-name=\"overdue-record\">{}</td>", esc(&r.record)),
            ]
        })
        .collect();
    let shown = cx
        .t("shown_of")
        .replace("{shown}", &format!("<span data-name=\"overdue-shown\">{}</span>", num(answer.records.len() as i64)))
        .replace("{total}", &format!("<span data-name=\"overdue-total\">{}</span>", num(answer.total as i64)));
    let mut out = format!("<p class=\"summary\">{shown}</p>");
    let _ = write!(out, "{}", html::table("list", &head, &rows));
    Ok(out)
}
