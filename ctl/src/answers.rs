//! Replies as tables.

use super::table::{Cell, Table};
use linli_proto::v1;
use linli_proto::v1::query_reply::Answer;
use serde_json::Value;
use std::collections::BTreeSet;

fn text(s: &str) -> Cell {
    Cell::text(s)
}

/// Fen as yuan, exact: `2400000.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

pub fn answer(answer: &Answer) -> Vec<Table> {
    match answer {
        Answer::Open(a) => {
            let mut t = Table::new("open", &["street", "community", "category", "status", "count"]);
            for c in &a.counts {
                t.push(vec![
                    text(&c.street),
                    text(&c.community),
                    text(&c.category),
                    text(&c.status),
                    Cell::Int(c.count),
                ]);
            }
            vec![t]
        }
        Answer::OpenList(a) => {
            let mut t = Table::new("records", &["record", "street", "community", "status", "category", "deadline_ms"]);
            for r in &a.records {
                t.push(vec![
                    text(&r.record),
                    text(&r.street),
                    text(&r.community),
                    text(&r.status),
                    text(&r.category),
                    Cell::time(r.deadline_ms),
                ]);
            }
            let mut page = Table::new("page", &["next_after"]);
            page.push(vec![a.next_after.as_deref().map(text).unwrap_or(Cell::Null)]);
            vec![t, page]
        }
        Answer::Overdue(a) => {
            let mut t = Table::new(
                "overdue",
                &["record", "street", "community", "status", "category", "deadline_ms", "overdue_ms"],
            );
            for r in &a.records {
                t.push(vec![
                    text(&r.record),
                    text(&r.street),
                    text(&r.community),
                    text(&r.status),
                    text(&r.category),
                    Cell::Time(r.deadline_ms),
                    Cell::Duration(r.overdue_ms),
                ]);
            }
            let mut total = Table::new("total", &["overdue"]);
            total.push(vec![Cell::Int(a.total as i64)]);
            vec![t, total]
        }
        Answer::Resolution(a) => {
            let mut t = Table::new("resolution", &["street", "category", "resolved", "p50_ms", "p90_ms", "p99_ms"]);
            for r in &a.rows {
                t.push(vec![
                    text(&r.street),
                    text(&r.category),
                    Cell::Int(r.resolved),
                    Cell::Duration(r.p50_ms),
                    Cell::Duration(r.p90_ms),
                    Cell::Duration(r.p99_ms),
                ]);
            }
            vec![t]
        }
        Answer::Funnel(a) => {
            let mut t = Table::new(
                "funnel",
                &[
                    "street",
                    "ordered",
                    "dispatched",
                    "accepted",
                    "completed",
                    "dispatch_p50_ms",
                    "accept_p50_ms",
                    "complete_p50_ms",
                ],
            );
            for r in &a.rows {
                let mut row = vec![text(&r.street), Cell::Int(r.ordered)];
                row.extend(r.steps.iter().map(|s| Cell::Int(s.count)));
                row.extend(r.steps.iter().map(|s| Cell::duration(s.p50_ms)));
                t.push(row);
            }
            vec![t]
        }
        Answer::Projects(a) => {
            let mut t =
                Table::new("projects", &["street", "community", "year", "budget_yuan", "spent_yuan", "over_cap"]);
            for r in &a.rows {
                t.push(vec![
                    text(&r.street),
                    text(&r.community),
                    text(&r.year),
                    Cell::text(yuan(r.budget_fen)),
                    Cell::text(yuan(r.spent_fen)),
                    Cell::Bool(r.over_cap),
                ]);
            }
            vec![t]
        }
        Answer::Hours(a) => {
            let mut months = Table::new("months", &["street", "community", "month", "hours", "visits"]);
            for r in &a.months {
                months.push(vec![
                    text(&r.street),
                    text(&r.community),
                    text(&r.month),
                    Cell::Int(r.hours),
                    Cell::Int(r.visits),
                ]);
            }
            let mut teams = Table::new("top_teams", &["street", "community", "team", "hours"]);
            for r in &a.top_teams {
                teams.push(vec![text(&r.street), text(&r.community), text(&r.team), Cell::Int(r.hours)]);
            }
            vec![months, teams]
        }
        Answer::Sites(a) => {
            let mut counts = Table::new("sites", &["kind", "status", "count"]);
            for c in &a.counts {
                counts.push(vec![text(&c.kind), text(&c.status), Cell::Int(c.count)]);
            }
            let mut silent = Table::new("silent", &["record", "street", "community", "status", "last_report_ms"]);
            for s in &a.silent {
                silent.push(vec![
                    text(&s.record),
                    text(&s.street),
                    text(&s.community),
                    text(&s.status),
                    Cell::time(s.last_report_ms),
                ]);
            }
            let mut total = Table::new("silent_total", &["silent"]);
            total.push(vec![Cell::Int(a.silent_total as i64)]);
            vec![counts, silent, total]
        }
    }
}

pub fn links(reply: &v1::LinksReply) -> Vec<Table> {
    let mut node = Table::new("node", &["node", "tier", "log_end", "at_ms"]);
    node.push(vec![text(&reply.node), text(&reply.tier), Cell::Int(reply.log_end as i64), Cell::Time(reply.at_ms)]);
    let mut links = Table::new(
        "links",
        &["peer", "role", "connected", "last_contact_ms", "lag_changes", "lag_ms", "backlog_changes", "sessions"],
    );
    for l in &reply.links {
        links.push(vec![
            text(&l.peer),
            text(&l.role),
            Cell::Bool(l.connected),
            Cell::time((l.last_contact_ms > 0).then_some(l.last_contact_ms as i64)),
            Cell::Int(l.lag_changes as i64),
            Cell::Duration(l.lag_ms as i64),
            Cell::Int(l.backlog_changes as i64),
            Cell::Int(l.sessions as i64),
        ]);
    }
    vec![node, links]
}

/// `where`: the record's latest change at each tier, and where it waits.
pub fn whereabouts(reply: &v1::WhereReply) -> Vec<Table> {
    let mut change = Table::new("change", &["node", "seq", "waits_on"]);
    let waits = if reply.waits_on.is_empty() { Cell::Null } else { text(&reply.waits_on) };
    change.push(vec![text(&reply.node), reply.seq.map(|s| Cell::Int(s as i64)).unwrap_or(Cell::Null), waits]);
    let mut tiers = Table::new("tiers", &["tier", "node", "durable", "since"]);
    for hold in &reply.tiers {
        let height = usize::try_from(hold.tier).ok().and_then(|wire| wire.checked_sub(1));
        let tier = height.and_then(linli_core::link::Tier::at_height).map(|tier| tier.as_str());
        tiers.push(vec![
            text(tier.unwrap_or_default()),
            if hold.node.is_empty() { Cell::Null } else { text(&hold.node) },
            Cell::Bool(hold.durable),
            Cell::time(hold.since_ms.map(|ms| ms as i64)),
        ]);
    }
    vec![change, tiers]
}

fn value_cell(value: Option<&Value>) -> Cell {
    match value {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::String(s)) => Cell::text(s.as_str()),
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::Number(n)) => n.as_i64().map(Cell::Int).unwrap_or_else(|| Cell::text(n.to_string())),
        Some(other) => Cell::text(other.to_string()),
    }
}

/// Records as one table: the key, then every field any of them has, by name.
pub fn records(name: &str, records: &[Value]) -> Table {
    let fields: BTreeSet<&str> = records
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().map(String::as_str))
        .filter(|k| *k != "key")
        .collect();
    let mut columns = vec!["key"];
    columns.extend(fields.iter().copied());
    let mut table = Table::new(name, &columns);
    for record in records {
        table.push(columns.iter().map(|c| value_cell(record.get(*c))).collect());
    }
    table
}

/// One record as (field, value) rows.
pub fn record(record: &Value) -> Table {
    let mut table = Table::new("record", &["field", "value"]);
    if let Some(object) = record.as_object() {
        for (field, value) in object {
            table.push(vec![text(field), value_cell(Some(value))]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_are_exact() {
        assert_eq!(yuan(240_000_000), "2400000.00");
        assert_eq!(yuan(1_050), "10.50");
        assert_eq!(yuan(-5), "-0.05");
    }
}
