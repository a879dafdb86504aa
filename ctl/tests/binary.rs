//! The `linlictl` binary itself: help, usage errors and an unreachable server, with
//! the exit codes and one-line errors scripts rely on, and the same answers as
//! `run_args`, which the tests against a running tree call in their own process.

use std::process::{Command, Output};

fn linlictl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_linlictl")).args(args).output().expect("run linlictl")
}

/// The exit code and the one line on stderr, with nothing on stdout.
fn failure(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr, got {stderr:?}");
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    (output.status.code().expect("an exit code"), stderr.trim_end().to_string())
}

/// `run_args` in this process answers as the binary did.
fn same_in_process(args: &[&str], binary: &Output) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = linli_ctl::run_args(std::iter::once("linlictl").chain(args.iter().copied()), &mut stdout, &mut stderr);
    assert_eq!(Some(i32::from(code)), binary.status.code());
    assert_eq!(stdout, binary.stdout);
    assert_eq!(stderr, binary.stderr);
}

#[test]
fn help_is_printed_on_stdout_and_exits_zero() {
    let output = linlictl(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Usage") && text.contains("query"), "{text}");
    same_in_process(&["--help"], &output);
}

#[test]
fn a_missing_command_prints_the_help_on_stderr_with_the_usage_code() {
    let output = linlictl(&[]);
    assert_eq!(output.status.code(), Some(i32::from(linli_ctl::EXIT_USAGE)));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage"));
}

#[test]
fn bad_arguments_fail_in_one_line_before_anything_is_sent() {
    // Nothing listens at this address: the arguments are refused first.
    let args = ["--addr", "127.0.0.1:9", "query", "open", "--at", "tomorrow"];
    let output = linlictl(&args);
    let (code, line) = failure(&output);
    assert_eq!(code, 2);
    assert!(line.starts_with("linlictl: bad argument `at`"), "{line}");
    same_in_process(&args, &output);

    let (code, line) = failure(&linlictl(&["query", "no-such-query"]));
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("linlictl: ") && !line.contains("error: "), "{line}");
}

#[test]
fn an_unreachable_server_fails_in_one_line_with_its_code() {
    // A port that was just free: nobody listens on it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let addr = addr.to_string();
    let args = ["--addr", addr.as_str(), "--timeout-ms", "2000", "status"];
    let output = linlictl(&args);
    let (code, line) = failure(&output);
    assert_eq!(code, 3, "{line}");
    assert!(line.starts_with(&format!("linlictl: cannot reach http://{addr}")), "{line}");
    same_in_process(&args, &output);
}
