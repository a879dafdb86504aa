#!/usr/bin/env bash
# Runs every bench of linli, one after another, and keeps their output under
# bench-results/<date>/ (one file a bench) for benches/README.md's table. Every
# figure a bench prints is measured in the same run as its peer or floor.
#
#   ./scripts/bench.sh            every bench
#   ./scripts/bench.sh peers      only the named ones
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh

benches=(durable_writes apply_changes queries propagation peers capacity)
if [ "$#" -gt 0 ]; then benches=("$@"); fi

# The capacity bench runs the production binaries as processes.
cargo build --release -p linli-node -p linli-coordinator

out="bench-results/$(date -u +%Y-%m-%d)"
mkdir -p "$out"
{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

for bench in "${benches[@]}"; do
  echo "== $bench"
  cargo bench -p linli-benches --bench "$bench" 2>&1 | grep -v '^\s*\(Compiling\|Running\|Finished\)' | tee "$out/$bench.txt"
done
echo "bench.sh: results in $out"
