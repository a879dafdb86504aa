//! One community's schedule: setup records, arrivals on the daily curve, and the
//! follow-up steps of each record, written at the node that would write them in life.

use super::clock::{HOUR_MS, curve};
use super::fields;
use crate::rng::Rng;
use crate::topology::Community;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::schema::calendar::month_shard;
use linli_core::value::Value;
use linli_core::write::{FieldOp, Target, Write};
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

const MINUTE_MS: i64 = 60_000;
/// The highest value of the daily curve (the weekend evening peak), for thinning.
const CURVE_MAX: f64 = 2.1 * 1.3 / (0.852_083_333_333_333_3 * (5.0 + 2.0 * 1.3) / 7.0);

/// What an arrival starts, with its weight in the mix.
const ARRIVALS: [(Arrival, f64); 5] = [
    (Arrival::Request, 0.45),
    (Arrival::Hours, 0.30),
    (Arrival::Task, 0.10),
    (Arrival::SiteReport, 0.10),
    (Arrival::ProjectWork, 0.05),
];

/// Writes an arrival leads to on average once its record has run its course
/// (a request: create, dispatch, accept, resolve, half of them closed; a task:
/// create, dispatch, two claims, complete). Rates are given in writes.
pub const WRITES_PER_ARRIVAL: f64 = 0.45 * 4.3 + 0.30 + 0.10 * 5.0 + 0.10 + 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Arrival {
    Request,
    Hours,
    Task,
    SiteReport,
    ProjectWork,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Grid(u32),
    Site(u32),
    Project(u32),
    NewRequest,
    NewTask,
    Hours,
    SiteReport,
    ProjectWork,
    Dispatch(RecordKey),
    Reject(RecordKey),
    Accept(RecordKey),
    Resolve(RecordKey),
    Close(RecordKey),
    DispatchTask(RecordKey),
    Claim { key: RecordKey, at_street: bool },
    Complete(RecordKey),
}

impl Step {
    /// The record the writer must read before deciding, if any.
    pub fn reads(&self) -> Option<&RecordKey> {
        match self {
            Step::Dispatch(key)
            | Step::Reject(key)
            | Step::Accept(key)
            | Step::Resolve(key)
            | Step::Close(key)
            | Step::DispatchTask(key)
            | Step::Claim { key, .. }
            | Step::Complete(key) => Some(key),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Step::Grid(_) => "grid",
            Step::Site(_) => "site",
            Step::Project(_) => "project",
            Step::NewRequest => "request",
            Step::NewTask => "task",
            Step::Hours => "hours",
            Step::SiteReport => "site report",
            Step::ProjectWork => "project work",
            Step::Dispatch(_) => "dispatch",
            Step::Reject(_) => "reject",
            Step::Accept(_) => "accept",
            Step::Resolve(_) => "resolve",
            Step::Close(_) => "close",
            Step::DispatchTask(_) => "dispatch task",
            Step::Claim { .. } => "claim",
            Step::Complete(_) => "complete",
        }
    }
}

/// A step due at a virtual time, to be written by `writer`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Action {
    pub due_ms: i64,
    seq: u64,
    pub writer: String,
    pub step: Step,
    /// Times the writer did not yet see the state the step moves from.
    pub waits: u32,
}

pub enum Decision {
    Write(Write),
    /// The writer does not see the record's state yet (it is still replicating).
    Wait,
    /// Nothing to do (the record went another way).
    Skip,
}

#[derive(Debug, Clone)]
struct Site {
    key: RecordKey,
    open: bool,
    /// A station that stopped reporting after setup (a broken terminal).
    silent: bool,
}

#[derive(Debug, Clone)]
struct Project {
    key: RecordKey,
    status: &'static str,
    budget: i64,
    spent: i64,
}

pub struct CommunityLoad {
    pub id: String,
    pub street: String,
    profile: Community,
    rng: Rng,
    arrivals_per_ms: f64,
    next_arrival_ms: i64,
    queue: BinaryHeap<Reverse<Action>>,
    seq: u64,
    made: u64,
    sites: Vec<Site>,
    projects: Vec<Project>,
    /// (member, month) -> that member's hours record.
    hours: BTreeMap<(u32, String), RecordKey>,
}

impl CommunityLoad {
    /// `arrivals_per_ms`: arrivals per virtual ms for an average community.
    pub fn new(profile: Community, street: &str, rng: Rng, start_ms: i64, arrivals_per_ms: f64) -> Self {
        let mut load = Self {
            id: profile.id.clone(),
            street: street.to_string(),
            arrivals_per_ms: arrivals_per_ms * profile.weight,
            profile,
            rng,
            next_arrival_ms: start_ms,
            queue: BinaryHeap::new(),
            seq: 0,
            made: 0,
            sites: Vec::new(),
            projects: Vec::new(),
            hours: BTreeMap::new(),
        };
        for grid in 0..load.profile.grids {
            load.push(start_ms, Writer::Community, Step::Grid(grid));
        }
        for site in 0..=load.profile.v_stations {
            load.push(start_ms, Writer::Community, Step::Site(site));
        }
        for project in 0..load.rng.range(2, 5) as u32 {
            load.push(start_ms, Writer::Community, Step::Project(project));
        }
        load.next_arrival_ms = load.draw_arrival(start_ms);
        load
    }

    /// The virtual time of the next action.
    pub fn next_due_ms(&self) -> i64 {
        self.queue.peek().map_or(self.next_arrival_ms, |Reverse(a)| a.due_ms.min(self.next_arrival_ms))
    }

    /// The next action, arrivals drawn as their time comes.
    pub fn pop(&mut self) -> Action {
        if self.queue.peek().is_none_or(|Reverse(a)| a.due_ms > self.next_arrival_ms) {
            let at = self.next_arrival_ms;
            let arrival = ARRIVALS[self.rng.weighted(&ARRIVALS.map(|(_, w)| w))].0;
            let step = match arrival {
                Arrival::Request => Step::NewRequest,
                Arrival::Hours => Step::Hours,
                Arrival::Task => Step::NewTask,
                Arrival::SiteReport => Step::SiteReport,
                Arrival::ProjectWork => Step::ProjectWork,
            };
            self.push(at, Writer::Community, step);
            self.next_arrival_ms = self.draw_arrival(at);
        }
        match self.queue.pop() {
            Some(Reverse(action)) => action,
            None => unreachable!("an arrival was just pushed"),
        }
    }

    /// The community was moved under `street`: the steps its old street would have
    /// written are its new street's now.
    pub fn set_street(&mut self, street: &str) {
        let old = std::mem::replace(&mut self.street, street.to_string());
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue
            .into_iter()
            .map(|Reverse(mut action)| {
                if action.writer == old {
                    action.writer = street.to_string();
                }
                Reverse(action)
            })
            .collect();
    }

    /// Puts back an action whose writer did not see its state yet, `retry_ms` later.
    /// A step of a street that is no longer this community's goes to its street now.
    pub fn retry(&mut self, mut action: Action, retry_ms: i64) {
        if action.writer != self.id && action.writer != self.street {
            action.writer = self.street.clone();
        }
        action.due_ms += retry_ms;
        action.waits += 1;
        self.seq += 1;
        action.seq = self.seq;
        self.queue.push(Reverse(action));
    }

    /// What `action` writes at `now_ms`, given the record as its writer sees it.
    pub fn decide(&mut self, action: &Action, now_ms: i64, record: Option<&Record>) -> Decision {
        let status = record.and_then(|r| r.get("status")).and_then(Value::as_str).map(str::to_string);
        let status = status.as_deref();
        let rng = &mut self.rng;
        let id = self.id.as_str();
        let set = |field: &str, value: serde_json::Value| FieldOp::Set { field: field.into(), value };
        let moves = |key: &RecordKey, from: &str, ops: Vec<FieldOp>| match status {
            Some(s) if s == from => Decision::Write(Write::update(key.clone(), ops)),
            None => Decision::Wait,
            Some(_) => Decision::Wait,
        };
        match &action.step {
            Step::Grid(n) => Decision::Write(Write::create(
                id,
                "grids",
                &[
                    ("name", json!(fields::grid_name(n + 1))),
                    ("kind", json!("base")),
                    ("party_members", json!(rng.range(2, 12))),
                    ("leader", fields::person(rng)),
                    ("leader_phone", fields::phone(rng)),
                ],
            )),
            Step::Site(n) => {
                let (kind, name) = match n {
                    0 => ("community_centre", "党群服务中心".to_string()),
                    n => ("v_station", format!("党群服务V站{n}")),
                };
                let open_24h = *n > 0 && *n <= self.profile.v_stations_24h;
                Decision::Write(Write::create(
                    id,
                    "sites",
                    &[
                        ("kind", json!(kind)),
                        ("name", json!(name)),
                        ("colour", json!(rng.pick(&fields::COLOURS))),
                        ("open_24h", json!(open_24h)),
                        ("cabinet_food", json!(rng.range(0, 200))),
                        ("last_report_at", json!(now_ms)),
                    ],
                ))
            }
            Step::Project(n) => {
                let budget = rng.range(50_000, 900_000) as i64;
                Decision::Write(Write::create(
                    id,
                    "projects",
                    &[
                        ("kind", json!(rng.pick(&["engineering", "service", "goods"]))),
                        ("title", json!(format!("民生微实事{}", n + 1))),
                        ("planned_at", json!(now_ms)),
                        ("budget", json!(budget)),
                    ],
                ))
            }
            Step::NewRequest => {
                self.made += 1;
                let deadline_h = *rng.pick(&[4, 24, 24, 72]);
                Decision::Write(Write::create(
                    id,
                    "requests",
                    &[
                        ("category", json!(fields::category(rng))),
                        ("channel", json!(fields::channel(rng))),
                        ("grid", json!(fields::grid_name(rng.range(1, u64::from(self.profile.grids.max(1))) as u32))),
                        ("summary", fields::summary(rng, self.made)),
                        ("reported_at", json!(now_ms)),
                        ("deadline", json!(now_ms + deadline_h * HOUR_MS)),
                        ("reporter_name", fields::person(rng)),
                        ("reporter_phone", fields::phone(rng)),
                    ],
                ))
            }
            Step::NewTask => {
                self.made += 1;
                Decision::Write(Write::create(
                    id,
                    "tasks",
                    &[
                        ("service", json!(rng.pick(&fields::SERVICES))),
                        ("summary", json!(format!("点单 #{}", self.made))),
                        ("ordered_at", json!(now_ms)),
                        ("orderer_name", fields::person(rng)),
                        ("orderer_phone", fields::phone(rng)),
                    ],
                ))
            }
            Step::Hours => {
                let member = (rng.unit().powi(2) * f64::from(self.profile.volunteers)) as u32;
                let hours = rng.range(1, 4) as i64;
                let month = month_shard(now_ms);
                match self.hours.get(&(member, month)) {
                    Some(key) => Decision::Write(Write::update(
                        key.clone(),
                        vec![
                            FieldOp::Add { field: "hours".into(), delta: hours },
                            FieldOp::Add { field: "visits".into(), delta: 1 },
                        ],
                    )),
                    None => {
                        let mut write = Write::create(
                            id,
                            "volunteers",
                            &[
                                ("member", json!(format!("{id}-m{member}"))),
                                ("team", json!(fields::TEAMS[member as usize % fields::TEAMS.len()])),
                                ("month_of", json!(now_ms)),
                                ("name", fields::person(rng)),
                            ],
                        );
                        write.ops.push(FieldOp::Add { field: "hours".into(), delta: hours });
                        write.ops.push(FieldOp::Add { field: "visits".into(), delta: 1 });
                        Decision::Write(write)
                    }
                }
            }
            Step::SiteReport => {
                let reporting: Vec<usize> = (0..self.sites.len()).filter(|i| !self.sites[*i].silent).collect();
                let Some(&i) = reporting.get(rng.range(0, reporting.len().max(1) as u64 - 1) as usize) else {
                    return Decision::Skip;
                };
                let site = &self.sites[i];
                let mut ops = vec![
                    set("last_report_at", json!(now_ms)),
                    set("cabinet_food", json!(rng.range(0, 200))),
                    set("cabinet_clothes", json!(rng.range(0, 80))),
                    set("cabinet_books", json!(rng.range(0, 300))),
                ];
                if site.open && rng.chance(0.03) {
                    ops.push(set("status", json!("offline")));
                } else if !site.open {
                    ops.push(set("status", json!("open")));
                }
                Decision::Write(Write::update(site.key.clone(), ops))
            }
            Step::ProjectWork => {
                let Some(project) = (!self.projects.is_empty())
                    .then(|| rng.range(0, self.projects.len() as u64 - 1) as usize)
                    .map(|i| &self.projects[i])
                else {
                    return Decision::Skip;
                };
                let ops = match project.status {
                    "planned" => vec![set("status", json!("approved"))],
                    "approved" => vec![set("status", json!("in_progress")), set("contractor", json!("施工单位"))],
                    "in_progress" if project.spent < project.budget => {
                        let step = (project.budget / 4).max(1);
                        vec![set("spent", json!((project.spent + step).min(project.budget)))]
                    }
                    "in_progress" => vec![set("status", json!("completed"))],
                    "completed" => vec![set("status", json!("accepted"))],
                    _ => return Decision::Skip,
                };
                Decision::Write(Write::update(project.key.clone(), ops))
            }
            Step::Dispatch(key) => moves(
                key,
                "reported",
                vec![set("status", json!("dispatched")), set("assignee", json!(format!("{}-网格员", self.street)))],
            ),
            Step::Reject(key) => moves(key, "reported", vec![set("status", json!("rejected"))]),
            Step::Accept(key) => moves(key, "dispatched", vec![set("status", json!("accepted"))]),
            Step::Resolve(key) => {
                moves(key, "accepted", vec![set("status", json!("resolved")), set("resolved_at", json!(now_ms))])
            }
            Step::Close(key) => moves(key, "resolved", vec![set("status", json!("closed"))]),
            Step::DispatchTask(key) => moves(
                key,
                "ordered",
                vec![
                    set("status", json!("dispatched")),
                    set("dispatched_by", json!(self.street.clone())),
                    set("dispatched_at", json!(now_ms)),
                ],
            ),
            Step::Claim { key, at_street } => {
                // Claimant ids are ASCII, like node ids: the street's party-member team
                // (党员) or the community's volunteer team (志愿者).
                let by = if *at_street { format!("{}-party", self.street) } else { format!("{id}-volunteers") };
                let claim = FieldOp::Claim { field: "assignee".into(), by };
                match status {
                    Some("dispatched") => {
                        Decision::Write(Write::update(key.clone(), vec![claim, set("status", json!("accepted"))]))
                    }
                    Some("accepted") => Decision::Write(Write::update(key.clone(), vec![claim])),
                    _ => Decision::Wait,
                }
            }
            Step::Complete(key) => {
                let claims = record.and_then(|r| r.claims.get("assignee")).map_or(0, |c| c.entries.len());
                if status == Some("accepted") && claims == 2 {
                    Decision::Write(Write::update(
                        key.clone(),
                        vec![set("status", json!("completed")), set("completed_at", json!(now_ms))],
                    ))
                } else {
                    Decision::Wait
                }
            }
        }
    }

    /// Follows up an acknowledged write of `action` on record `key`.
    pub fn after(&mut self, action: &Action, write: &Write, key: &RecordKey, now_ms: i64) {
        let minutes = |rng: &mut Rng, mean: f64| now_ms + (rng.exponential(mean) * MINUTE_MS as f64) as i64;
        match &action.step {
            Step::Site(n) => {
                let silent = *n > 0 && self.rng.chance(0.1);
                self.sites.push(Site { key: key.clone(), open: true, silent });
            }
            Step::Project(_) => {
                let budget = write
                    .ops
                    .iter()
                    .find_map(|op| match op {
                        FieldOp::Set { field, value } if field == "budget" => value.as_i64(),
                        _ => None,
                    })
                    .unwrap_or(0);
                self.projects.push(Project { key: key.clone(), status: "planned", budget, spent: 0 });
            }
            Step::NewRequest => {
                let due = minutes(&mut self.rng, 30.0);
                let step = if self.rng.chance(0.08) { Step::Reject(key.clone()) } else { Step::Dispatch(key.clone()) };
                self.push(due, Writer::Street, step);
            }
            Step::Dispatch(_) => {
                let due = minutes(&mut self.rng, 30.0);
                self.push(due, Writer::Community, Step::Accept(key.clone()));
            }
            Step::Accept(_) => {
                let due = now_ms + self.rng.log_normal(4.0 * HOUR_MS as f64, 1.0) as i64;
                self.push(due, Writer::Community, Step::Resolve(key.clone()));
            }
            Step::Resolve(_) if self.rng.chance(0.5) => {
                let due = minutes(&mut self.rng, 12.0 * 60.0);
                self.push(due, Writer::Community, Step::Close(key.clone()));
            }
            Step::NewTask => {
                let due = minutes(&mut self.rng, 15.0);
                self.push(due, Writer::Street, Step::DispatchTask(key.clone()));
            }
            Step::DispatchTask(_) => {
                // Both claims at the same moment: concurrent on two nodes.
                let due = minutes(&mut self.rng, 10.0);
                self.push(due, Writer::Community, Step::Claim { key: key.clone(), at_street: false });
                self.push(due, Writer::Street, Step::Claim { key: key.clone(), at_street: true });
                let done = due + (self.rng.exponential(60.0) * MINUTE_MS as f64) as i64;
                self.push(done, Writer::Community, Step::Complete(key.clone()));
            }
            Step::Hours => {
                if matches!(write.target, Target::Create { .. }) {
                    let member = write.ops.iter().find_map(|op| match op {
                        FieldOp::Set { field, value } if field == "member" => value.as_str(),
                        _ => None,
                    });
                    if let Some(member) = member.and_then(|m| m.rsplit_once("-m")).and_then(|(_, n)| n.parse().ok()) {
                        self.hours.insert((member, key.doc.shard.clone()), key.clone());
                    }
                }
            }
            Step::SiteReport => {
                if let Some(site) = self.sites.iter_mut().find(|s| &s.key == key) {
                    for op in &write.ops {
                        if let FieldOp::Set { field, value } = op
                            && field == "status"
                        {
                            site.open = value == "open";
                        }
                    }
                }
            }
            Step::ProjectWork => {
                if let Some(project) = self.projects.iter_mut().find(|p| &p.key == key) {
                    for op in &write.ops {
                        if let FieldOp::Set { field, value } = op {
                            match (field.as_str(), value.as_str()) {
                                ("status", Some("approved")) => project.status = "approved",
                                ("status", Some("in_progress")) => project.status = "in_progress",
                                ("status", Some("completed")) => project.status = "completed",
                                ("status", Some("accepted")) => project.status = "accepted",
                                ("spent", _) => project.spent = value.as_i64().unwrap_or(project.spent),
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, due_ms: i64, writer: Writer, step: Step) {
        self.seq += 1;
        let writer = match writer {
            Writer::Community => self.id.clone(),
            Writer::Street => self.street.clone(),
        };
        self.queue.push(Reverse(Action { due_ms, seq: self.seq, writer, step, waits: 0 }));
    }

    /// The next arrival after `from_ms`: a Poisson process whose rate follows the daily
    /// curve (drawn by thinning at the curve's peak rate).
    fn draw_arrival(&mut self, from_ms: i64) -> i64 {
        let peak = self.arrivals_per_ms * CURVE_MAX;
        if peak <= 0.0 {
            return i64::MAX;
        }
        let mut at = from_ms as f64;
        loop {
            at += self.rng.exponential(1.0 / peak);
            if self.rng.unit() * CURVE_MAX < curve(at as i64) {
                return at as i64;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Writer {
    Community,
    Street,
}
