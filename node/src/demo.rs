//! A community's day on one durable node: the README's main job until the simulator
//! brings up a whole district.
//!
//! Writes Pingdi community's registries (grids, sites, requests through every channel,
//! dispatched and resolved, tasks, volunteer hours, micro-projects) through the engine,
//! reads them back, and checks the maintained views against a recount from the stored
//! documents. Run it twice on one data directory: the second run starts from what the
//! first left on disk.

use crate::engine::EngineHandle;
use crate::error::NodeError;
use linli_core::ids::RecordKey;
use linli_core::views::Views;
use linli_core::write::{FieldOp, Write};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct DemoReport {
    pub records_created: usize,
    pub elapsed: Duration,
    pub views: Views,
    pub views_equal_recount: bool,
    pub overdue: Vec<(i64, String)>,
    pub now_ms: i64,
}

const CATEGORIES: [&str; 5] =
    ["environment", "roads_and_facilities", "safety", "elderly_and_disabled", "neighbour_dispute"];
const CHANNELS: [&str; 5] = ["qr_code", "needs_meeting", "home_visit", "micro_wish", "liaison_group"];
const HOUR_MS: i64 = 3_600_000;

fn set(field: &str, value: serde_json::Value) -> FieldOp {
    FieldOp::Set { field: field.into(), value }
}

/// Runs the day for community `owner`, with `requests` requests.
pub fn run(engine: &EngineHandle, owner: &str, requests: usize) -> Result<DemoReport, NodeError> {
    let started = Instant::now();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(1);
    let mut written = 0;
    let mut create = |registry: &str, fields: &[(&str, serde_json::Value)]| -> Result<RecordKey, NodeError> {
        written += 1;
        Ok(engine.write(Write::create(owner, registry, fields))?.key)
    };

    for grid in 1..=13 {
        create(
            "grids",
            &[("name", json!(format!("平地第{grid}网格"))), ("kind", json!("base")), ("party_members", json!(5))],
        )?;
    }
    create(
        "sites",
        &[("kind", json!("community_centre")), ("name", json!("平地社区党群服务中心")), ("colour", json!("red"))],
    )?;
    for v in 1..=3 {
        create(
            "sites",
            &[("kind", json!("v_station")), ("name", json!(format!("暖蜂驿站{v}"))), ("open_24h", json!(true))],
        )?;
    }

    let mut keys = Vec::with_capacity(requests);
    for i in 0..requests {
        let reported = now_ms - (i as i64 % 72) * HOUR_MS;
        keys.push(create(
            "requests",
            &[
                ("category", json!(CATEGORIES[i % CATEGORIES.len()])),
                ("channel", json!(CHANNELS[i % CHANNELS.len()])),
                ("grid", json!(format!("grid-{}", i % 13 + 1))),
                ("summary", json!("路面鼓包，影响通行")),
                ("reported_at", json!(reported)),
                ("deadline", json!(reported + 48 * HOUR_MS)),
                ("reporter_name", json!("居民")),
                ("reporter_phone", json!("13800000000")),
            ],
        )?);
    }
    // Streets dispatch most requests; two thirds are accepted, half resolved, a few closed.
    for (i, key) in keys.iter().enumerate() {
        let mut steps = vec![];
        if i % 10 < 8 {
            steps.push(vec![
                set("status", json!("dispatched")),
                set("assignee", json!(format!("grid-leader-{}", i % 13 + 1))),
            ]);
        }
        if i % 10 < 6 {
            steps.push(vec![set("status", json!("accepted"))]);
        }
        if i % 10 < 4 {
            steps.push(vec![set("status", json!("resolved")), set("resolved_at", json!(now_ms))]);
        }
        if i % 10 < 1 {
            steps.push(vec![set("status", json!("closed"))]);
        }
        for ops in steps {
            engine.write(Write::update(key.clone(), ops))?;
        }
    }

    for i in 0..20 {
        let task = create(
            "tasks",
            &[("service", json!("meal_delivery")), ("summary", json!("独居老人送餐")), ("ordered_at", json!(now_ms))],
        )?;
        engine.write(Write::update(task.clone(), vec![set("status", json!("dispatched"))]))?;
        engine.write(Write::update(
            task,
            vec![
                set("status", json!("accepted")),
                FieldOp::Claim { field: "assignee".into(), by: format!("volunteer-{i}") },
            ],
        ))?;
    }
    for member in 0..30 {
        let sheet = create(
            "volunteers",
            &[
                ("member", json!(format!("m{member}"))),
                ("team", json!(format!("team-{}", member % 9))),
                ("month_of", json!(now_ms)),
            ],
        )?;
        engine.write(Write::update(sheet, vec![FieldOp::Add { field: "hours".into(), delta: 2 + member % 5 }]))?;
    }
    for p in 0..5 {
        let project = create(
            "projects",
            &[
                ("kind", json!("engineering")),
                ("title", json!(format!("微实事{p}"))),
                ("planned_at", json!(now_ms)),
                ("budget", json!("180000.00")),
            ],
        )?;
        engine.write(Write::update(project, vec![set("spent", json!(format!("{}.50", 40_000 * p)))]))?;
    }

    let views = engine.views()?;
    let recount = engine.recount()?;
    let overdue = views.open_by_deadline.iter().take_while(|(deadline, _)| *deadline < now_ms).cloned().collect();
    Ok(DemoReport {
        records_created: written,
        elapsed: started.elapsed(),
        views_equal_recount: views == recount,
        views,
        overdue,
        now_ms,
    })
}
