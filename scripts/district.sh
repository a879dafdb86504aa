#!/usr/bin/env bash
# The main job. Until the simulator lands, it runs a community's day on a durable node:
# writes, reads, aggregates, and checks the views against a recount of the documents.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if [ -n "${LINLI_DEMO_DATA:-}" ]; then
  data="$LINLI_DEMO_DATA"
else
  data=$(mktemp -d)
  trap 'rm -rf "$data"' EXIT
fi
echo "data directory: $data (set LINLI_DEMO_DATA to reuse one across runs)"
cargo run --release -q -p linli-node -- demo --data "$data" "$@"
