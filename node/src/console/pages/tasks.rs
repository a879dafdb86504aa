//! The task funnel (点单-派单-接单): ordered, dispatched, accepted, completed, by
//! street, with the median time of each step, over all time.

use super::{Cx, Refusal, refused};
use crate::console::html::{self, esc, num, td, td_num};
use linli_core::query::Funnel;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let placement = cx.placement();
    let filter = cx.filter(&placement)?;
    let (total, by_street) = cx
        .read(placement, move |views, ctx| {
            let q = |by_street| Funnel { filter: filter.clone(), by_street };
            Ok::<_, linli_core::Error>((q(false).answer(views, ctx.placement)?, q(true).answer(views, ctx.placement)?))
        })
        .await?
        .map_err(refused)?;
    let mut out = String::new();
    if let Some(all) = total.first() {
        let mut bars = vec![(cx.t("ordered").to_string(), vec![all.ordered])];
        bars.extend(all.steps.iter().map(|s| (cx.t(step_key(&s.step)).to_string(), vec![s.count])));
        out.push_str(&html::bars(&bars, num));
    }
    let mut head = vec![cx.t("street").to_string(), cx.t("ordered").to_string()];
    for step in linli_core::query::TASK_STEPS {
        head.push(cx.t(step_key(step)).to_string());
        head.push(format!("{} · {}", cx.t(step_key(step)), cx.t("p50")));
    }
    let rows: Vec<Vec<String>> = by_street
        .iter()
        .map(|r| {
            let mut row = vec![td(&r.street), td_num(r.ordered, &format!("ordered:{}", r.street))];
            for step in &r.steps {
                row.push(td_num(step.count, &format!("{}:{}", step.step, r.street)));
                let median = step.p50_ms.map(|ms| html::span(ms, cx.lang)).unwrap_or_else(|| "–".into());
                row.push(format!("<td class=\"n\">{}</td>", esc(&median)));
            }
            row
        })
        .collect();
    out.push_str(&html::table("list", &head, &rows));
    Ok(out)
}

/// The words of a step of the funnel.
fn step_key(step: &str) -> &'static str {
    match step {
        "dispatch" => "dispatch",
        "accept" => "accept",
        "complete" => "complete",
        _ => "count",
    }
}
