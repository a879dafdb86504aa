//! Who may call what: every `Registry` and `Query` call is checked against the
//! caller's role and scope before it reaches the engine.
//!
//! A caller is authenticated by its client certificate (mutual TLS). An operator's
//! certificate names `<role>--<scope>--<name>` (one DNS name, e.g.
//! `staff--lg-s1-c1--wang`, `operator--lg-s1--li`, `auditor--lg--audit`), issued by
//! the district's CA like a node's (`linlictl certs`):
//!
//! | role       | scope            | may                                                        |
//! |------------|------------------|------------------------------------------------------------|
//! | `staff`    | one community    | write and read its records, personal fields included       |
//! | `operator` | a street/district| queries, dispatch writes and reads in its subtree; no personal fields; splits |
//! | `auditor`  | a street/district| aggregates only (`Ask`, `Watch`, `Links`)                  |
//!
//! A scope covers an owner when it is that owner, this node (whose subtree holds
//! everything it serves), this node's parent, or a child of this node with the owner
//! below it (from this node's own routes). Aggregates answer for this node's whole
//! subtree, so `Ask`, `Watch` and `Links` need a scope of this node or its parent.
//! A node's own certificate (a link peer's) makes no operator's calls.
//!
//! A refusal is `UNAUTHENTICATED` (no certificate) or `PERMISSION_DENIED` naming the
//! caller, the target and the rule; it is counted ([`Refusals`], in the metrics) and
//! changes nothing. In plaintext (`insecure = true`) nothing authenticates a caller:
//! every call is taken, as an unchecked caller, and the node logs that at start.

use crate::link::Shared;
use crate::logging::LogBudget;
use linli_core::schema::Registries;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tonic::{Request, Status};

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Staff,
    Operator,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }
}

/// Who calls, as far as this node can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Plaintext: nothing authenticates the caller; every call is taken.
    Unchecked,
    /// An operator's certificate: its id, role and scope.
    Operator { id: String, role: Role, scope: String },
    /// A certificate that names no role (a node's): no operator's calls.
    Node { id: String },
}

impl Caller {
    /// The id its certificate names; `None` in plaintext.
    pub fn certified_id(&self) -> Option<&str> {
        match self {
            Caller::Unchecked => None,
            Caller::Operator { id, .. } | Caller::Node { id } => Some(id),
        }
    }

    fn id(&self) -> &str {
        match self {
            Caller::Unchecked => "an unchecked caller",
            Caller::Operator { id, .. } | Caller::Node { id } => id,
        }
    }
}

/// The role and scope an operator's certificate id names, if it names one.
pub fn operator_of(id: &str) -> Option<(Role, String)> {
    let mut parts = id.split("--");
    let role = match parts.next()? {
        "staff" => Role::Staff,
        "operator" => Role::Operator,
        "auditor" => Role::Auditor,
        _ => return None,
    };
    let (scope, name) = (parts.next()?, parts.next()?);
    (parts.next().is_none() && !scope.is_empty() && !name.is_empty()).then(|| (role, scope.to_string()))
}

/// Refused calls, by RPC and rule, for the metrics.
#[derive(Default, Clone)]
pub struct Refusals(Arc<Mutex<BTreeMap<(&'static str, &'static str), u64>>>);

impl Refusals {
    pub(crate) fn count(&self, rpc: &'static str, rule: &'static str) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((rpc, rule)).or_default() += 1;
    }

    /// Every (rpc, rule) with its count.
    pub fn all(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// What a read may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Every field, personal ones included (the community's own staff; plaintext).
    All,
    /// Replicated fields only.
    NoPersonal,
}

/// The checks of one server.
#[derive(Clone)]
pub struct Authority {
    shared: Arc<Shared>,
    registries: Registries,
    /// Mutual TLS: callers are authenticated by certificate.
    secure: bool,
    /// This node's parent's id, if it has one.
    parent: Option<String>,
    pub refusals: Refusals,
    /// Lines about refused calls, which a client could make without end.
    refusal_log: Arc<LogBudget>,
}

impl Authority {
    pub fn new(shared: Arc<Shared>, registries: Registries, secure: bool, parent: Option<String>) -> Self {
        Self { shared, registries, secure, parent, refusals: Refusals::default(), refusal_log: Arc::default() }
    }

    /// The caller of `request`; `UNAUTHENTICATED` over TLS without a certificate id.
    pub fn caller<T>(&self, rpc: &'static str, request: &Request<T>) -> Result<Caller, Status> {
        if !self.secure {
            return Ok(Caller::Unchecked);
        }
        let certified = request
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .and_then(|first| linli_tls::peer_identity(&first).ok());
        match certified {
            None => {
                self.refusals.count(rpc, "no certificate");
                Err(Status::unauthenticated(format!("{rpc}: the caller showed no certificate naming it")))
            }
            Some(id) => Ok(match operator_of(&id) {
                Some((role, scope)) => Caller::Operator { id, role, scope },
                None => Caller::Node { id },
            }),
        }
    }

    fn me(&self) -> String {
        self.shared.engine.node().to_string()
    }

    /// Whether `scope` covers documents of `owner` at this node (see the module docs).
    fn covers(&self, scope: &str, owner: &str) -> bool {
        if scope == owner || self.parent.as_deref() == Some(scope) {
            return true;
        }
        let routes = self.shared.routes.read().unwrap_or_else(|p| p.into_inner());
        match scope == routes.me {
            true => routes.subtree().contains(owner),
            false => routes.children.get(scope).is_some_and(|owners| owners.contains(owner)),
        }
    }

    fn refuse(&self, rpc: &'static str, caller: &Caller, target: &str, rule: &'static str, why: String) -> Status {
        self.refusals.count(rpc, rule);
        if let Some(held_back) = self.refusal_log.allow() {
            tracing::warn!(rpc, caller = caller.id(), target, rule, held_back, "call refused");
        }
        Status::permission_denied(format!("{rpc} by `{}` on {target}: refused ({rule}): {why}", caller.id()))
    }

    /// The operator's role and scope, or the refusal of a node's certificate.
    fn operator<'a>(
        &self,
        rpc: &'static str,
        caller: &'a Caller,
        target: &str,
    ) -> Result<Option<(Role, &'a str)>, Status> {
        match caller {
            Caller::Unchecked => Ok(None),
            Caller::Operator { role, scope, .. } => Ok(Some((*role, scope))),
            Caller::Node { id } => Err(self.refuse(
                rpc,
                caller,
                target,
                "role",
                format!("`{id}` is a node's certificate; operators' calls need `<role>--<scope>--<name>`"),
            )),
        }
    }

    /// A write to a record of `owner` in `registry`, setting `fields`.
    pub fn may_write(
        &self,
        caller: &Caller,
        owner: &str,
        registry: &str,
        fields: &[&str],
        target: &str,
    ) -> Result<(), Status> {
        const RPC: &str = "Registry.Write";
        let Some((role, scope)) = self.operator(RPC, caller, target)? else { return Ok(()) };
        match role {
            Role::Auditor => Err(self.refuse(RPC, caller, target, "role", "an auditor reads aggregates only".into())),
            Role::Staff if scope != owner => Err(self.refuse(
                RPC,
                caller,
                target,
                "scope",
                format!("staff of `{scope}` write that community's records only"),
            )),
            Role::Staff => Ok(()),
            Role::Operator if !self.covers(scope, owner) => {
                Err(self.refuse(RPC, caller, target, "scope", format!("`{owner}` is not in the subtree of `{scope}`")))
            }
            Role::Operator => match fields.iter().find(|field| self.is_personal(registry, field)) {
                Some(field) => Err(self.refuse(
                    RPC,
                    caller,
                    target,
                    "personal",
                    format!("`{field}` is personal: only the community's staff write it"),
                )),
                None => Ok(()),
            },
        }
    }

    /// A read of records of `owner` (`Get`, `Records`): what it may show.
    pub fn may_read(&self, rpc: &'static str, caller: &Caller, owner: &str, target: &str) -> Result<Show, Status> {
        let Some((role, scope)) = self.operator(rpc, caller, target)? else { return Ok(Show::All) };
        match role {
            Role::Auditor => Err(self.refuse(rpc, caller, target, "role", "an auditor reads aggregates only".into())),
            Role::Staff if scope == owner => Ok(Show::All),
            Role::Staff => Err(self.refuse(
                rpc,
                caller,
                target,
                "scope",
                format!("staff of `{scope}` read that community's records only"),
            )),
            Role::Operator if self.covers(scope, owner) => Ok(Show::NoPersonal),
            Role::Operator => {
                Err(self.refuse(rpc, caller, target, "scope", format!("`{owner}` is not in the subtree of `{scope}`")))
            }
        }
    }

    /// Aggregates (`Ask`, `Watch`) and the links' status: they answer for this node's
    /// whole subtree.
    pub fn may_see_all(&self, rpc: &'static str, caller: &Caller) -> Result<(), Status> {
        let me = self.me();
        let target = format!("node `{me}`");
        let Some((role, scope)) = self.operator(rpc, caller, &target)? else { return Ok(()) };
        let whole = scope == me || self.parent.as_deref() == Some(scope);
        let staff_here = role == Role::Staff && scope == me;
        match (role, whole) {
            (Role::Operator | Role::Auditor, true) => Ok(()),
            _ if staff_here => Ok(()),
            _ => Err(self.refuse(
                rpc,
                caller,
                &target,
                "scope",
                format!(
                    "{} of `{scope}`: this node answers for its whole subtree; ask at the node of your scope",
                    role.as_str()
                ),
            )),
        }
    }

    /// A split of `from` into `targets`.
    /// A backup holds everything of this node, personal fields too: its own staff, or
    /// an operator of the whole node (its scope or its parent's), may take one. It
    /// stays on the node's disk.
    pub fn may_back_up(&self, caller: &Caller) -> Result<(), Status> {
        const RPC: &str = "Registry.Backup";
        let me = self.me();
        let target = format!("node `{me}`");
        let Some((role, scope)) = self.operator(RPC, caller, &target)? else { return Ok(()) };
        let whole = scope == me || self.parent.as_deref() == Some(scope);
        match role {
            Role::Staff if scope == me => Ok(()),
            Role::Operator if whole => Ok(()),
            _ => Err(self.refuse(
                RPC,
                caller,
                &target,
                "role",
                "a backup is taken by the node's own staff or an operator of the whole node".into(),
            )),
        }
    }

    pub fn may_split(&self, caller: &Caller, from: &str, targets: &[&str]) -> Result<(), Status> {
        const RPC: &str = "Registry.Split";
        let target = format!("community `{from}`");
        let Some((role, scope)) = self.operator(RPC, caller, &target)? else { return Ok(()) };
        if role != Role::Operator {
            return Err(self.refuse(RPC, caller, &target, "role", "only an operator splits a community".into()));
        }
        match std::iter::once(&from).chain(targets).find(|owner| !self.covers(scope, owner)) {
            Some(owner) => {
                Err(self.refuse(RPC, caller, &target, "scope", format!("`{owner}` is not in the subtree of `{scope}`")))
            }
            None => Ok(()),
        }
    }

    fn is_personal(&self, registry: &str, field: &str) -> bool {
        self.registries.get(registry).ok().and_then(|schema| schema.field(field).map(|f| f.local)).unwrap_or(false)
    }

    /// `json` (a record as JSON) without the personal fields of `registry`.
    pub fn without_personal(&self, registry: &str, mut json: serde_json::Value) -> serde_json::Value {
        if let (Ok(schema), Some(map)) = (self.registries.get(registry), json.as_object_mut()) {
            map.retain(|field, _| schema.field(field).is_none_or(|f| !f.local));
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_certificate_names_role_scope_and_name() {
        assert_eq!(operator_of("staff--lg-s1-c1--wang"), Some((Role::Staff, "lg-s1-c1".into())));
        assert_eq!(operator_of("operator--lg--li"), Some((Role::Operator, "lg".into())));
        assert_eq!(operator_of("auditor--lg.s1--a"), Some((Role::Auditor, "lg.s1".into())));
        for node in ["lg-s1-c1", "lg", "staff--lg-s1", "admin--lg--x", "staff----x", "staff--a--b--c"] {
            assert_eq!(operator_of(node), None, "{node}");
        }
    }
}
