//! `QueryRequest` -> `linli_core::query::Query`, with the defaults a request may leave
//! out (now, windows, the year, the watched kind of site).

use crate::ProtoError;
use crate::v1;
use crate::v1::query_request::Query as Q;
use linli_core::query::{Filter, Funnel, Hours, Open, OpenList, Overdue, Projects, Query, Resolution, Sites};
use linli_core::schema::calendar::{cst_day, day_start_ms};
use linli_core::schema::{month_shard, year_shard};

const DAY_MS: i64 = 86_400_000;
/// The resolution window when a request gives none: the 30 days through `to_ms`.
pub const RESOLUTION_DAYS_DEFAULT: i64 = 30;
/// Silent sites: no report for a day.
pub const SILENT_MS_DEFAULT: i64 = DAY_MS;
pub const SILENT_KIND_DEFAULT: &str = "v_station";

impl From<v1::QueryFilter> for Filter {
    fn from(f: v1::QueryFilter) -> Self {
        let some = |s: Option<String>| s.filter(|s| !s.is_empty());
        Filter {
            street: some(f.street),
            community: some(f.community),
            category: some(f.category),
            status: some(f.status),
        }
    }
}

impl From<&Filter> for v1::QueryFilter {
    fn from(f: &Filter) -> Self {
        v1::QueryFilter {
            street: f.street.clone(),
            community: f.community.clone(),
            category: f.category.clone(),
            status: f.status.clone(),
        }
    }
}

fn count(n: u32) -> usize {
    n as usize
}

/// The month 11 months before `month` (`YYYY-MM`): a year of months through it.
fn year_before(month: &str) -> Result<String, ProtoError> {
    let bad = || ProtoError::BadJson {
        message: "HoursQuery",
        field: "to_month".into(),
        reason: format!("`{month}` is not YYYY-MM"),
    };
    let (year, m) = month.split_once('-').ok_or_else(bad)?;
    let (year, m): (i64, i64) = (year.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let index = year * 12 + (m - 1) - 11;
    Ok(format!("{:04}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1))
}

/// The core query of a request and the "now" it is asked at (`now_ms` when absent).
pub fn query_from(request: v1::QueryRequest, now_ms: i64) -> Result<(Query, i64), ProtoError> {
    let at_ms = request.at_ms.unwrap_or(now_ms);
    let filter = Filter::from(request.filter.unwrap_or_default());
    let query = match request.query.ok_or(ProtoError::Missing { message: "QueryRequest", field: "query" })? {
        Q::Open(q) => Query::Open(Open {
            filter,
            by_street: q.by_street,
            by_community: q.by_community,
            by_category: q.by_category,
            by_status: q.by_status,
        }),
        Q::OpenList(q) => Query::OpenList(OpenList { filter, limit: count(q.limit), after: q.after }),
        Q::Overdue(q) => Query::Overdue(Overdue { filter, at_ms, limit: count(q.limit) }),
        Q::Resolution(q) => {
            let to_ms = q.to_ms.unwrap_or(at_ms);
            let from_ms = q.from_ms.unwrap_or_else(|| day_start_ms(cst_day(to_ms) - (RESOLUTION_DAYS_DEFAULT - 1)));
            Query::Resolution(Resolution { filter, from_ms, to_ms, by_street: q.by_street, by_category: q.by_category })
        }
        Q::Funnel(q) => Query::Funnel(Funnel { filter, by_street: q.by_street }),
        Q::Projects(q) => Query::Projects(Projects {
            filter,
            year: q.year.unwrap_or_else(|| year_shard(at_ms)),
            over_cap_only: q.over_cap_only,
        }),
        Q::Hours(q) => {
            let to_month = q.to_month.unwrap_or_else(|| month_shard(at_ms));
            let from_month = match q.from_month {
                Some(month) => month,
                None => year_before(&to_month)?,
            };
            Query::Hours(Hours { filter, from_month, to_month, top: count(q.top) })
        }
        Q::Sites(q) => Query::Sites(Sites {
            filter,
            at_ms,
            silent_ms: q.silent_ms.unwrap_or(SILENT_MS_DEFAULT),
            silent_kind: q.kind.unwrap_or_else(|| SILENT_KIND_DEFAULT.to_string()),
            limit: count(q.limit),
        }),
    };
    Ok((query, at_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_a_request_leaves_out() {
        let request = v1::QueryRequest {
            at_ms: None,
            filter: Some(v1::QueryFilter {
                street: Some("s1".into()),
                community: Some(String::new()),
                ..Default::default()
            }),
            query: Some(Q::Hours(v1::HoursQuery { from_month: None, to_month: Some("2026-03".into()), top: 5 })),
        };
        let (query, at) = query_from(request, 7).unwrap();
        assert_eq!(at, 7);
        let Query::Hours(hours) = query else { panic!("{query:?}") };
        assert_eq!((hours.from_month.as_str(), hours.to_month.as_str()), ("2025-04", "2026-03"));
        assert_eq!(hours.filter.street.as_deref(), Some("s1"));
        assert_eq!(hours.filter.community, None, "an empty string matches all");
        let missing = v1::QueryRequest { at_ms: None, filter: None, query: None };
        assert!(query_from(missing, 0).unwrap_err().to_string().contains("`query` is missing"));
    }
}
