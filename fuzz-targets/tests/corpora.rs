//! Every input of the committed corpora, run through its target on the stable
//! toolchain: a crash the fuzzer once found (and the fix made pass) stays fixed, and
//! an input that crashes fails here naming its file. The bounded fuzz runs of
//! `scripts/fuzz.sh` need nightly; this needs nothing.

use std::path::{Path, PathBuf};

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.map(|entry| entry.expect("a corpus entry").path()).collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
}

/// Runs each file in turn, so that a panic names the file it came from.
fn run_corpus(target: &str) {
    let (_, run) = linli_fuzz_targets::TARGETS.into_iter().find(|(name, _)| *name == target).expect("a target");
    for file in corpus_files(target) {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let crashed = std::panic::catch_unwind(|| run(&data)).is_err();
        assert!(!crashed, "{target} crashes on {}", file.display());
    }
}

#[test]
fn frame_corpus_passes() {
    run_corpus("frame");
}

#[test]
fn session_batch_corpus_passes() {
    run_corpus("session_batch");
}

#[test]
fn apply_changes_corpus_passes() {
    run_corpus("apply_changes");
}

#[test]
fn every_target_has_its_fuzz_target_file() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for (target, _) in linli_fuzz_targets::TARGETS {
        let file = fuzz.join(format!("{target}.rs"));
        assert!(file.is_file(), "{} is missing", file.display());
    }
}
