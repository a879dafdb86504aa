#!/usr/bin/env bash
# Installs what building linli needs on a fresh Debian machine with rustup, and sets
# the shared build directory. Sourced by the other scripts; safe to run again.
set -euo pipefail

# librocksdb-sys generates its bindings with libclang.
if ! ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'; then
  echo "setup: installing libclang-dev (needed to build RocksDB's bindings)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libclang-dev >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; else echo "setup: cargo not found; install rustup first" >&2; exit 1; fi
fi

# RocksDB's C++ takes many minutes to build: keep builds outside the clone so every
# clone and every run reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/linli-target}"
