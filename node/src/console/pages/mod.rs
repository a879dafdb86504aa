//! The console's pages. Each renders the part of its page that updates live (the
//! `#live` element) from one turn of the engine over the views: never by scanning
//! documents. The frame around it (header, navigation) is `super::html::page`.
//!
//! A page reads its parameters from the URL's query through [`Params`], which bounds
//! them and names the one that is wrong; what the viewer may see narrows every filter
//! ([`super::viewer::Viewer::filter`]).

pub mod links;
pub mod overdue;
pub mod overview;
pub mod projects;
pub mod records;
pub mod resolution;
pub mod sites;
pub mod tasks;
pub mod volunteers;

use super::Console;
use super::i18n::Lang;
use super::viewer::Viewer;
use linli_core::query::{Ctx, Filter, Placement};
use linli_core::views::Views;
use std::collections::BTreeMap;

/// The longest text parameter taken (an id, a category).
pub const PARAM_CHARS_MAX: usize = 128;

/// Why a page is not shown: an HTTP status, the title's key and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub title: &'static str,
    pub why: String,
}

impl Refusal {
    pub fn bad(why: impl Into<String>) -> Self {
        Refusal { status: 400, title: "bad_request", why: why.into() }
    }
    pub fn forbidden(why: impl Into<String>) -> Self {
        Refusal { status: 403, title: "refused", why: why.into() }
    }
    pub fn unavailable(why: impl Into<String>) -> Self {
        Refusal { status: 503, title: "unavailable", why: why.into() }
    }
}

/// A page's URL query, decoded.
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// `name`'s value, if given and not empty; refused when longer than the bound.
    pub fn text(&self, name: &str) -> Result<Option<&str>, Refusal> {
        match self.0.get(name).map(String::as_str).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > PARAM_CHARS_MAX => {
                Err(Refusal::bad(format!("`{name}` is longer than {PARAM_CHARS_MAX} characters")))
            }
            other => Ok(other),
        }
    }

    /// `name` as an integer in `range`, `default` when not given.
    pub fn int(&self, name: &str, range: std::ops::RangeInclusive<i64>, default: i64) -> Result<i64, Refusal> {
        match self.text(name)? {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(Refusal::bad(format!(
                    "`{name}` = `{text}` is not a whole number in {}..={}",
                    range.start(),
                    range.end()
                ))),
            },
        }
    }

    /// The street, community and category filters the URL asks for.
    pub fn filter(&self) -> Result<Filter, Refusal> {
        Ok(Filter {
            street: self.text("street")?.map(str::to_string),
            community: self.text("community")?.map(str::to_string),
            category: self.text("category")?.map(str::to_string),
            status: None,
        })
    }
}

/// What a page renders with.
pub struct Cx<'a> {
    pub console: &'a Console,
    pub viewer: &'a Viewer,
    pub lang: Lang,
    pub params: &'a Params,
    pub now_ms: i64,
}

impl Cx<'_> {
    /// Where each community is, as this node's routes say now.
    pub fn placement(&self) -> Placement {
        self.console.placement()
    }

    /// The URL's filter narrowed to what the viewer sees.
    pub fn filter(&self, placement: &Placement) -> Result<Filter, Refusal> {
        self.viewer.filter(self.params.filter()?, placement).map_err(|why| self.outside(why))
    }

    /// The refusal of rows outside the viewer's part, counted and logged.
    pub fn outside(&self, why: String) -> Refusal {
        self.console.refused("Console.Page", "scope", &self.viewer.operator, &why);
        Refusal::forbidden(why)
    }

    /// Runs `read` over the views on the engine, with `placement`.
    pub async fn read<R: Send + 'static>(
        &self,
        placement: Placement,
        read: impl FnOnce(&Views, &Ctx) -> R + Send + 'static,
    ) -> Result<R, Refusal> {
        self.console
            .shared
            .engine
            .read_views_async(move |views, registries| read(views, &Ctx { registries, placement: &placement }))
            .await
            .map_err(|e| Refusal::unavailable(e.to_string()))
    }

    pub fn t(&self, key: &'static str) -> &'static str {
        self.lang.t(key)
    }

    /// Whether this node's rows are communities (a street, a community) rather than
    /// streets (a district, a city).
    pub fn rows_are_communities(&self) -> bool {
        self.console.shared.tier.below().is_none_or(|below| below.is_leaf())
    }
}

/// A query's refusal by the core (a bad window, a bad month) as the page's.
pub fn refused(e: linli_core::Error) -> Refusal {
    Refusal::bad(e.to_string())
}
