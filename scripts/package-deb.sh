#!/usr/bin/env bash
# Builds the community server's Debian package: linli-node and linlictl, the systemd
# unit, the default config in /etc/linli (a conffile: kept on upgrade), the operations
# guide. Usage: scripts/package-deb.sh [OUT_DIR] (default: target-deb/ in the clone).
# LINLI_DEB_REVISION sets the Debian revision (default 1): a later revision is an
# upgrade of the same binaries, as the package test installs one over the other.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "package-deb: installing dpkg-dev"
  sudo_cmd=""; if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dpkg-dev >/dev/null
fi
out="${1:-target-deb}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cargo build --release -p linli-node -p linli-ctl --bins >&2
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)-${LINLI_DEB_REVISION:-1}"
arch="$(dpkg --print-architecture)"
root="$(mktemp -d)"
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$CARGO_TARGET_DIR/release/linli-node" "$root/usr/bin/linli-node"
install -D -m 0755 "$CARGO_TARGET_DIR/release/linlictl" "$root/usr/bin/linlictl"
install -D -m 0644 packaging/deb/linli-node.service "$root/lib/systemd/system/linli-node.service"
install -D -m 0640 packaging/deb/node.toml "$root/etc/linli/node.toml"
install -d -m 0750 "$root/etc/linli/tls"
install -D -m 0644 docs/operations.md "$root/usr/share/doc/linli-node/operations.md"
install -D -m 0644 README.md "$root/usr/share/doc/linli-node/README.md"
strip --strip-debug "$root/usr/bin/linli-node" "$root/usr/bin/linlictl" 2>/dev/null || true
install -d "$root/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
echo "/etc/linli/node.toml" > "$root/DEBIAN/conffiles"
size_kb="$(du -sk "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: linli-node
Version: $version
Architecture: $arch
Maintainer: linli <linli@localhost>
Installed-Size: $size_kb
Depends: adduser, libc6, libstdc++6, libgcc-s1
Section: net
Priority: optional
Description: linli community node
 Keeps a community's governance registries (residents' requests, tasks,
 micro-projects, volunteer hours, sites) on the community's own server, working
 offline, and replicates them to its street over mutual TLS. Personal fields never
 leave this server.
CONTROL
deb="$out/linli-node_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
echo "$deb"
