#!/usr/bin/env bash
# Every test of the workspace: unit, property, crash (kill -9), validation, tier and
# simulator tests, the console in headless Chromium, and the fuzz corpora; then the simulator's checks against a broken
# merge rule, the community server's package installed for real (scripts/test-deb.sh,
# as root), the Kubernetes overlays validated (scripts/test-k8s.sh), and a bounded fuzz
# run (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
install_browser
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all -- --check
else
  echo "test: rustfmt is not installed; skipping the format check"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The checks can fail: the simulator with a deliberately broken merge rule (a
# test-only feature of linli-core) must report the writes it lost.
cargo test --release --workspace --features linli-sim/broken-merge --test broken_merge 2>&1 | tee -a "$log"
broken=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then status=$broken; fi
set -e
# One closing line for the whole workspace (cargo prints one per test binary; the
# crash test, which has its own main, reports its kills in its output).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# The .deb: built, installed, upgraded and removed with dpkg (skipped unless root);
# the Kubernetes overlays: rendered and validated against the schemas.
set +e
scripts/test-deb.sh
packaged=$?
scripts/test-k8s.sh
manifests=$?
set -e
if [ "$status" = 0 ]; then status=$packaged; fi
if [ "$status" = 0 ]; then status=$manifests; fi
# Then a bounded fuzz run of every target, where a nightly toolchain is present (the
# corpora ran above as tests either way). A failed test run's status wins.
set +e
scripts/fuzz.sh
fuzzed=$?
set -e
if [ "$status" = 0 ]; then status=$fuzzed; fi
exit "$status"
