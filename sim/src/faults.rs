//! Faults: what breaks, where and when, from a scenario file or from `--fault` flags,
//! expanded into windows of wall time for one run.
//!
//! A scenario file (TOML) lists `[[fault]]` entries:
//!
//! ```toml
//! [[fault]]
//! kind = "cut"          # cut | crash | kill | wipe | restore | delay | loss | skew | move | split
//! node = "street:2"     # a node id, `district` (the top), `district:N` (under a city),
//!                       # `street:N` or `community:N` (1-based, in tree order)
//! at_s = 10             # seconds after the workload starts
//! for_s = 20            # how long; the fault is lifted after
//! # delay_ms = 300      # for `delay`: added to every chunk on the node's uplink
//! # loss_pct = 2        # for `loss`: share of frames (sim) or chunks (real) lost
//! # skew_ms = -90000    # for `skew`: the node's clock runs this far off
//! # daily = "18:00-21:00"  # instead of at_s/for_s: every day, in the workload's local time
//! # to = "street:1"     # for `move` (at_s only): the street a community moves to
//! ```
//!
//! `cut` drops the node's link to its parent (for a street: the whole street), `crash`
//! stops the node gracefully and starts it again, `kill` ends it with SIGKILL (real mode
//! runs it as a child process for that; in sim mode, whose stores hold only what was
//! made durable, it is a crash) and starts it again, `wipe` stops it, deletes its data directory and
//! starts it empty, `restore` takes a backup of the node's store at `at_s` (a real
//! node is stopped gracefully for the copy and started again) and at `at_s + for_s`
//! stops the node, puts the backup in place of its store and starts it again, `delay` slows its uplink, `loss` loses frames on it (a lost frame
//! breaks the connection, as a reset stream; the link reconnects and resumes), `skew`
//! sets the node's clock off by `skew_ms` until `at_s + for_s` or the workload's end,
//! whichever comes first (real mode moves an in-process server's engine clock; a
//! node run as a process refuses it). `move` re-parents a community to the street `to`, for
//! good, at `at_s`, while the workload goes on: the new street accepts it, the old one
//! hands over what it wrote for it and forgets it, the community dials its new street
//! (see `docs/simulator.md`). `split` (at_s only) splits a community in two by grid, as
//! 双合家园 was: `<id>-a` takes the first half of its grids and every record without a
//! grid, `<id>-b` the rest; the old community stops writing and stays as history.

use crate::error::SimError;
use crate::topology::Topology;
use crate::workload::{Clock, DAY_MS, HOUR_MS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Cut,
    Crash,
    Kill,
    Wipe,
    Restore,
    Delay,
    Loss,
    Skew,
    Move,
    Split,
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
    pub to: Option<String>,
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
    /// For a move: the street the community moves to. A move lasts no time: it ends
    /// where it starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
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

/// Parses a `--fault kind,node,at_s,for_s[,amount]` flag, `move,community,at_s,street`
/// or `split,community,at_s`.
pub fn parse_flag(flag: &str) -> Result<FaultSpec, SimError> {
    let bad = |reason: String| SimError::BadScenario { source_name: format!("--fault {flag}"), reason };
    let parts: Vec<&str> = flag.split(',').map(str::trim).collect();
    // A move or a split: once, for good.
    let once = match parts[0] {
        "move" => Some((FaultKind::Move, "move,community,at_s,street, e.g. move,community:3,20,street:2")),
        "split" => Some((FaultKind::Split, "split,community,at_s, e.g. split,community:3,30")),
        _ => None,
    };
    if let Some((kind, usage)) = once {
        let (node, at_s, to) = match (kind, &parts[..]) {
            (FaultKind::Move, [_, node, at_s, to]) => (node, at_s, Some(to.to_string())),
            (FaultKind::Split, [_, node, at_s]) => (node, at_s, None),
            _ => return Err(bad(format!("expected {usage}"))),
        };
        let at_s = at_s.parse::<f64>().map_err(|_| bad(format!("at_s `{at_s}` is not a number")))?;
        return Ok(FaultSpec {
            kind,
            node: node.to_string(),
            at_s: Some(at_s),
            for_s: None,
            delay_ms: None,
            loss_pct: None,
            skew_ms: None,
            daily: None,
            to,
        });
    }
    if !(4..=5).contains(&parts.len()) {
        return Err(bad(
            "expected kind,node,at_s,for_s[,amount] (amount: delay_ms, loss_pct or skew_ms), e.g. cut,street:1,10,20"
                .into(),
        ));
    }
    let kind = match parts[0] {
        "cut" => FaultKind::Cut,
        "crash" => FaultKind::Crash,
        "kill" => FaultKind::Kill,
        "wipe" => FaultKind::Wipe,
        "restore" => FaultKind::Restore,
        "delay" => FaultKind::Delay,
        "loss" => FaultKind::Loss,
        "skew" => FaultKind::Skew,
        other => {
            return Err(bad(format!(
                "unknown fault `{other}`; known: cut, crash, kill, wipe, restore, delay, loss, skew, move, split"
            )));
        }
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
        to: None,
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
        if matches!(spec.kind, FaultKind::Move | FaultKind::Split) {
            faults.extend(expand_once(spec, node, topology, duration_ms).map_err(bad)?);
            continue;
        }
        if spec.to.is_some() {
            return Err(bad("`to` is for a move only".into()));
        }
        if node == topology.top
            && !matches!(
                spec.kind,
                FaultKind::Crash | FaultKind::Kill | FaultKind::Skew | FaultKind::Wipe | FaultKind::Restore
            )
        {
            return Err(bad(format!("the top `{}` has no uplink to cut, slow or lose", topology.top)));
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
        for (start_ms, mut end_ms) in windows.into_iter().filter(|(start, _)| *start < duration_ms) {
            if spec.kind == FaultKind::Skew {
                // A clock off for "the whole run" is set back when the workload ends:
                // the run settles without waiting for it, as it would for an outage
                // (whose end and catch-up are what a run measures). Without this a
                // real run of an hour's skew sat idle for the rest of the hour.
                end_ms = end_ms.min(duration_ms);
            }
            faults.push(Fault {
                kind: spec.kind,
                node: node.clone(),
                start_ms,
                end_ms,
                delay_ms,
                loss_pct,
                skew_ms,
                to: None,
            });
        }
    }
    faults.sort_by_key(|f| f.start_ms);
    // Each move and split must find its community where those before it left it.
    let mut tree = topology.clone();
    for fault in faults.iter().filter(|f| matches!(f.kind, FaultKind::Move | FaultKind::Split)) {
        let what = |reason: String| SimError::BadScenario {
            source_name: format!("{:?} of {}", fault.kind, fault.node).to_lowercase(),
            reason,
        };
        match (fault.kind, fault.to.as_deref()) {
            (FaultKind::Move, Some(to)) if tree.street_of(&fault.node) == Some(to) => {
                return Err(what(format!("{} is already under {to} then", fault.node)));
            }
            (FaultKind::Split, _) if tree.was_split(&fault.node) => {
                return Err(what(format!("{} was split already", fault.node)));
            }
            _ => {}
        }
        tree = tree.after(fault)?;
    }
    Ok(faults)
}

/// A move or a split: once, at `at_s`, for good.
fn expand_once(spec: &FaultSpec, node: String, topology: &Topology, duration_ms: u64) -> Result<Vec<Fault>, String> {
    let kind = format!("{:?}", spec.kind).to_lowercase();
    if topology.street_of(&node).is_none() {
        return Err(format!("only a community takes a {kind}; `{}` is not one", spec.node));
    }
    let to = match (spec.kind, spec.to.as_deref()) {
        (FaultKind::Move, Some(to)) => Some(
            resolve(to, topology)
                .filter(|id| topology.streets.iter().any(|s| &s.id == id))
                .ok_or_else(|| format!("`to` = `{to}` is not a street of this topology"))?,
        ),
        (FaultKind::Move, None) => return Err("a move needs `to`, the street it moves to".into()),
        (_, Some(_)) => return Err("`to` is for a move only".into()),
        (_, None) => None,
    };
    if let (Some(to), Some(from)) = (&to, topology.street_of(&node)) {
        let (old, new) = (topology.parent_of_street(from), topology.parent_of_street(to));
        if old != new {
            // The new district announces what is below it to the city when it connects;
            // a district that keeps its link while its subtree grows does not say so.
            return Err(format!(
                "`{node}` would move from district `{old}` to `{new}`: moves are within one district (the city \
                 learns a district's subtree when the district connects)"
            ));
        }
    }
    let at_s = match (spec.at_s, spec.for_s, &spec.daily) {
        (Some(at), None, None) if at >= 0.0 => at,
        _ => return Err(format!("a {kind} takes at_s (>= 0) only: it is for good, not for a while")),
    };
    if spec.delay_ms.is_some() || spec.loss_pct.is_some() || spec.skew_ms.is_some() {
        return Err(format!("a {kind} takes no delay_ms, loss_pct or skew_ms"));
    }
    let at_ms = (at_s * 1e3) as u64;
    if at_ms >= duration_ms {
        return Ok(Vec::new());
    }
    Ok(vec![Fault {
        kind: spec.kind,
        node,
        start_ms: at_ms,
        end_ms: at_ms,
        delay_ms: 0,
        loss_pct: 0.0,
        skew_ms: 0,
        to,
    }])
}

/// The tree at the end of a run: `topology` with every move and split of `faults` made.
pub fn final_topology(topology: &Topology, faults: &[Fault]) -> Result<Topology, SimError> {
    let mut tree = topology.clone();
    for fault in faults {
        tree = tree.after(fault)?;
    }
    Ok(tree)
}

fn resolve(selector: &str, topology: &Topology) -> Option<String> {
    let nth = |prefix: &str| selector.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).filter(|n| *n >= 1);
    // `district` is the top of the tree (a city's too: scenarios written for a district
    // run on a city); `district:N` is the Nth district under a city.
    if selector == "district" {
        return Some(topology.top.clone());
    }
    if let Some(n) = nth("district:") {
        return topology.districts.get(n - 1).map(|d| d.id.clone());
    }
    if let Some(n) = nth("street:") {
        return topology.streets.get(n - 1).map(|s| s.id.clone());
    }
    if let Some(n) = nth("community:") {
        return topology.communities().nth(n - 1).map(|c| c.id.clone());
    }
    let known = std::iter::once(topology.top.as_str())
        .chain(topology.districts.iter().map(|d| d.id.as_str()))
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
    fn in_a_city_a_district_is_named_by_position_and_a_move_stays_in_its_district() {
        let clock = Clock { start_ms: 1_794_758_400_000, speed: 144.0 };
        let city = Topology::preset("shenzhen", 1).expect("preset");
        let parse = |text: &str| parse_scenario("s", text).expect("parse");
        let crash = parse("[[fault]]\nkind = \"crash\"\nnode = \"district:2\"\nat_s = 1\nfor_s = 2\n");
        let faults = expand(&crash, &city, &clock, 60_000).expect("expand");
        assert_eq!(faults[0].node, "sz-luohu");
        // Futian's first street to its second: one district. To Luohu's first: refused.
        let within = "[[fault]]\nkind = \"move\"\nnode = \"community:1\"\nat_s = 1\nto = \"street:2\"\n";
        assert_eq!(expand(&parse(within), &city, &clock, 60_000).expect("within").len(), 1);
        let across = within.replace("street:2", "street:11");
        let err = expand(&parse(&across), &city, &clock, 60_000).expect_err("across districts").to_string();
        assert!(err.contains("from district `sz-futian` to `sz-luohu`"), "{err}");
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
            to: None,
        }];
        let faults = expand(&specs, &tree(), &clock, 1_200_000).expect("expand");
        let windows: Vec<(u64, u64)> = faults.iter().map(|f| (f.start_ms, f.end_ms)).collect();
        assert_eq!(windows, vec![(450_000, 525_000), (1_050_000, 1_125_000)]);
    }

    #[test]
    fn a_skew_past_the_workload_is_lifted_when_it_ends_and_a_cut_is_not() {
        let clock = Clock { start_ms: 0, speed: 1.0 };
        let specs =
            [parse_flag("skew,street:1,0,3600,60000").expect("skew"), parse_flag("cut,street:1,50,20").expect("cut")];
        let faults = expand(&specs, &tree(), &clock, 60_000).expect("faults");
        let ends: Vec<(FaultKind, u64)> = faults.iter().map(|f| (f.kind, f.end_ms)).collect();
        assert_eq!(ends, vec![(FaultKind::Skew, 60_000), (FaultKind::Cut, 70_000)]);
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
    fn a_move_names_a_community_and_a_street_once() {
        let clock = Clock { start_ms: 0, speed: 1.0 };
        let tree = tree();
        let spec = parse_flag("move,community:1,5,street:2").expect("parse");
        let faults = expand(std::slice::from_ref(&spec), &tree, &clock, 10_000).expect("expand");
        assert_eq!((faults[0].start_ms, faults[0].end_ms), (5_000, 5_000));
        assert_eq!(faults[0].to.as_deref(), Some(tree.streets[1].id.as_str()));
        let moved = final_topology(&tree, &faults).expect("final");
        assert_eq!(moved.street_of(&tree.streets[0].communities[0].id), Some(tree.streets[1].id.as_str()));
        assert_eq!(moved.community_count(), tree.community_count());
        let err = expand(&[spec.clone(), spec], &tree, &clock, 10_000).expect_err("twice");
        assert!(err.to_string().contains("already under"), "{err}");
        let err = expand(&[parse_flag("move,street:1,5,street:2").expect("parse")], &tree, &clock, 10_000)
            .expect_err("a street");
        assert!(err.to_string().contains("only a community takes a move"), "{err}");
        let err = expand(&[parse_flag("move,community:1,5,community:2").expect("parse")], &tree, &clock, 10_000)
            .expect_err("to a community");
        assert!(err.to_string().contains("not a street"), "{err}");
        assert!(parse_flag("move,community:1,5").is_err(), "a move without its street");
        assert!(parse_flag("split,community:1,5,street:2").is_err(), "a split goes to no street");
        let split = parse_flag("split,community:2,30").expect("split");
        let faults = expand(&[split], &tree, &clock, 60_000).expect("expand");
        let [a, b] = Topology::split_into(&tree.streets[0].communities[1].id);
        let after = final_topology(&tree, &faults).expect("final");
        assert!(after.community(&a).is_some() && after.community(&b).is_some(), "the two new communities");
        assert_eq!(after.community_count(), tree.community_count() + 2, "the old one stays, as history");
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
            for preset in Topology::preset_names() {
                let topology = Topology::preset(preset, 1).expect("preset");
                let faults = expand(&specs, &topology, &clock, 600_000).expect("expand");
                assert!(!faults.is_empty(), "{} has no fault in a 600 s run", path.display());
            }
            files += 1;
        }
        assert!(files >= 6, "scenario files: {files}");
    }
}
