//! What a test wrote, kept beside the tree: every record's fields as the test set them,
//! so that answers can be checked against a recount that shares no code with the views.

use super::{NOW_MS, Node, write};
use linli_core::ids::RecordKey;
use linli_core::write::{FieldOp, Write};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

pub const CATEGORIES: [&str; 4] = ["environment", "roads_and_facilities", "safety", "other"];
pub const SERVICES: [&str; 3] = ["home_visit", "repair", "meal_delivery"];
pub const TEAMS: [&str; 3] = ["环保一队", "助老二队", "巡逻三队"];
/// Colour classes the sites are given (Pingdi's sites have seven).
pub const COLOURS: [&str; 4] = ["red", "orange", "green", "blue"];

#[derive(Debug, Default)]
pub struct Ledger {
    /// Record key -> (community, registry, fields).
    pub records: BTreeMap<RecordKey, Rec>,
}

#[derive(Debug, Clone)]
pub struct Rec {
    pub community: String,
    pub registry: String,
    pub fields: BTreeMap<String, Value>,
}

impl Rec {
    pub fn str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }
    pub fn ms(&self, field: &str) -> Option<i64> {
        self.fields.get(field).and_then(Value::as_i64)
    }
}

impl Ledger {
    pub async fn create(
        &mut self,
        node: &Node,
        community: &str,
        registry: &str,
        fields: &[(&str, Value)],
    ) -> RecordKey {
        let key = write(node, Write::create(community, registry, fields)).await.key;
        let fields = fields.iter().map(|(f, v)| (f.to_string(), v.clone())).collect();
        self.records.insert(key.clone(), Rec { community: community.into(), registry: registry.into(), fields });
        key
    }

    pub async fn set(&mut self, node: &Node, key: &RecordKey, fields: &[(&str, Value)]) {
        write(node, Write::set(key.clone(), fields)).await;
        let rec = self.records.get_mut(key).expect("a record the test wrote");
        for (f, v) in fields {
            rec.fields.insert(f.to_string(), v.clone());
        }
    }

    pub async fn add(&mut self, node: &Node, key: &RecordKey, field: &str, delta: i64) {
        write(node, Write::update(key.clone(), vec![FieldOp::Add { field: field.into(), delta }])).await;
        let rec = self.records.get_mut(key).expect("a record the test wrote");
        let now = rec.fields.get(field).and_then(Value::as_i64).unwrap_or(0);
        rec.fields.insert(field.into(), json!(now + delta));
    }

    pub fn of<'a>(&'a self, registry: &'a str) -> impl Iterator<Item = (&'a RecordKey, &'a Rec)> + 'a {
        self.records.iter().filter(move |(_, r)| r.registry == registry)
    }

    /// A community's day up to [`NOW_MS`]: see [`Ledger::community_day_at`].
    pub async fn community_day(&mut self, node: &Node, community: &str, seed: usize, budgets_yuan: &[(i64, bool)]) {
        self.community_day_at(node, community, seed, budgets_yuan, NOW_MS).await;
    }

    /// A community's day up to `now`: requests through their life, tasks through the
    /// funnel, projects (with `budget_yuan` each), volunteers' hours, sites of a colour
    /// class that report or not.
    pub async fn community_day_at(
        &mut self,
        node: &Node,
        community: &str,
        seed: usize,
        budgets_yuan: &[(i64, bool)],
        now: i64,
    ) {
        for i in 0..24 {
            let reported_at = now - (i as i64) * 7 * HOUR_MS;
            let category = CATEGORIES[(i + seed) % CATEGORIES.len()];
            let key = self
                .create(
                    node,
                    community,
                    "requests",
                    &[
                        ("category", json!(category)),
                        ("channel", json!("qr_code")),
                        ("grid", json!(format!("grid-{}", i % 3))),
                        ("summary", json!(format!("楼道灯不亮 #{i}"))),
                        ("reported_at", json!(reported_at)),
                        ("deadline", json!(reported_at + 36 * HOUR_MS)),
                        ("reporter_phone", json!("13800000000")),
                    ],
                )
                .await;
            let stage = (i + seed) % 6;
            if stage >= 1 {
                self.set(node, &key, &[("status", json!("dispatched"))]).await;
            }
            if stage >= 2 {
                self.set(node, &key, &[("status", json!("accepted"))]).await;
            }
            if stage >= 3 {
                let resolved_at = reported_at + (i as i64 + 1) * 53 * 60_000 + (seed as i64) * 600_000;
                self.set(node, &key, &[("status", json!("resolved")), ("resolved_at", json!(resolved_at))]).await;
            }
            if stage >= 4 {
                self.set(node, &key, &[("status", json!("closed"))]).await;
            }
        }
        for i in 0..12 {
            let ordered_at = now - (i as i64) * 11 * HOUR_MS;
            let key = self
                .create(
                    node,
                    community,
                    "tasks",
                    &[
                        ("service", json!(SERVICES[(i + seed) % SERVICES.len()])),
                        ("summary", json!(format!("送餐上门 #{i}"))),
                        ("ordered_at", json!(ordered_at)),
                    ],
                )
                .await;
            let stage = (i + seed) % 4;
            let step = |n: i64| ordered_at + n * (20 + i as i64) * 60_000;
            if stage >= 1 {
                self.set(node, &key, &[("status", json!("dispatched")), ("dispatched_at", json!(step(1)))]).await;
            }
            if stage >= 2 {
                self.set(node, &key, &[("status", json!("accepted")), ("accepted_at", json!(step(3)))]).await;
            }
            if stage >= 3 {
                self.set(node, &key, &[("status", json!("completed")), ("completed_at", json!(step(7)))]).await;
            }
        }
        for (i, (yuan, cancelled)) in budgets_yuan.iter().enumerate() {
            let key = self
                .create(
                    node,
                    community,
                    "projects",
                    &[
                        ("kind", json!("service")),
                        ("title", json!(format!("长者饭堂 #{i}"))),
                        ("planned_at", json!(now)),
                        ("budget", json!(format!("{yuan}.00"))),
                    ],
                )
                .await;
            // `spent` in fen in the ledger, as the views keep it.
            self.set(node, &key, &[("spent", json!(format!("{}.50", yuan / 4)))]).await;
            self.records.get_mut(&key).expect("project").fields.insert("spent".into(), json!((yuan / 4) * 100 + 50));
            self.records.get_mut(&key).expect("project").fields.insert("budget".into(), json!(yuan * 100));
            if *cancelled {
                self.set(node, &key, &[("status", json!("cancelled"))]).await;
            }
        }
        for i in 0..6 {
            let month_of = if i % 2 == 0 { now } else { now - 40 * DAY_MS };
            let key = self
                .create(
                    node,
                    community,
                    "volunteers",
                    &[
                        ("member", json!(format!("m{i}"))),
                        ("team", json!(TEAMS[(i + seed) % TEAMS.len()])),
                        ("month_of", json!(month_of)),
                        ("phone", json!("13900000000")),
                    ],
                )
                .await;
            self.add(node, &key, "hours", (i as i64 + 1) * 3 + seed as i64).await;
            self.add(node, &key, "visits", 2).await;
        }
        let sites: [(&str, Option<i64>, bool); 4] = [
            ("v_station", Some(now - 2 * HOUR_MS), false),
            ("v_station", Some(now - 3 * DAY_MS), false),
            ("v_station", None, false),
            ("v_station", Some(now - 5 * DAY_MS), true),
        ];
        for (i, (kind, last, closed)) in sites.iter().enumerate() {
            let colour = COLOURS[(i + seed) % COLOURS.len()];
            let mut fields =
                vec![("kind", json!(kind)), ("name", json!(format!("暖蜂驿站 {i}号"))), ("colour", json!(colour))];
            if let Some(ms) = last {
                fields.push(("last_report_at", json!(ms)));
            }
            let key = self.create(node, community, "sites", &fields).await;
            if *closed {
                self.set(node, &key, &[("status", json!("closed"))]).await;
            }
        }
        self.create(node, community, "sites", &[("kind", json!("community_centre")), ("name", json!("党群服务中心"))])
            .await;
    }
}
