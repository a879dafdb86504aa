//! `linli_core::query::Answer` -> `QueryReply`. Replies only leave the server, so there
//! is no conversion back: clients read the messages.

use crate::v1;
use crate::v1::query_reply::Answer as A;
use linli_core::query::{Answer, CAP_FEN, Query};

/// The reply to `query`, answered with `answer` at `at_ms`.
pub fn reply(at_ms: i64, query: &Query, answer: &Answer) -> v1::QueryReply {
    let answer = match answer {
        Answer::Open(counts) => A::Open(v1::OpenAnswer {
            counts: counts
                .iter()
                .map(|c| v1::OpenCount {
                    street: c.street.clone(),
                    community: c.community.clone(),
                    category: c.category.clone(),
                    status: c.status.clone(),
                    count: c.count,
                })
                .collect(),
        }),
        Answer::OpenList(list) => A::OpenList(v1::OpenListAnswer {
            records: list
                .records
                .iter()
                .map(|r| v1::OpenRecord {
                    record: r.record.clone(),
                    street: r.street.clone(),
                    community: r.community.clone(),
                    status: r.status.clone(),
                    category: r.category.clone(),
                    deadline_ms: r.deadline_ms,
                })
                .collect(),
            next_after: list.next_after.clone(),
        }),
        Answer::Overdue(overdue) => A::Overdue(v1::OverdueAnswer {
            total: overdue.total,
            records: overdue
                .records
                .iter()
                .map(|r| v1::OverdueRecord {
                    record: r.record.clone(),
                    street: r.street.clone(),
                    community: r.community.clone(),
                    status: r.status.clone(),
                    category: r.category.clone(),
                    deadline_ms: r.deadline_ms,
                    overdue_ms: r.overdue_ms,
                })
                .collect(),
        }),
        Answer::Resolution(rows) => {
            let (from_ms, to_ms) = match query {
                Query::Resolution(q) => (q.from_ms, q.to_ms),
                _ => (0, 0),
            };
            A::Resolution(v1::ResolutionAnswer {
                from_ms,
                to_ms,
                rows: rows
                    .iter()
                    .map(|r| v1::ResolutionRow {
                        street: r.street.clone(),
                        category: r.category.clone(),
                        resolved: r.resolved,
                        p50_ms: r.p50_ms,
                        p90_ms: r.p90_ms,
                        p99_ms: r.p99_ms,
                    })
                    .collect(),
            })
        }
        Answer::Funnel(rows) => A::Funnel(v1::FunnelAnswer {
            rows: rows
                .iter()
                .map(|r| v1::FunnelRow {
                    street: r.street.clone(),
                    ordered: r.ordered,
                    steps: r
                        .steps
                        .iter()
                        .map(|s| v1::FunnelStep { step: s.step.clone(), count: s.count, p50_ms: s.p50_ms })
                        .collect(),
                })
                .collect(),
        }),
        Answer::Projects(rows) => A::Projects(v1::ProjectsAnswer {
            cap_fen: CAP_FEN,
            rows: rows
                .iter()
                .map(|r| v1::ProjectRow {
                    street: r.street.clone(),
                    community: r.community.clone(),
                    year: r.year.clone(),
                    budget_fen: r.budget_fen,
                    spent_fen: r.spent_fen,
                    over_cap: r.over_cap,
                })
                .collect(),
        }),
        Answer::Hours(hours) => {
            let (from_month, to_month) = match query {
                Query::Hours(q) => (q.from_month.clone(), q.to_month.clone()),
                _ => Default::default(),
            };
            A::Hours(v1::HoursAnswer {
                from_month,
                to_month,
                months: hours
                    .months
                    .iter()
                    .map(|r| v1::HoursRow {
                        street: r.street.clone(),
                        community: r.community.clone(),
                        month: r.month.clone(),
                        hours: r.hours,
                        visits: r.visits,
                    })
                    .collect(),
                top_teams: hours
                    .top_teams
                    .iter()
                    .map(|t| v1::TeamRow {
                        street: t.street.clone(),
                        community: t.community.clone(),
                        team: t.team.clone(),
                        hours: t.hours,
                    })
                    .collect(),
            })
        }
        Answer::Sites(sites) => A::Sites(v1::SitesAnswer {
            counts: sites
                .counts
                .iter()
                .map(|c| v1::SiteCount { kind: c.kind.clone(), status: c.status.clone(), count: c.count })
                .collect(),
            silent_total: sites.silent_total,
            silent: sites
                .silent
                .iter()
                .map(|s| v1::SilentSite {
                    record: s.record.clone(),
                    street: s.street.clone(),
                    community: s.community.clone(),
                    status: s.status.clone(),
                    last_report_ms: s.last_report_ms,
                })
                .collect(),
        }),
    };
    v1::QueryReply { at_ms, answer: Some(answer) }
}
