//! A community's records of one registry, page by page (drill-down from the overdue
//! list). Personal (`local`) fields never show: an operator's read leaves them out,
//! as `Query.Records` does, and only the community's own node holds them at all.

use super::{Cx, Refusal};
use crate::console::html::{self, esc, td, url};
use crate::server::authority::Show;
use linli_core::ids::RecordKey;
use linli_core::query::Filter;
use linli_core::schema::FieldType;
use std::collections::BTreeSet;
use std::fmt::Write;

/// Records per page.
pub const PAGE_RECORDS: usize = 50;
/// The most characters of one value shown in a cell.
const CELL_CHARS_MAX: usize = 80;

pub async fn body(cx: &Cx<'_>) -> Result<String, Refusal> {
    let community = cx.params.text("community")?.ok_or_else(|| Refusal::bad("`community` is missing"))?.to_string();
    let registry = cx.params.text("registry")?.unwrap_or("requests").to_string();
    let placement = cx.placement();
    let asked = Filter { community: Some(community.clone()), ..Default::default() };
    cx.viewer.filter(asked, &placement).map_err(|why| cx.outside(why))?;
    let console = cx.console;
    let schema = console.registries.get(&registry).map_err(|e| Refusal::bad(format!("`registry`: {e}")))?.clone();
    let target = format!("the {registry} of `{community}`");
    let show = console
        .authority
        .may_read("Console.Records", &cx.viewer.caller(), &community, &target)
        .map_err(|status| Refusal::forbidden(status.message().to_string()))?;
    let after = match cx.params.text("after")? {
        Some(after) => Some(RecordKey::parse(after).map_err(|e| Refusal::bad(format!("`after`: {e}")))?),
        None => None,
    };
    let records = console
        .shared
        .engine
        .list_page_async(community.clone(), registry.clone(), after, PAGE_RECORDS)
        .await
        .map_err(|e| Refusal::unavailable(e.to_string()))?;
    let rows_json: Vec<(String, serde_json::Value)> = records
        .iter()
        .map(|r| {
            let json = match show {
                Show::All => r.to_json(),
                Show::NoPersonal => console.authority.without_personal(&registry, r.to_json()),
            };
            (r.key.to_string(), json)
        })
        .collect();
    // The key has its own column; a field the schema does not know is not shown.
    let fields: BTreeSet<String> = rows_json
        .iter()
        .filter_map(|(_, j)| j.as_object())
        .flat_map(|o| o.keys().cloned())
        .filter(|f| schema.field(f).is_some())
        .collect();
    let mut head = vec![cx.t("record").to_string()];
    head.extend(fields.iter().map(|f| esc(f)));
    let rows: Vec<Vec<String>> = rows_json
        .iter()
        .map(|(key, json)| {
            let mut row = vec![format!("<td class=\"key\" data-name=\"record\">{}</td>", esc(key))];
            for field in &fields {
                let timestamp = schema.field(field).is_some_and(|f| f.ty == FieldType::Timestamp);
                let value = match json.get(field) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::Number(ms)) if timestamp => ms.as_i64().map(html::time).unwrap_or_default(),
                    Some(serde_json::Value::String(s)) => cx.lang.value(s).to_string(),
                    Some(other) => other.to_string(),
                };
                let short: String = value.chars().take(CELL_CHARS_MAX).collect();
                row.push(td(&short));
            }
            row
        })
        .collect();
    let mut out = format!(
        "<p class=\"summary\">{}: <b>{}</b> · {}: <b>{}</b></p>",
        cx.t("community"),
        esc(&community),
        cx.t("registry"),
        esc(&registry)
    );
    out.push_str(&html::table("list records", &head, &rows));
    let base = format!("/records?community={}&amp;registry={}", url(&community), url(&registry));
    out.push_str("<p class=\"pages\">");
    if cx.params.text("after")?.is_some() {
        let _ = write!(out, "<a href=\"{base}\">{}</a> ", cx.t("first_page"));
    }
    if records.len() == PAGE_RECORDS
        && let Some(last) = records.last()
    {
        let _ = write!(
            out,
            "<a id=\"next\" href=\"{base}&amp;after={}\">{}</a>",
            url(&last.key.to_string()),
            cx.t("next_page")
        );
    }
    out.push_str("</p>");
    Ok(out)
}
