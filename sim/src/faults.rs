//! Faults: what breaks, where and when, from a scenario file or from `--fault` flags,
//! expanded into windows of wall time for one run.
//!
//! A scenario file (TOML) lists `[[fault]]` entries:
//!
//! ```toml
//! [[fault]]
//! kind = "cut"          # cut | crash | wipe | delay | loss | skew
//! node = "street:2"     # a node id, `street:N` or `community:N` (1-based, in tree order)
//! at_s = 10             # seconds after the workload starts
//! for_s = 20            # how long; the fault is lifted after
//! # delay_ms = 300      # for `delay`: added to every chunk on the node's uplink
//! # loss_pct = 2        # for `loss`: share of frames (sim) or chunks (real) lost
//! # skew_ms = -90000    # for `skew`: the node's clock runs this far off (sim mode)
//! # daily = "18:00-21:00"  # instead of at_s/for_s: every day, in the workload's local time
//! ```
//!
//! `cut` drops the node's link to its parent (for a street: the whole street), `crash`
//! stops the node and starts it again, `wipe` stops it, deletes its data directory and
//! starts it empty, `delay` slows its uplink, `loss` loses frames on it (a lost frame
//! breaks the connection, as a reset stream; the link reconnects and resumes), `skew`
//! sets the node's clock off by `skew_ms` (sim mode only: the servers of a real run
//! share this machine's clock).

use crate::error::SimError;
use crate::topology::Topology;
use crate::workload::{Clock, DAY_MS, HOUR_MS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Cut,
    Crash,
    Wipe,
    Delay,
    Loss,
    Skew,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub node: String,
    pub at_s: Option<f64>,
    pub for_s: Option<f64>,
    pub delay_ms: Option<u64>,
    pub loss_pct: Option<f64>,
    pub skew_ms: Option<i64>,
    pub daily: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    fault: Vec<FaultSpec>,
}

/// One fault over one window of the run, in wall ms after the workload's start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub node: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub delay_ms: u64,
    pub loss_pct: f64,
    pub skew_ms: i64,
}

/// A fault lasts this long at most: a run's faults must be lifted before its checks.
const FAULT_S_MAX: f64 = 86_400.0;
/// A node's clock is off by at most a day: more is a broken machine, not skew.
const SKEW_MS_MAX: i64 = 86_400_000;

pub fn parse_scenario(name: &str, text: &str) -> Result<Vec<FaultSpec>, SimError> {
    let file: ScenarioFile = toml::from_str(text)
        .map_err(|e| SimError::BadScenario { source_name: name.to_string(), reason: e.message().to_string() })?;
    Ok(file.fault)
}

/// Parses a `--fault kind,node,at_s,for_s[,delay_ms]` flag.
pub fn parse_flag(flag: &str) -> Result<FaultSpec, SimError> {
    let bad = |reason: String| SimError::BadScenario { source_name: format!("--fault {flag}"), reason };
    let parts: Vec<&str> = flag.split(',').map(str::trim).collect();
    if !(4..=5).contains(&parts.len()) {
        return Err(bad(
            "expected kind,node,at_s,for_s[,amount] (amount: delay_ms, loss_pct or skew_ms), e.g. cut,street:1,10,20"
                .into(),
        ));
    }
    let kind = match parts[0] {
        "cut" => FaultKind::Cut,
        "crash" => FaultKind::Crash,
        "wipe" => FaultKind::Wipe,
        "delay" => FaultKind::Delay,
        "loss" => FaultKind::Loss,
        "skew" => FaultKind::Skew,
        other => return Err(bad(format!("unknown fault `{other}`; known: cut, crash, wipe, delay, loss, skew"))),
    };
    let number =
        |what: &str, text: &str| text.parse::<f64>().map_err(|_| bad(format!("{what} `{text}` is not a number")));
    let amount = parts.get(4).map(|d| number("amount", d)).transpose()?;
    Ok(FaultSpec {
        kind,
        node: parts[1].to_string(),
        at_s: Some(number("at_s", parts[2])?),
        for_s: Some(number("for_s", parts[3])?),
        delay_ms: amount.filter(|_| kind == FaultKind::Delay).map(|d| d as u64),
        loss_pct: amount.filter(|_| kind == FaultKind::Loss),
        skew_ms: amount.filter(|_| kind == FaultKind::Skew).map(|d| d as i64),
        daily: None,
    })
}

/// Resolves node selectors and times into the windows of a run of `duration_ms`.
pub fn expand(
    specs: &[FaultSpec],
    topology: &Topology,
    clock: &Clock,
    duration_ms: u64,
) -> Result<Vec<Fault>, SimError> {
    let mut faults = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let bad = |reason: String| SimError::BadScenario { source_name: format!("fault {}", i + 1), reason };
        let node =
            resolve(&spec.node, topology).ok_or_else(|| bad(format!("no node `{}` in this topology", spec.node)))?;
        if node == topology.district && !matches!(spec.kind, FaultKind::Crash | FaultKind::Skew) {
            return Err(bad(
                "the district has no uplink to cut, slow or lose, and its wipe has no one to rebuild from".into(),
            ));
        }
        let delay_ms = match (spec.kind, spec.delay_ms) {
            (FaultKind::Delay, Some(d)) if d > 0 && d <= 10_000 => d,
            (FaultKind::Delay, _) => return Err(bad("a delay needs delay_ms between 1 and 10000".into())),
            (_, _) => 0,
        };
        let loss_pct = match (spec.kind, spec.loss_pct) {
            (FaultKind::Loss, Some(p)) if p > 0.0 && p <= 50.0 => p,
            (FaultKind::Loss, _) => return Err(bad("a loss needs loss_pct in (0, 50]".into())),
            (_, _) => 0.0,
        };
        let skew_ms = match (spec.kind, spec.skew_ms) {
            (FaultKind::Skew, Some(ms)) if ms != 0 && ms.abs() <= SKEW_MS_MAX => ms,
            (FaultKind::Skew, _) => return Err(bad(format!("a skew needs skew_ms, not 0, within ±{SKEW_MS_MAX}"))),
            (_, _) => 0,
        };
        let windows = match (&spec.daily, spec.at_s, spec.for_s) {
            (Some(daily), None, None) => daily_windows(daily, clock, duration_ms).map_err(bad)?,
            (None, Some(at), Some(length)) if at >= 0.0 && length > 0.0 && length <= FAULT_S_MAX => {
                vec![((at * 1e3) as u64, ((at + length) * 1e3) as u64)]
            }
            (None, Some(_), Some(_)) => return Err(bad(format!("at_s must be >= 0 and for_s in (0, {FAULT_S_MAX}]"))),
            _ => return Err(bad("give either at_s and for_s, or daily".into())),
        };
        for (start_ms, end_ms) in windows.into_iter().filter(|(start, _)| *start < duration_ms) {
            faults.push(Fault { kind: spec.kind, node: node.clone(), start_ms, end_ms, delay_ms, loss_pct, skew_ms });
        }
    }
    faults.sort_by_key(|f| f.start_ms);
    Ok(faults)
}

fn resolve(selector: &str, topology: &Topology) -> Option<String> {
    let nth = |prefix: &str| selector.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).filter(|n| *n >= 1);
    if let Some(n) = nth("street:") {
        return topology.streets.get(n - 1).map(|s| s.id.clone());
    }
    if let Some(n) = nth("community:") {
        return topology.communities().nth(n - 1).map(|c| c.id.clone());
    }
    let known = std::iter::once(topology.district.as_str())
        .chain(topology.streets.iter().map(|s| s.id.as_str()))
        .chain(topology.communities().map(|c| c.id.as_str()))
        .any(|id| id == selector);
    known.then(|| selector.to_string())
}

/// "HH:MM-HH:MM" every day of the run's virtual span, as wall windows.
fn daily_windows(daily: &str, clock: &Clock, duration_ms: u64) -> Result<Vec<(u64, u64)>, String> {
    let parse = |hm: &str| -> Option<i64> {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
        ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * HOUR_MS + m * 60_000)
    };
    let (from, to) = daily
        .split_once('-')
        .and_then(|(a, b)| Some((parse(a)?, parse(b)?)))
        .ok_or_else(|| format!("daily `{daily}` is not HH:MM-HH:MM"))?;
    let length = (to - from).rem_euclid(DAY_MS);
    if length == 0 {
        return Err(format!("daily `{daily}` is empty"));
    }
    // Local midnight (UTC+8) of the day before the start, then every day.
    let local_offset = 8 * HOUR_MS;
    let mut day = (clock.start_ms + local_offset).div_euclid(DAY_MS) * DAY_MS - local_offset - DAY_MS;
    let end_virtual = clock.virtual_ms(duration_ms as f64);
    let mut windows = Vec::new();
    while day < end_virtual {
        let (start, end) = (day + from, day + from + length);
        if end > clock.start_ms && start < end_virtual {
            let wall = |v: i64| clock.wall_ms(v.max(clock.start_ms)).max(0.0) as u64;
            windows.push((wall(start), wall(end)));
        }
        day += DAY_MS;
    }
    Ok(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Topology {
        Topology::preset("longhua", 1).expect("preset")
    }

    #[test]
    fn a_scenario_names_nodes_by_id_or_position() {
        let clock = Clock { start_ms: 1_794_758_400_000, speed: 144.0 };
        let specs = parse_scenario(
            "s",
            "[[fault]]\nkind = \"cut\"\nnode = \"street:2\"\nat_s = 5\nfor_s = 10\n\
             [[fault]]\nkind = \"crash\"\nnode = \"community:1\"\nat_s = 1\nfor_s = 2\n",
        )
        .expect("parse");
        let faults = expand(&specs, &tree(), &clock, 60_000).expect("expand");
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].kind, FaultKind::Crash);
        assert_eq!(faults[0].node, tree().streets[0].communities[0].id);
        assert_eq!((faults[1].start_ms, faults[1].end_ms), (5_000, 15_000));
        assert_eq!(faults[1].node, tree().streets[1].id);
    }

    #[test]
    fn a_daily_outage_repeats_in_local_time() {
        // Starts at local midnight; 144x: a day is 600 s of wall time.
        let clock = Clock { start_ms: 1_794_758_400_000, speed: 144.0 };
        let specs = vec![FaultSpec {
            kind: FaultKind::Cut,
            node: "street:1".into(),
            at_s: None,
            for_s: None,
            delay_ms: None,
            loss_pct: None,
            skew_ms: None,
            daily: Some("18:00-21:00".into()),
        }];
        let faults = expand(&specs, &tree(), &clock, 1_200_000).expect("expand");
        let windows: Vec<(u64, u64)> = faults.iter().map(|f| (f.start_ms, f.end_ms)).collect();
        assert_eq!(windows, vec![(450_000, 525_000), (1_050_000, 1_125_000)]);
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        let clock = Clock { start_ms: 0, speed: 1.0 };
        let err = parse_flag("melt,street:1,1,1").expect_err("kind");
        assert!(err.to_string().contains("unknown fault `melt`"), "{err}");
        let spec = parse_flag("cut,street:99,1,1").expect("parse");
        let err = expand(&[spec], &tree(), &clock, 10_000).expect_err("node");
        assert!(err.to_string().contains("no node `street:99`"), "{err}");
        let spec = parse_flag("delay,street:1,1,1").expect("parse");
        assert!(expand(&[spec], &tree(), &clock, 10_000).is_err(), "a delay without delay_ms");
        let spec = parse_flag("loss,community:1,1,1,80").expect("parse");
        let err = expand(&[spec], &tree(), &clock, 10_000).expect_err("loss over 50%");
        assert!(err.to_string().contains("loss_pct in (0, 50]"), "{err}");
        let spec = parse_flag("skew,street:1,1,5,-30000").expect("parse");
        let faults = expand(&[spec], &tree(), &clock, 10_000).expect("skew");
        assert_eq!((faults[0].kind, faults[0].skew_ms), (FaultKind::Skew, -30_000));
        let err = parse_scenario("x.toml", "[[fault]]\nkind = \"cut\"\n").expect_err("missing node");
        assert!(err.to_string().contains("x.toml"), "{err}");
    }

    #[test]
    fn every_shipped_scenario_expands_on_every_preset() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let clock = Clock { start_ms: 1_794_758_400_000 + 8 * HOUR_MS, speed: 144.0 };
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("scenarios") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            let specs = parse_scenario(&path.display().to_string(), &text).expect("parse");
            for (preset, ..) in crate::topology::PRESETS {
                let topology = Topology::preset(preset, 1).expect("preset");
                let faults = expand(&specs, &topology, &clock, 600_000).expect("expand");
                assert!(!faults.is_empty(), "{} has no fault in a 600 s run", path.display());
            }
            files += 1;
        }
        assert!(files >= 6, "scenario files: {files}");
    }
}
