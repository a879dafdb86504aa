#!/usr/bin/env bash
# Builds the image linli:latest with podman and runs it once: the Dockerfile where
# its base images can be pulled; otherwise the same image from scratch, out of the
# binaries built here and the shared libraries they load (this machine reaches no
# container registry). Then a smoke run in the container: a community's day against
# RocksDB on a tmpfs, as uid 10001 with a read-only root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  echo "image: installing podman and runc"
  sudo_cmd=""; if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq podman runc >/dev/null
fi
# runc, and limits no higher than the host's: on machines whose cgroups are in hybrid
# mode crun refuses to start a container, and podman's default limits (1,048,576
# open files) may be above what the host lets a process raise to.
run() { podman --runtime runc run --rm --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$@"; }
if timeout 60 podman pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
  podman build -t linli:latest .
else
  echo "image: no base image can be pulled here; building linli:latest from scratch"
  cargo build --release -p linli-node -p linli-coordinator -p linli-ctl --bins >&2
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
  root="$context/rootfs"
  mkdir -p "$root/usr/local/bin" "$root/etc" "$root/var/lib/linli" "$root/tmp"
  for bin in linli-node linli-coordinator linlictl; do
    cp "$CARGO_TARGET_DIR/release/$bin" "$root/usr/local/bin/"
    strip --strip-debug "$root/usr/local/bin/$bin"
  done
  # The dynamic loader and every library the binaries load, at their paths.
  for lib in $(ldd "$root"/usr/local/bin/* | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  echo 'linli:x:10001:10001:linli:/var/lib/linli:/sbin/nologin' > "$root/etc/passwd"
  echo 'linli:x:10001:' > "$root/etc/group"
  chmod 1777 "$root/tmp"
  cat > "$context/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY rootfs/ /
USER 10001:10001
EXPOSE 7400 9400
CMD ["linli-coordinator", "--help"]
CONTAINERFILE
  podman build -q -t linli:latest "$context" >/dev/null
fi
size="$(podman image inspect linli:latest --format '{{.Size}}' | awk '{ printf "%.0f MB", $1 / 1e6 }')"
echo "image: linli:latest, $size, user $(podman image inspect linli:latest --format '{{.Config.User}}')"
run linli:latest linli-coordinator --help | head -1
run --read-only --tmpfs /data:rw,mode=1777 linli:latest linli-node demo --data /data/store --requests 200 | head -1
echo "image: ok"

