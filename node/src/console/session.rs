//! Who is signed in to the console: sessions made from sign-in tickets (see
//! `linli_tls::ticket`), held in memory by this node only.
//!
//! Bounds: at most [`SESSIONS_MAX`] sessions; when a sign-in finds them full, the
//! expired ones go first, then the one that expires soonest (its operator signs in
//! again). A ticket's id is remembered until the ticket expires, so a ticket signs in
//! once; at most [`TICKETS_REMEMBERED_MAX`] are remembered, and a sign-in that finds
//! them all unexpired is refused (the operator retries a minute later). A restart
//! forgets every session: operators sign in again.

use crate::server::authority::{Role, operator_of};
use linli_tls::ticket::Ticket;
use std::collections::HashMap;
use std::sync::Mutex;

pub const SESSIONS_MAX: usize = 256;
/// How long a session lasts after its sign-in: an operator's working day.
pub const SESSION_MS: u64 = 12 * 3600 * 1000;
pub const TICKETS_REMEMBERED_MAX: usize = 4096;
pub const SESSION_COOKIE: &str = "linli_session";

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The identity its certificate names (`operator--lg-s1--li`).
    pub operator: String,
    pub role: Role,
    pub scope: String,
    pub expires_ms: u64,
}

/// Why a ticket did not sign in (beyond what `linli_tls::ticket::verify` refuses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInRefused {
    /// The ticket was used before.
    Used,
    /// The certificate is a node's, not an operator's.
    NotAnOperator { id: String },
    /// Too many tickets are remembered; try again later.
    Busy,
}

impl std::fmt::Display for SignInRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInRefused::Used => write!(f, "this ticket was used already; make a new one"),
            SignInRefused::NotAnOperator { id } => {
                write!(f, "`{id}` is a node's certificate; sign in with `<role>--<scope>--<name>`")
            }
            SignInRefused::Busy => {
                write!(f, "{TICKETS_REMEMBERED_MAX} sign-ins in the last 15 minutes: try again in a minute")
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    by_token: HashMap<String, Session>,
    /// Tickets used, by id, with when they expire.
    used: HashMap<String, u64>,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

impl Sessions {
    /// Signs `ticket` in: a new session's token, or why not.
    pub fn sign_in(&self, ticket: &Ticket, token: String, now_ms: u64) -> Result<(String, Session), SignInRefused> {
        let Some((role, scope)) = operator_of(&ticket.operator) else {
            return Err(SignInRefused::NotAnOperator { id: ticket.operator.clone() });
        };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.used.contains_key(&ticket.id) {
            return Err(SignInRefused::Used);
        }
        if inner.used.len() >= TICKETS_REMEMBERED_MAX {
            inner.used.retain(|_, expires| *expires > now_ms);
            if inner.used.len() >= TICKETS_REMEMBERED_MAX {
                return Err(SignInRefused::Busy);
            }
        }
        inner.used.insert(ticket.id.clone(), ticket.expires_ms);
        if inner.by_token.len() >= SESSIONS_MAX {
            inner.by_token.retain(|_, s| s.expires_ms > now_ms);
        }
        if inner.by_token.len() >= SESSIONS_MAX {
            let soonest = inner.by_token.iter().min_by_key(|(_, s)| s.expires_ms).map(|(t, _)| t.clone());
            if let Some(soonest) = soonest {
                inner.by_token.remove(&soonest);
            }
        }
        let session = Session { operator: ticket.operator.clone(), role, scope, expires_ms: now_ms + SESSION_MS };
        inner.by_token.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The session of `token`, if it is one and has not expired.
    pub fn get(&self, token: &str, now_ms: u64) -> Option<Session> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_token.get(token).filter(|s| s.expires_ms > now_ms).cloned()
    }

    pub fn sign_out(&self, token: &str) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).by_token.remove(token);
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, operator: &str) -> Ticket {
        Ticket { operator: operator.into(), expires_ms: 1_000 + 60_000, id: id.into() }
    }

    #[test]
    fn a_ticket_signs_in_once_and_its_session_ends_on_sign_out() {
        let sessions = Sessions::default();
        let (token, session) = sessions.sign_in(&ticket("t1", "operator--lg-s1--li"), "a".into(), 1_000).expect("in");
        assert_eq!((session.role, session.scope.as_str()), (Role::Operator, "lg-s1"));
        assert_eq!(sessions.get(&token, 2_000), Some(session.clone()));
        assert_eq!(sessions.sign_in(&ticket("t1", "operator--lg-s1--li"), "b".into(), 1_500), Err(SignInRefused::Used));
        assert_eq!(sessions.get("b", 2_000), None);
        assert_eq!(sessions.get(&token, 1_000 + SESSION_MS), None, "expired");
        sessions.sign_out(&token);
        assert_eq!(sessions.get(&token, 2_000), None);
        let node = sessions.sign_in(&ticket("t2", "lg-s1"), "c".into(), 1_000);
        assert_eq!(node, Err(SignInRefused::NotAnOperator { id: "lg-s1".into() }));
    }

    #[test]
    fn sessions_are_bounded_the_soonest_to_expire_goes_first() {
        let sessions = Sessions::default();
        for i in 0..SESSIONS_MAX + 1 {
            let t = ticket(&format!("t{i}"), "auditor--lg--a");
            sessions.sign_in(&t, format!("s{i}"), 1_000 + i as u64).expect("in");
        }
        assert_eq!(sessions.get("s0", 2_000), None, "the oldest made room");
        assert!(sessions.get(&format!("s{SESSIONS_MAX}"), 2_000).is_some());
        assert!(sessions.get("s1", 2_000).is_some());
    }

    #[test]
    fn a_cookie_is_read_by_its_name() {
        assert_eq!(cookie("a=1; linli_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie("linli_sessionx=1", SESSION_COOKIE), None);
    }
}
