//! The operators' web console: pages over HTTPS on `console_listen`, on any node that
//! sets it (a district, a street, or a community for its own data).
//!
//! - **Everything is in the binary** (`assets/`, the pages' HTML written here): no
//!   CDN, no external font or script. Community offices and district networks are
//!   often offline, and the Content-Security-Policy lets the page load nothing from
//!   anywhere but this node.
//! - **Answers come from the views**, through `linli_core::query`, the same code the
//!   `Query` service answers with, in one turn of the engine per page.
//! - **Sign-in with the operators' own credentials**: a ticket the operator's
//!   certificate's key signed (`linlictl console-ticket`; see `linli_tls::ticket`).
//!   A street's operator sees its street only, on the pages and their live parts
//!   ([`viewer`]). A refusal is a page that says who, what and why.
//! - **Live**: each page's `#live` part is re-rendered when the views change (at most
//!   every 100 ms) or, for what moves with the clock, every second, and pushed as
//!   server-sent events (`/events/...`). `/part/...` answers the same part once.
//!
//! Bounds: [`serve::CONNECTIONS_MAX`] connections (a connection over it is closed at
//! once), [`LIVE_MAX`] live streams (one over it gets 503 and the page stays as
//! loaded), request bodies of [`BODY_BYTES_MAX`], URLs of [`URL_BYTES_MAX`], and the
//! sessions' bounds in [`session`].

mod assets;
pub mod html;
pub mod i18n;
mod live;
pub mod pages;
mod respond;
pub mod serve;
pub mod session;
pub mod viewer;

use crate::link::Shared;
use crate::link::status::now_ms;
use crate::logging::LogBudget;
use crate::server::authority::Authority;
use crate::server::query::placement;
use i18n::Lang;
use linli_core::query::Placement;
use linli_core::schema::Registries;
use pages::{Cx, Params, Refusal};
use session::{Session, Sessions};
use std::sync::Arc;
use tokio::sync::Semaphore;
use viewer::Viewer;

pub use serve::serve;

/// The most live streams (open pages) one node serves at once.
pub const LIVE_MAX: usize = 64;
/// The largest request body taken (the sign-in form).
pub const BODY_BYTES_MAX: usize = 8 * 1024;
/// The longest URL (path and query) taken.
pub const URL_BYTES_MAX: usize = 2048;

/// One node's console.
pub struct Console {
    pub(crate) shared: Arc<Shared>,
    pub(crate) authority: Authority,
    pub(crate) registries: Registries,
    /// The CA sign-in tickets' certificates must chain to.
    ca_pem: String,
    /// This node's parent's id, if it has one.
    pub(crate) parent: Option<String>,
    sessions: Sessions,
    live: Arc<Semaphore>,
    /// Lines about refused sign-ins and pages, which anyone could cause without end.
    refusal_log: LogBudget,
}

/// The pages, by the last part of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Overdue,
    Records,
    Resolution,
    Tasks,
    Projects,
    Hours,
    Sites,
    Links,
}

impl Page {
    pub fn from_name(name: &str) -> Option<Page> {
        Some(match name {
            "overview" => Page::Overview,
            "overdue" => Page::Overdue,
            "records" => Page::Records,
            "resolution" => Page::Resolution,
            "tasks" => Page::Tasks,
            "projects" => Page::Projects,
            "hours" => Page::Hours,
            "sites" => Page::Sites,
            "links" => Page::Links,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::Overdue => "overdue",
            Page::Records => "records",
            Page::Resolution => "resolution",
            Page::Tasks => "tasks",
            Page::Projects => "projects",
            Page::Hours => "hours",
            Page::Sites => "sites",
            Page::Links => "links",
        }
    }

    /// The navigation item it belongs to: a records page is the overdue list's.
    fn nav(self) -> &'static str {
        match self {
            Page::Records | Page::Overdue => "/overdue",
            Page::Overview => "/overview",
            Page::Resolution => "/resolution",
            Page::Tasks => "/tasks",
            Page::Projects => "/projects",
            Page::Hours => "/hours",
            Page::Sites => "/sites",
            Page::Links => "/links",
        }
    }

    /// Whether it updates live; a records page is read page by page instead.
    fn live(self) -> bool {
        self != Page::Records
    }

    /// Whether it changes with the clock alone (ages, silences, lags): re-rendered
    /// every second, not only when the views change.
    fn ticks(self) -> bool {
        matches!(self, Page::Overview | Page::Overdue | Page::Sites | Page::Links)
    }

    async fn body(self, cx: &Cx<'_>) -> Result<String, Refusal> {
        match self {
            Page::Overview => pages::overview::body(cx).await,
            Page::Overdue => pages::overdue::body(cx).await,
            Page::Records => pages::records::body(cx).await,
            Page::Resolution => pages::resolution::body(cx).await,
            Page::Tasks => pages::tasks::body(cx).await,
            Page::Projects => pages::projects::body(cx).await,
            Page::Hours => pages::volunteers::body(cx).await,
            Page::Sites => pages::sites::body(cx).await,
            Page::Links => pages::links::body(cx).await,
        }
    }
}

impl Console {
    pub fn new(
        shared: Arc<Shared>,
        authority: Authority,
        registries: Registries,
        ca_pem: String,
        parent: Option<String>,
    ) -> Self {
        Console {
            shared,
            authority,
            registries,
            ca_pem,
            parent,
            sessions: Sessions::default(),
            live: Arc::new(Semaphore::new(LIVE_MAX)),
            refusal_log: LogBudget::default(),
        }
    }

    fn me(&self) -> String {
        self.shared.engine.node().to_string()
    }

    /// Where each community is, from this node's routes now.
    pub fn placement(&self) -> Placement {
        placement(self.shared.tier, &self.shared.routes())
    }

    /// The viewer of session `token`, or why there is none: `Ok(None)` when the token
    /// is no session (signed out, expired, forgotten at a restart).
    fn viewer(&self, token: Option<&str>) -> Result<Option<(Viewer, Session)>, Refusal> {
        let Some(session) = token.and_then(|t| self.sessions.get(t, now_ms())) else { return Ok(None) };
        let leaves_below = self.shared.tier.below().is_some_and(|below| below.is_leaf());
        let part = viewer::part_of(&session, &self.me(), self.parent.as_deref(), leaves_below, &self.shared.routes())
            .map_err(Refusal::forbidden)?;
        Ok(Some((Viewer::new(session.clone(), part), session)))
    }

    /// Renders `page`'s live part for `viewer`.
    async fn part(&self, page: Page, viewer: &Viewer, params: &Params, lang: Lang) -> Result<String, Refusal> {
        let cx = Cx { console: self, viewer, lang, params, now_ms: now_ms() as i64 };
        let started = std::time::Instant::now();
        let part = page.body(&cx).await;
        self.shared.engine.metrics().console_page(page.name()).observe_duration(started.elapsed());
        part
    }

    /// Counts a refusal (in `linli_calls_refused_total`) and logs it within the budget.
    fn refused(&self, what: &'static str, rule: &'static str, who: &str, why: &str) {
        self.authority.refusals.count(what, rule);
        if let Some(held_back) = self.refusal_log.allow() {
            tracing::warn!(what, rule, who, why, held_back, "console: refused");
        }
    }
}
