//! Who calls, and how much of this server one caller may hold: the bounds that keep
//! one client from taking the watches or the engine thread from everyone else.
//!
//! A caller is the id its client certificate names (mutual TLS); in plaintext
//! (`insecure = true`) it is its IP address, which is all there is to go by.
//!
//! - Watches: at most [`WATCHES_MAX`] per server and [`WATCHES_PER_CALLER_MAX`] per
//!   caller; past either, `RESOURCE_EXHAUSTED` naming the caller and the bound.
//! - Queries (`Ask`, and every answer of a watch) run on the engine thread, between
//!   writes and replication: at most [`QUERIES_IN_FLIGHT_MAX`] at once on a server (the
//!   next waits up to [`QUERY_WAIT`] for a turn, then `RESOURCE_EXHAUSTED`), and at
//!   most [`QUERIES_PER_CALLER_MAX`] of one caller's `Ask`s at once (the next is refused
//!   at once).

use super::authority::Caller;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Request, Status};

/// Watches a server holds at once.
pub const WATCHES_MAX: usize = 64;
/// Watches one caller holds at once.
pub const WATCHES_PER_CALLER_MAX: usize = 8;
/// Queries answered at once on a server (each is a step of the engine thread).
pub const QUERIES_IN_FLIGHT_MAX: usize = 4;
/// One caller's `Ask`s at once.
pub const QUERIES_PER_CALLER_MAX: usize = 2;
/// How long a query waits for a turn before it is refused.
pub const QUERY_WAIT: Duration = Duration::from_secs(2);

/// Who `request` counts against: the id its certificate names, as [`Authority`] read
/// it (`who`); in plaintext, where nothing names it, its IP address.
///
/// [`Authority`]: super::authority::Authority
pub fn caller<T>(who: &Caller, request: &Request<T>) -> String {
    match (who.certified_id(), request.remote_addr()) {
        (Some(id), _) => id.to_string(),
        (None, Some(addr)) => addr.ip().to_string(),
        (None, None) => "an unknown caller".to_string(),
    }
}

/// What each caller holds: a count per kind, released when its [`Held`] drops.
#[derive(Default)]
struct Counts(Mutex<HashMap<(String, &'static str), usize>>);

/// One unit a caller holds; gives it back on drop.
pub struct Held {
    counts: Arc<Counts>,
    key: (String, &'static str),
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The bounds of one server's query service.
#[derive(Clone)]
pub struct Callers {
    counts: Arc<Counts>,
    watches: Arc<Semaphore>,
    queries: Arc<Semaphore>,
}

impl Default for Callers {
    fn default() -> Self {
        Self {
            counts: Arc::default(),
            watches: Arc::new(Semaphore::new(WATCHES_MAX)),
            queries: Arc::new(Semaphore::new(QUERIES_IN_FLIGHT_MAX)),
        }
    }
}

impl Callers {
    /// Watches open now, for metrics.
    pub fn watches_open(&self) -> usize {
        WATCHES_MAX.saturating_sub(self.watches.available_permits())
    }

    /// One more of `kind` for `caller`, within `max`.
    fn take(&self, caller: &str, kind: &'static str, max: usize) -> Result<Held, Status> {
        let key = (caller.to_string(), kind);
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(key.clone()).or_default();
        if *n >= max {
            return Err(Status::resource_exhausted(format!(
                "`{caller}` already holds {n} {kind}, the most one caller may: refused"
            )));
        }
        *n += 1;
        Ok(Held { counts: self.counts.clone(), key, _permit: None })
    }

    /// A watch for `caller`: its own bound, then the server's.
    pub fn watch(&self, caller: &str) -> Result<Held, Status> {
        let mut held = self.take(caller, "watches", WATCHES_PER_CALLER_MAX)?;
        let permit = self.watches.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "this server already serves {WATCHES_MAX} watches: `{caller}`'s is refused"
            ))
        })?;
        held._permit = Some(permit);
        Ok(held)
    }

    /// One of `caller`'s `Ask`s: its own bound, then a turn on the engine.
    pub async fn ask(&self, caller: &str) -> Result<Held, Status> {
        let mut held = self.take(caller, "queries in flight", QUERIES_PER_CALLER_MAX)?;
        held._permit = Some(self.turn(caller).await?);
        Ok(held)
    }

    /// A turn to run one query on the engine thread.
    pub async fn turn(&self, caller: &str) -> Result<OwnedSemaphorePermit, Status> {
        match tokio::time::timeout(QUERY_WAIT, self.queries.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Status::resource_exhausted(format!(
                "{QUERIES_IN_FLIGHT_MAX} queries were running for {} ms: `{caller}`'s is refused, try again",
                QUERY_WAIT.as_millis()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_caller_is_bounded_and_another_still_served() {
        let callers = Callers::default();
        let held: Vec<Held> = (0..WATCHES_PER_CALLER_MAX).map(|_| callers.watch("a").expect("watch")).collect();
        let refused = callers.watch("a").err().expect("one too many");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("`a` already holds 8 watches"), "{}", refused.message());
        let other = callers.watch("b").expect("another caller is served");
        drop(held);
        callers.watch("a").expect("served again once its watches ended");
        drop(other);
        let asks = [callers.ask("a").await.expect("ask"), callers.ask("a").await.expect("ask")];
        let refused = callers.ask("a").await.err().expect("a third at once");
        assert!(refused.message().contains("queries in flight"), "{}", refused.message());
        drop(asks);
    }
}
