#!/usr/bin/env bash
# Installs what building linli needs on a fresh Debian machine with rustup, and sets
# the shared build directory. Sourced by the other scripts; safe to run again.
set -euo pipefail

sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $sudo_cmd apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

# librocksdb-sys generates its bindings with libclang.
if ! ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so'; then
  echo "setup: installing libclang-dev (needed to build RocksDB's bindings)"
  apt_install libclang-dev
fi

# The console's browser test (coordinator/tests/console.rs) drives Debian's Chromium
# through chromedriver; a CJK font makes its screenshots readable. Called by test.sh.
install_browser() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
    || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then
    echo "setup: installing chromium, chromium-driver and a CJK font (the console's browser test)"
    apt_install chromium chromium-driver fonts-wqy-microhei
  fi
}

if ! command -v cargo >/dev/null 2>&1; then
  if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; else echo "setup: cargo not found; install rustup first" >&2; exit 1; fi
fi

# RocksDB's C++ takes many minutes to build: keep builds outside the clone so every
# clone and every run reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/linli-target}"
