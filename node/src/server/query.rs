//! The `Query` service: the operators' aggregates, answered on the engine thread from
//! the views (never from documents), the Watch stream, drill-down pages of records and
//! the links' replication status.
//!
//! Bounds: lists at most `query::LIST_MAX` rows; watches and queries per server and
//! per caller as [`super::callers`] says; each watch holds one
//! reply in its queue and is re-answered at most every [`WATCH_INTERVAL`]. A watcher that
//! reads slower than answers change skips the intermediate ones: it is answered again
//! once it has taken the last one, with the state of that moment.

use super::authority::{Authority, Show};
use super::callers::{Callers, caller};
use super::registry::status;
use crate::link::Shared;
use crate::link::status::now_ms;
use linli_core::ids::RecordKey;
use linli_core::link::{Routes, Tier};
use linli_core::query::{self, Ctx, Placement, Query};
use linli_proto::convert::{query_from, reply};
use linli_proto::v1;
use linli_proto::v1::query_server;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub use super::callers::WATCHES_MAX;
/// Shortest time between two answers of one watch: a burst of writes is one answer.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How often a watch of a query that depends on the clock (overdue...) is re-asked
/// when nothing is written.
pub const WATCH_CLOCK_TICK: Duration = Duration::from_secs(1);

pub struct QueryService {
    shared: Arc<Shared>,
    children: BTreeSet<String>,
    callers: Callers,
    authority: Authority,
}

impl QueryService {
    /// `callers`: the bounds on watches and queries, shared with the metrics.
    pub fn new(shared: Arc<Shared>, children: BTreeSet<String>, authority: Authority, callers: Callers) -> Self {
        Self { shared, children, callers, authority }
    }
}

/// Which street each community is under, from this node's routes: where the children
/// are streets (at a district) each child's subtree is its communities; where they are
/// communities (at a street), every community is its own; a community knows no street.
/// Higher up (at a city) a child's subtree is its streets and communities together,
/// and the place of a community is the child it comes through, its district: the
/// `street` of a city's answers is a district, and a district answers by street.
pub fn placement(tier: Tier, routes: &Routes) -> Placement {
    let mut placement = Placement::default();
    match tier.below() {
        None => {}
        Some(children) if children.is_leaf() => {
            for owner in routes.subtree() {
                placement.street_of.insert(owner, routes.me.clone());
            }
        }
        Some(_) => {
            for (child, owners) in &routes.children {
                for owner in owners {
                    placement.street_of.insert(owner.clone(), child.clone());
                }
            }
        }
    }
    placement
}

/// Answers one query from the views.
async fn ask(shared: &Shared, request: v1::QueryRequest) -> Result<v1::QueryReply, Status> {
    let (query, at_ms) = query_from(request, now_ms() as i64).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let placement = {
        let routes = shared.routes.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        placement(shared.tier, &routes)
    };
    let answered = shared
        .engine
        .read_views_async(move |views, registries| {
            let ctx = Ctx { registries, placement: &placement };
            query::answer(views, &ctx, &query).map(|answer| reply(at_ms, &query, &answer))
        })
        .await
        .map_err(status)?;
    answered.map_err(|e| status(e.into()))
}

fn query_name(request: &v1::QueryRequest) -> &'static str {
    use v1::query_request::Query as Q;
    match &request.query {
        Some(Q::Open(_)) => "open",
        Some(Q::OpenList(_)) => "open_list",
        Some(Q::Overdue(_)) => "overdue",
        Some(Q::Resolution(_)) => "resolution",
        Some(Q::Funnel(_)) => "funnel",
        Some(Q::Projects(_)) => "projects",
        Some(Q::Hours(_)) => "hours",
        Some(Q::Sites(_)) => "sites",
        None => "none",
    }
}

/// Waits until the views moved since `changed` was last marked seen, then lets a burst
/// of writes land ([`WATCH_INTERVAL`]), or until `tick` passed: `true`. `false` when
/// the engine or the server stops. A caller marks the value seen
/// (`borrow_and_update`) just before it reads the views, so a change made while it
/// answers is answered again, not lost. Followed by `Query.Watch` and the console's
/// live pages.
pub async fn views_moved(
    changed: &mut tokio::sync::watch::Receiver<u64>,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    tick: Option<Duration>,
) -> bool {
    tokio::select! {
        moved = changed.changed() => if moved.is_err() { return false },
        _ = tokio::time::sleep(tick.unwrap_or_default()), if tick.is_some() => {},
        _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => return false,
    }
    tokio::time::sleep(WATCH_INTERVAL).await;
    true
}

/// Whether the answer may change with the clock alone.
fn moves_with_clock(request: &v1::QueryRequest) -> bool {
    request.at_ms.is_none() && query_from(request.clone(), 0).is_ok_and(|(q, _): (Query, i64)| q.depends_on_clock())
}

#[tonic::async_trait]
impl query_server::Query for QueryService {
    #[tracing::instrument(skip_all, name = "query.ask", fields(query = query_name(request.get_ref())))]
    async fn ask(&self, request: Request<v1::QueryRequest>) -> Result<Response<v1::QueryReply>, Status> {
        let who = self.authority.caller("Query.Ask", &request)?;
        self.authority.may_see_all("Query.Ask", &who)?;
        let _turn = self.callers.ask(&caller(&who, &request)).await?;
        let kind = query_name(request.get_ref());
        let started = std::time::Instant::now();
        let answered = ask(&self.shared, request.into_inner()).await;
        self.shared.engine.metrics().query(kind).observe_duration(started.elapsed());
        Ok(Response::new(answered?))
    }

    type WatchStream = ReceiverStream<Result<v1::QueryReply, Status>>;

    #[tracing::instrument(skip_all, name = "query.watch", fields(query = query_name(request.get_ref())))]
    async fn watch(&self, request: Request<v1::QueryRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let who = self.authority.caller("Query.Watch", &request)?;
        self.authority.may_see_all("Query.Watch", &who)?;
        let caller = caller(&who, &request);
        let permit = self.callers.watch(&caller)?;
        let request = request.into_inner();
        let mut changed = self.shared.engine.views_changed();
        changed.borrow_and_update();
        // A bad query fails the call itself, not the stream.
        let first = {
            let _turn = self.callers.turn(&caller).await?;
            ask(&self.shared, request.clone()).await?
        };
        let callers = self.callers.clone();
        let (tx, rx) = mpsc::channel(1);
        let shared = self.shared.clone();
        let clock = moves_with_clock(&request);
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                let _permit = permit;
                let mut shutdown = shared.shutdown.clone();
                let mut last = first.answer.clone();
                if tx.send(Ok(first)).await.is_err() {
                    return;
                }
                loop {
                    tokio::select! {
                        moved = views_moved(&mut changed, &mut shutdown, clock.then_some(WATCH_CLOCK_TICK)) => {
                            if !moved { return }
                        }
                        _ = tx.closed() => return,
                    }
                    // Waits for a turn on the engine, as long as the watcher is there.
                    let _turn = loop {
                        if let Ok(turn) = callers.turn(&caller).await {
                            break turn;
                        }
                        if tx.is_closed() {
                            return;
                        }
                    };
                    changed.borrow_and_update();
                    let answer = ask(&shared, request.clone()).await;
                    match answer {
                        Ok(reply) if reply.answer == last => {}
                        Ok(reply) => {
                            last = reply.answer.clone();
                            // Waits while the watcher has not taken the previous answer;
                            // changes meanwhile are folded into the next one.
                            if tx.send(Ok(reply)).await.is_err() {
                                return;
                            }
                        }
                        Err(status) => {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    }
                }
            },
            span,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    #[tracing::instrument(skip_all, name = "query.records")]
    async fn records(&self, request: Request<v1::RecordsRequest>) -> Result<Response<v1::RecordsReply>, Status> {
        let who = self.authority.caller("Query.Records", &request)?;
        let v1::RecordsRequest { community, registry, limit, after } = request.into_inner();
        let target = format!("the {registry} of `{community}`");
        let show = self.authority.may_read("Query.Records", &who, &community, &target)?;
        let limit = query::limit(limit as usize).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let after = match after.filter(|a| !a.is_empty()) {
            Some(after) => Some(RecordKey::parse(&after).map_err(|e| Status::invalid_argument(format!("after: {e}")))?),
            None => None,
        };
        let records =
            self.shared.engine.list_page_async(community, registry.clone(), after, limit).await.map_err(status)?;
        let next_after = (records.len() == limit).then(|| records.last().map(|r| r.key.to_string())).flatten();
        let records_json = records
            .iter()
            .map(|r| match show {
                Show::All => r.to_json(),
                Show::NoPersonal => self.authority.without_personal(&registry, r.to_json()),
            })
            .map(|json| json.to_string())
            .collect();
        Ok(Response::new(v1::RecordsReply { records_json, next_after }))
    }

    #[tracing::instrument(skip_all, name = "query.links")]
    async fn links(&self, request: Request<v1::LinksRequest>) -> Result<Response<v1::LinksReply>, Status> {
        let who = self.authority.caller("Query.Links", &request)?;
        self.authority.may_see_all("Query.Links", &who)?;
        let now = now_ms();
        let log_end = *self.shared.engine.log_end().borrow();
        let links = self
            .shared
            .links
            .all()
            .into_iter()
            .map(|(peer, s)| v1::LinkRow {
                role: if self.children.contains(&peer) { "child" } else { "parent" }.to_string(),
                peer,
                connected: s.connected,
                last_contact_ms: s.last_contact_ms,
                lag_changes: s.lag_changes(),
                lag_ms: s.lag_ms(now),
                backlog_changes: log_end.saturating_sub(s.acked_through),
                sessions: s.sessions,
                refused_here: s.refused_here,
                refused_there: s.refused_there,
                acked_through: s.acked_through,
                peer_log_end: s.peer_log_end,
                applied_through: s.applied_through,
                durable_above: s.durable_above,
            })
            .collect();
        Ok(Response::new(v1::LinksReply {
            node: self.shared.engine.node().to_string(),
            tier: self.shared.tier.as_str().to_string(),
            log_end,
            at_ms: now as i64,
            links,
        }))
    }
}
