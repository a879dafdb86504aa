//! The operators' console in a real browser (headless Chromium over WebDriver): a tree
//! of real servers over TLS, a known workload written at the communities, and every
//! page opened at the district, whose numbers must be a recount of what was written.
//! A write at a community shows on the open page without a reload; a street's
//! operator sees its street only, on the pages and in their live parts; the pages log
//! no error and load nothing from anywhere but the node. Screenshots of every page at
//! 1366×768 are saved under the test's output folder (`console-screenshots/`).

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::ledger::{HOUR_MS, Ledger};
use common::*;
use linli_core::schema::calendar::{cst_day, month_name};
use linli_node::config::{ServerConfig, Tier};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const S1: &str = "lg-s1";
const S2: &str = "lg-s2";
const C1: &str = "lg-s1-c1";
const C2: &str = "lg-s1-c2";
const C3: &str = "lg-s2-c3";
const DISTRICT_OPERATOR: &str = "operator--lg--li";
const STREET_OPERATOR: &str = "operator--lg-s1--wang";
const WAIT: Duration = Duration::from_secs(30);
/// Each community's projects: C1 plans 2.4 million yuan (over the cap), C2 1.5 million
/// of which a cancelled 1.2 million does not count, C3 exactly the cap.
const BUDGETS: [&[(i64, bool)]; 3] =
    [&[(1_200_000, false), (1_200_000, false)], &[(1_200_000, true), (300_000, false)], &[(2_000_000, false)]];
/// The bound: a write at a community shows at the district without a reload.
const LIVE_WITHIN: Duration = Duration::from_secs(2);

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn street_of(community: &str) -> &'static str {
    if community.starts_with("lg-s1-") { S1 } else { S2 }
}

fn with_console(mut config: ServerConfig) -> ServerConfig {
    config.console_listen = Some(any());
    config
}

struct Running {
    _dir: tempfile::TempDir,
    nodes: BTreeMap<&'static str, Node>,
}

impl Running {
    fn node(&self, id: &str) -> &Node {
        &self.nodes[id]
    }
    fn console(&self, id: &str) -> String {
        format!("https://{}", self.node(id).running.console.expect("a console"))
    }
}

async fn tree() -> Running {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = BTreeMap::new();
    let district =
        start(with_console(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[S1, S2])), any()).await;
    let district_addr = district.addr;
    nodes.insert(DISTRICT, district);
    for (street, communities) in [(S1, vec![C1, C2]), (S2, vec![C3])] {
        let street_config =
            config(street, Tier::Street, dir.path().join(street), parent(DISTRICT, district_addr), &communities);
        let node = start(with_console(street_config), any()).await;
        let street_addr = node.addr;
        nodes.insert(street, node);
        for community in communities {
            let community_config =
                config(community, Tier::Community, dir.path().join(community), parent(street, street_addr), &[]);
            nodes.insert(community, start(community_config, any()).await);
        }
    }
    Running { _dir: dir, nodes }
}

fn is_open(status: &str) -> bool {
    ["reported", "dispatched", "accepted"].contains(&status)
}

/// What the pages must show, counted from the ledger alone.
#[derive(Debug, Default)]
struct Recount {
    open: BTreeMap<(String, String), i64>,
    open_total: i64,
    overdue: Vec<String>,
    intake_today: i64,
    resolved_today: i64,
    /// (street, category) -> resolved in the last 30 days.
    resolved: BTreeMap<(String, String), i64>,
    ordered: BTreeMap<String, i64>,
    completed: BTreeMap<String, i64>,
    budget_yuan: BTreeMap<String, i64>,
    over_cap: usize,
    hours_this_month: i64,
    silent: i64,
    colours: BTreeMap<String, i64>,
}

fn recount(ledger: &Ledger, now: i64, only_street: Option<&str>) -> Recount {
    let mut r = Recount::default();
    let today = cst_day(now);
    let mine = |community: &str| only_street.is_none_or(|s| street_of(community) == s);
    for (key, rec) in ledger.of("requests").filter(|(_, rec)| mine(&rec.community)) {
        let status = rec.str("status").unwrap_or("reported");
        let street = street_of(&rec.community).to_string();
        let category = rec.str("category").expect("category").to_string();
        if cst_day(rec.ms("reported_at").expect("reported")) == today {
            r.intake_today += 1;
        }
        // A resolution later today counts today; one tomorrow is outside the window.
        if let Some(resolved_at) = rec.ms("resolved_at") {
            if cst_day(resolved_at) == today {
                r.resolved_today += 1;
            }
            if (today - 29..=today).contains(&cst_day(resolved_at)) {
                *r.resolved.entry((street.clone(), category.clone())).or_default() += 1;
            }
        }
        if is_open(status) {
            *r.open.entry((street, category)).or_default() += 1;
            r.open_total += 1;
            if rec.ms("deadline").is_some_and(|d| d < now) {
                r.overdue.push(key.to_string());
            }
        }
    }
    for (_, rec) in ledger.of("tasks").filter(|(_, rec)| mine(&rec.community)) {
        let street = street_of(&rec.community).to_string();
        *r.ordered.entry(street.clone()).or_default() += 1;
        *r.completed.entry(street).or_default() += i64::from(rec.ms("completed_at").is_some());
    }
    // Cancelled projects do not count against the cap. The ledger keeps money in fen.
    let mut budgets: BTreeMap<String, i64> = BTreeMap::new();
    for (_, rec) in ledger.of("projects").filter(|(_, rec)| mine(&rec.community)) {
        let counted = rec.str("status") != Some("cancelled");
        *budgets.entry(rec.community.clone()).or_default() += i64::from(counted) * rec.ms("budget").expect("fen") / 100;
    }
    r.over_cap = budgets.values().filter(|yuan| **yuan > 2_000_000).count();
    r.budget_yuan = budgets;
    let month = month_name(today);
    for (_, rec) in ledger.of("volunteers").filter(|(_, rec)| mine(&rec.community)) {
        if month_name(cst_day(rec.ms("month_of").expect("month"))) == month {
            r.hours_this_month += rec.ms("hours").unwrap_or(0);
        }
    }
    // Silent: a V station not closed whose last report is a day old, or none.
    for (_, rec) in ledger.of("sites").filter(|(_, rec)| mine(&rec.community)) {
        let watched = rec.str("kind") == Some("v_station") && rec.str("status") != Some("closed");
        if watched && rec.ms("last_report_at").is_none_or(|last| last < now - 24 * HOUR_MS) {
            r.silent += 1;
        }
        *r.colours.entry(rec.str("colour").unwrap_or("-").to_string()).or_default() += 1;
    }
    r
}

/// `1,234` as 1234.
fn int(text: &str) -> i64 {
    text.replace(',', "").trim().parse().unwrap_or_else(|_| panic!("`{text}` is not a number"))
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Signs `operator` in at `console` with a ticket its key signed, as a person would:
/// the ticket pasted into the sign-in page's form.
async fn sign_in(browser: &Browser, console: &str, node: &str, operator: &str) {
    let pem = certs().files(operator).read().expect("operator's certificate");
    let ticket = linli_tls::ticket::sign(&pem.cert, &pem.key, node, now_ms() as u64 + 5 * 60_000).expect("ticket");
    browser.goto(&format!("{console}/signin")).await;
    browser
        .eval(
            "document.getElementById('ticket').value = arguments[0]; document.querySelector('form.signin').submit();",
            json!([ticket]),
        )
        .await;
    eventually("the overview after sign-in", WAIT, || async {
        browser.eval("return location.pathname;", json!([])).await == json!("/overview")
    })
    .await;
}

/// Opens `path`, saves its screenshot as `shot`, and checks that the page logged no
/// error and loaded nothing from anywhere but `console`.
async fn open(browser: &Browser, console: &str, path: &str, shot: &str) -> BTreeMap<String, String> {
    browser.goto(&format!("{console}{path}")).await;
    browser.screenshot(&shots().join(format!("{shot}.png"))).await;
    let log = browser.console_log().await;
    let errors: Vec<_> = log.iter().filter(|e| e["level"] == json!("SEVERE")).collect();
    assert!(errors.is_empty(), "{path} logged errors: {errors:?}");
    for url in browser.loaded_urls().await {
        assert!(url.starts_with(console), "{path} loaded {url}, which is not the console's");
    }
    browser.named().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_shows_a_recount_live_and_a_street_operator_only_its_street() {
    let running = tree().await;
    let now = now_ms();
    let mut ledger = Ledger::default();
    for (seed, community) in [C1, C2, C3].into_iter().enumerate() {
        ledger.community_day_at(running.node(community), community, seed, BUDGETS[seed], now).await;
    }
    for community in [C1, C2, C3] {
        eventually("the community's documents at the district", WAIT, || async {
            holds_same(running.node(community), running.node(DISTRICT)).await
        })
        .await;
    }
    let console = running.console(DISTRICT);
    let browser = Browser::start().await;

    // Not signed in: the sign-in page, in Chinese first.
    browser.goto(&format!("{console}/overview")).await;
    assert!(browser.text().await.contains("登录票据"), "{}", browser.text().await);
    browser.screenshot(&shots().join("signin.png")).await;
    // A ticket for another node is refused with why, on the page.
    let pem = certs().files(DISTRICT_OPERATOR).read().expect("certificate");
    let elsewhere = linli_tls::ticket::sign(&pem.cert, &pem.key, S1, now_ms() as u64 + 60_000).expect("ticket");
    browser
        .eval(
            "document.getElementById('ticket').value = arguments[0]; document.querySelector('form.signin').submit();",
            json!([elsewhere]),
        )
        .await;
    eventually("the refusal of a ticket for another node", WAIT, || async {
        browser.text().await.contains("for node `lg-s1`; this is `lg`")
    })
    .await;
    let _ = browser.console_log().await; // the 403 of that refusal is logged: expected

    sign_in(&browser, &console, DISTRICT, DISTRICT_OPERATOR).await;
    let expected = recount(&ledger, now, None);
    check_district_pages(&browser, &console, &expected, &ledger).await;

    // Live: a request written at a community shows on the open overview, no reload.
    let page = open(&browser, &console, "/overview", "overview-live").await;
    let before = int(&page["open-total"]);
    browser.eval("window.notReloaded = true;", json!([])).await;
    let written = Instant::now();
    let mut write = request(C3, 999);
    write.ops.extend(linli_core::write::Write::create(C3, "requests", &[("reported_at", json!(now_ms()))]).ops);
    common::write(running.node(C3), write).await;
    let shown = loop {
        let names = browser.named().await;
        if names.get("open-total").is_some_and(|n| int(n) == before + 1) {
            break written.elapsed();
        }
        assert!(
            written.elapsed() < LIVE_WITHIN,
            "the write did not show on the open overview within {LIVE_WITHIN:?} (open-total {:?}, was {before})",
            names.get("open-total")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(browser.eval("return window.notReloaded === true;", json!([])).await, json!(true), "the page reloaded");
    println!("a community's write showed on the district's open overview after {shown:?}, without a reload");
    browser.quit().await;

    // A street's operator, at the district: its street only.
    let browser = Browser::start().await;
    sign_in(&browser, &console, DISTRICT, STREET_OPERATOR).await;
    check_street_operator(&browser, &console, &ledger, now).await;
    browser.quit().await;

    // The refusals were counted for the metrics, by what and rule.
    let refused: BTreeMap<_, _> = running.node(DISTRICT).running.refusals.all().into_iter().collect();
    assert_eq!(refused.get(&("Console.SignIn", "ticket")), Some(&1), "{refused:?}");
    assert!(refused.get(&("Console.Page", "scope")).is_some_and(|n| *n >= 4), "{refused:?}");
}

async fn check_district_pages(browser: &Browser, console: &str, expected: &Recount, ledger: &Ledger) {
    let page = open(browser, console, "/overview", "overview").await;
    assert_eq!(int(&page["open-total"]), expected.open_total, "{page:?}");
    for ((street, category), n) in &expected.open {
        assert_eq!(int(&page[&format!("open:{street}:{category}")]), *n, "{street} {category}");
    }
    assert_eq!(int(&page["overdue-total"]), expected.overdue.len() as i64);
    assert_eq!(int(&page["intake-today"]), expected.intake_today);
    assert_eq!(int(&page["resolved-today"]), expected.resolved_today);
    let text = browser.text().await;
    assert!(text.contains("在办诉求") && text.contains("环境卫生"), "Chinese first: {text}");

    let page = open(browser, console, "/overdue", "overdue").await;
    assert_eq!(int(&page["overdue-total"]), expected.overdue.len() as i64);
    let mut listed: Vec<&str> = page["overdue-record"].split('|').collect();
    listed.sort();
    let mut overdue: Vec<&str> = expected.overdue.iter().map(String::as_str).collect();
    overdue.sort();
    assert_eq!(listed, overdue);

    // Drill-down into a community's records: every field but the personal ones.
    let page = open(browser, console, &format!("/records?community={C1}&registry=requests"), "records").await;
    let keys: Vec<&str> = page["record"].split('|').collect();
    assert_eq!(keys.len(), ledger.of("requests").filter(|(_, r)| r.community == C1).count());
    let text = browser.text().await;
    assert!(text.contains("楼道灯不亮") && !text.contains("13800000000"), "no personal field: {text}");

    let page = open(browser, console, "/resolution?days=30", "resolution").await;
    for ((street, category), n) in &expected.resolved {
        assert_eq!(int(&page[&format!("resolved:{street}:{category}")]), *n, "{street} {category}");
    }

    let page = open(browser, console, "/tasks", "tasks").await;
    for (street, n) in &expected.ordered {
        assert_eq!(int(&page[&format!("ordered:{street}")]), *n, "{street}");
        assert_eq!(int(&page[&format!("complete:{street}")]), expected.completed[street], "{street}");
    }

    let page = open(browser, console, "/projects", "projects").await;
    assert_eq!(page["over-cap-count"].parse::<usize>().expect("count"), expected.over_cap);
    for (community, yuan) in &expected.budget_yuan {
        assert_eq!(page[&format!("budget:{community}")], format!("{}.00", fmt_thousands(*yuan)), "{community}");
    }

    let page = open(browser, console, "/hours", "hours").await;
    let month = month_name(cst_day(now_ms()));
    assert_eq!(int(&page[&format!("hours:{month}")]), expected.hours_this_month);

    let page = open(browser, console, "/sites", "sites").await;
    assert_eq!(int(&page["silent-total"]), expected.silent);
    for (colour, n) in &expected.colours {
        assert_eq!(int(&page[&format!("colour:{colour}")]), *n, "{colour}");
    }

    let page = open(browser, console, "/links", "links").await;
    assert_eq!(page["peer"], format!("{S1}|{S2}"));
    assert_eq!(page["tree-child"], format!("{S1}|{S2}"));

    // English on the switch, and back.
    browser.goto(&format!("{console}/lang?to=en&back=/overview")).await;
    let text = browser.text().await;
    assert!(text.contains("Open requests") && text.contains("environment"), "{text}");
    browser.screenshot(&shots().join("overview-en.png")).await;
    browser.goto(&format!("{console}/lang?to=zh&back=/overview")).await;
}

fn fmt_thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn check_street_operator(browser: &Browser, console: &str, ledger: &Ledger, now: i64) {
    let mine = recount(ledger, now, Some(S1));
    let page = open(browser, console, "/overview", "street-operator-overview").await;
    assert_eq!(int(&page["open-total"]), mine.open_total);
    assert!(page.keys().all(|k| !k.contains(S2)), "another street's rows: {page:?}");
    let page = open(browser, console, "/overdue", "street-operator-overdue").await;
    assert_eq!(int(&page["overdue-total"]), mine.overdue.len() as i64);
    assert!(page["overdue-record"].split('|').all(|key| key.starts_with("lg-s1-")), "{page:?}");
    let page = open(browser, console, "/links", "street-operator-links").await;
    assert_eq!(page["peer"], S1);

    // Asking for the other street, on a page and in the live part's API: refused.
    browser.goto(&format!("{console}/overdue?street={S2}")).await;
    let text = browser.text().await;
    assert!(text.contains("无权查看") && text.contains("street `lg-s2` is outside"), "{text}");
    browser.screenshot(&shots().join("street-operator-refused.png")).await;
    let _ = browser.console_log().await; // the 403 itself is logged: expected
    browser.goto(&format!("{console}/records?community={C3}&registry=requests")).await;
    assert!(browser.text().await.contains("community `lg-s2-c3` is outside"));
    let _ = browser.console_log().await;
    browser.goto(&format!("{console}/overview")).await;
    let api = browser
        .eval(
            "return (async (paths) => { const out = []; for (const p of paths) { const r = await fetch(p); out.push([p, r.status, await r.text()]); } return out; })(arguments[0]);",
            json!([[
                format!("/part/overdue?street={S2}"),
                format!("/part/overview?community={C3}"),
                format!("/part/records?community={C3}&registry=requests"),
                "/part/overdue".to_string(),
            ]]),
        )
        .await;
    let api: Vec<(String, u16, String)> = serde_json::from_value(api).expect("answers");
    for (path, status, body) in &api[..3] {
        assert_eq!(*status, 403, "{path}: {body}");
        assert!(!body.contains("lg-s2-c3/"), "{path} leaked a record: {body}");
    }
    let (_, status, body) = &api[3];
    assert_eq!(*status, 200);
    assert!(body.contains("lg-s1-") && !body.contains("lg-s2-"), "{body}");
}
