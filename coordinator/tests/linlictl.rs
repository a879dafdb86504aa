//! linlictl against a running tree: each format's output, writes, and the exit codes
//! and one-line errors scripts rely on. The commands run in this process through
//! `linli_ctl::run_args`, which is all the `linlictl` binary does with its arguments,
//! stdout and stderr; linli-ctl's own tests run the binary itself.

mod common;

use common::ledger::{DAY_MS, Ledger};
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use unicode_width::UnicodeWidthStr;

const S1: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
const WAIT: Duration = Duration::from_secs(30);

/// What one linlictl command printed, and its exit code.
struct Output {
    code: u8,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn success(&self) -> bool {
        self.code == 0
    }
}

/// Runs linlictl with `args`, over TLS as the tests' operator; at the community `C1`
/// (`--server-id C1`), as its staff.
async fn linlictl(args: &[&str]) -> Output {
    let certs = common::certs();
    let at_community = args.windows(2).any(|pair| pair == ["--server-id", C1]);
    let caller = if at_community { staff(C1) } else { OPERATOR.to_string() };
    certs.files(&caller);
    let tls = ["--tls-dir", &certs.dir().display().to_string(), "--as", &caller].map(String::from);
    let args: Vec<String> =
        std::iter::once("linlictl".to_string()).chain(tls).chain(args.iter().map(|a| a.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let code = linli_ctl::run_args(args, &mut stdout, &mut stderr);
        Output { code, stdout, stderr }
    })
    .await
    .expect("join")
}

/// Runs linlictl with `args` at the server `server` listening on `addr`.
async fn linlictl_at(addr: &str, server: &str, args: &[&str]) -> Output {
    let all: Vec<&str> = ["--addr", addr, "--server-id", server].into_iter().chain(args.iter().copied()).collect();
    linlictl(&all).await
}

fn stdout(output: &Output) -> String {
    assert!(output.success(), "linlictl failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

/// The exit code and the one line on stderr.
fn failure(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr, got {stderr:?}");
    assert!(output.stdout.is_empty());
    (i32::from(output.code), stderr.trim_end().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn linlictl_prints_tables_json_and_csv_and_fails_in_one_line() {
    let mut tree = Tree::start(&[(S1, &[C1])]).await;
    let mut ledger = Ledger::default();
    ledger.community_day(tree.node(C1), C1, 0, &[(1_200_000, false), (900_000, false)]).await;
    eventually("the community's documents at the district", WAIT, || async {
        holds_same(tree.node(C1), tree.node(DISTRICT)).await
    })
    .await;
    let district = tree.node(DISTRICT).addr.to_string();
    let community = tree.node(C1).addr.to_string();
    let at = NOW_MS.to_string();

    // JSON: open requests by status equal a recount.
    let out = stdout(
        &linlictl_at(&district, DISTRICT, &["--format", "json", "query", "open", "--by", "status", "--at", &at]).await,
    );
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let got: BTreeMap<String, i64> = json["open"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["status"].as_str().unwrap().to_string(), r["count"].as_i64().unwrap()))
        .collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (_, r) in ledger.of("requests") {
        let status = r.str("status").unwrap_or("reported");
        if ["reported", "dispatched", "accepted"].contains(&status) {
            *expected.entry(status.to_string()).or_default() += 1;
        }
    }
    assert_eq!(got, expected);

    // Table: the top teams, Chinese names aligned by display width.
    let out = stdout(&linlictl_at(&district, DISTRICT, &["query", "hours", "--at", &at, "--top", "3"]).await);
    let section: Vec<&str> = out.split("top_teams:\n").nth(1).expect("a top_teams section").lines().collect();
    assert!(section[0].starts_with("STREET") && section[0].ends_with("HOURS"), "{out}");
    assert_eq!(section.len(), 4, "a header and 3 teams: {out}");
    assert!(section[1..].iter().any(|l| l.contains("队")), "{out}");
    assert!(section.iter().all(|l| l.width() == section[0].width()), "columns not aligned:\n{out}");

    // CSV: overdue requests three days on, oldest first; the header names the columns.
    let later = (NOW_MS + 3 * DAY_MS).to_string();
    let out = stdout(&linlictl_at(&district, DISTRICT, &["--format", "csv", "query", "overdue", "--at", &later]).await);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("record,street,community,status,category,deadline_ms,overdue_ms"));
    let overdue: Vec<i64> = lines
        .by_ref()
        .take_while(|l| !l.is_empty())
        .map(|l| l.rsplit(',').next().unwrap().parse().expect("overdue_ms"))
        .collect();
    assert!(!overdue.is_empty() && overdue.windows(2).all(|w| w[0] >= w[1]), "oldest first: {overdue:?}");
    assert_eq!(lines.next(), Some("overdue"));
    assert_eq!(lines.next(), Some(overdue.len().to_string().as_str()));

    // Projects: over the cap, in yuan.
    let out =
        stdout(&linlictl_at(&district, DISTRICT, &["--format", "csv", "query", "projects", "--year", "2026"]).await);
    assert_eq!(
        out,
        format!("street,community,year,budget_yuan,spent_yuan,over_cap\n{S1},{C1},2026,2100000.00,525001.00,true\n")
    );

    // Status: the district's link to the street.
    let out = stdout(&linlictl_at(&district, DISTRICT, &["--format", "json", "status"]).await);
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["node"][0]["tier"], "district");
    assert_eq!(json["links"][0]["peer"], S1);
    assert_eq!(json["links"][0]["role"], "child");

    // Write at the community, then get and list it, at the community and the district.
    let out = stdout(
        &linlictl_at(
            &community,
            C1,
            &[
                "--format",
                "csv",
                "write",
                "create",
                "--owner",
                C1,
                "--registry",
                "requests",
                "category=safety",
                "channel=hotline",
                "grid=\"7\"",
                "summary=井盖松动",
                &format!("reported_at={NOW_MS}"),
                "reporter_phone=\"13700000000\"",
            ],
        )
        .await,
    );
    let key = out.lines().nth(1).expect("a row").split(',').next().expect("the key").to_string();
    let out = stdout(&linlictl_at(&community, C1, &["--format", "json", "get", &key]).await);
    let record: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!((record["summary"].as_str(), record["grid"].as_str()), (Some("井盖松动"), Some("7")));
    assert_eq!(record["reporter_phone"], "13700000000", "the community holds its personal data");
    let out = stdout(&linlictl_at(&community, C1, &["write", "update", &key, "status=dispatched"]).await);
    assert!(out.contains(&key), "{out}");
    eventually("the new record at the district", WAIT, || async {
        let out = linlictl_at(&district, DISTRICT, &["--format", "json", "get", &key]).await;
        out.success() && String::from_utf8_lossy(&out.stdout).contains("dispatched")
    })
    .await;
    let out = stdout(&linlictl_at(&district, DISTRICT, &["--format", "json", "get", &key]).await);
    assert!(!out.contains("13700000000"), "personal data left the community: {out}");
    let out = stdout(
        &linlictl_at(
            &district,
            DISTRICT,
            &["--format", "csv", "list", "--community", C1, "--registry", "requests", "--limit", "1000"],
        )
        .await,
    );
    let header = out.lines().next().expect("a header");
    assert!(header.starts_with("key,") && !header.contains("reporter"), "{header}");
    let listed = out.lines().skip(1).take_while(|l| !l.is_empty()).count();
    assert_eq!(listed, ledger.of("requests").count() + 1);

    // Watch: the first answer, one JSON line, then it stops as asked.
    let out = stdout(&linlictl_at(&district, DISTRICT, &["--format", "json", "watch", "open", "--count", "1"]).await);
    assert_eq!(out.lines().count(), 1, "{out}");
    let line: serde_json::Value = serde_json::from_str(&out).expect("JSON line");
    assert!(line["answer"]["open"].is_array() && line["at_ms"].is_i64(), "{line}");

    // Failures: one line and a code scripts can use.
    let (code, line) = failure(&linlictl_at(&district, DISTRICT, &["query", "open", "--at", "tomorrow"]).await);
    assert_eq!(code, 2);
    assert!(line.starts_with("linlictl: bad argument `at`"), "{line}");
    let (code, line) = failure(&linlictl_at(&district, DISTRICT, &["query", "no-such-query"]).await);
    assert_eq!(code, 2, "{line}");
    let (code, line) = failure(&linlictl_at(&district, DISTRICT, &["query", "overdue", "--limit", "5000"]).await);
    assert_eq!(code, 2, "the server refuses a limit over the bound: {line}");
    assert!(line.contains("limit"), "{line}");
    let missing = format!("{C1}/requests/2026-11/nothere");
    let (code, line) = failure(&linlictl_at(&district, DISTRICT, &["get", &missing]).await);
    assert_eq!(code, 4, "{line}");
    let (code, line) = failure(&linlictl_at(&community, C1, &["write", "update", &key, "status=closed"]).await);
    assert_eq!(code, 2, "an illegal status move: {line}");
    assert!(line.contains("status cannot move"), "{line}");
    tree.stop_all().await;
    // Nobody listens on the district's port any more.
    let (code, line) = failure(&linlictl_at(&district, DISTRICT, &["--timeout-ms", "2000", "status"]).await);
    assert_eq!(code, 3, "{line}");
    assert!(line.starts_with(&format!("linlictl: cannot reach https://{district}")), "{line}");
}
