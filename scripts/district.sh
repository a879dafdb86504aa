#!/usr/bin/env bash
# The main job: the Longgang district in a box. 111 community servers, 11 street
# coordinators and the district coordinator, each a real server (gRPC over loopback,
# RocksDB on disk), a minute of the district's workload with a link cut, crashes, a
# kill -9 of a street and of a community (those two run as child processes), a
# community moved to another street and another split in two, then the checks and the
# report (linli-sim-out/). Extra flags go to `linli-sim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# The same build as the tests' (a build of one package resolves other features and
# would build RocksDB's C++ a second time).
cargo test --release --workspace --no-run -q
exec "$CARGO_TARGET_DIR/release/linli-sim" run --preset longgang --mode real \
  --scenario sim/scenarios/cut-community.toml --scenario sim/scenarios/crash-restart.toml \
  --scenario sim/scenarios/kill-9.toml --scenario sim/scenarios/move-community.toml \
  --scenario sim/scenarios/split-community.toml "$@"
