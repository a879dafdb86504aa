#!/usr/bin/env bash
# Every test of the workspace: unit, property, crash (kill -9) and validation tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo fmt --all -- --check
cargo test --release --workspace "$@"
