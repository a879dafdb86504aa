#!/usr/bin/env bash
# The community server's package, installed for real: builds two revisions of the
# .deb, installs the first with dpkg, checks the unit (systemd-analyze verify; the
# service itself where systemd runs, else the binary as the service's user with the
# packaged config), refuses to start while unconfigured, serves once configured with
# a generated certificate, keeps data and config across an upgrade, and keeps the
# data after `dpkg -r` and `--purge`.
#
# Needs root, and changes the machine (/usr/bin, /etc/linli, /var/lib/linli, a
# `linli` user): it refuses to run where linli-node was installed by anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "test-deb: needs root (dpkg -i); skipped"; exit 0; fi
marker=/var/lib/linli/.installed-by-test-deb
if dpkg -s linli-node >/dev/null 2>&1 && [ ! -f "$marker" ]; then
  echo "test-deb: linli-node is installed here by someone else; not touching it"; exit 1
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "test-deb: installing systemd (for systemd-analyze verify)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }
work="$(mktemp -d)"
node_pid=""
# Nothing of the package, its store or its config left: before the test and after.
purge() { dpkg --purge linli-node >/dev/null 2>&1 || true; rm -rf /var/lib/linli /etc/linli; }
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; fi
  purge
  rm -rf "$work"
}
trap cleanup EXIT
purge

deb1="$(LINLI_DEB_REVISION=1 scripts/package-deb.sh "$work" | tail -1)"
deb2="$(LINLI_DEB_REVISION=2 scripts/package-deb.sh "$work" | tail -1)"
dpkg -i "$deb1" >/dev/null
mkdir -p /var/lib/linli && touch "$marker"
[ -x /usr/bin/linli-node ] && [ -x /usr/bin/linlictl ] || fail "binaries not installed"
getent passwd linli >/dev/null || fail "no linli user"
systemd-analyze verify /lib/systemd/system/linli-node.service 2>"$work/verify" \
  || { cat "$work/verify"; fail "systemd-analyze verify"; }
echo "test-deb: installed $(basename "$deb1"); the unit verifies"

run_node() {
  chown -R linli:linli /var/lib/linli
  if [ -d /run/systemd/system ]; then
    systemctl start linli-node.service
  else
    runuser -u linli -- /usr/bin/linli-node serve --config /etc/linli/node.toml >>"$work/node.log" 2>&1 &
    node_pid=$!
  fi
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/17420) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  cat "$work/node.log" 2>/dev/null; fail "the node did not listen"
}
stop_node() {
  if [ -d /run/systemd/system ]; then systemctl stop linli-node.service; return; fi
  kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=""
}

# Unconfigured: refused with a line that says what is missing.
if runuser -u linli -- /usr/bin/linli-node serve --config /etc/linli/node.toml 2>"$work/refused"; then
  fail "started without an id"
fi
grep -q 'missing `id`' "$work/refused" || { cat "$work/refused"; fail "the refusal does not name the missing key"; }
echo "test-deb: unconfigured, it refuses: $(head -1 "$work/refused")"

# Configured with a generated certificate.
id=lg-pingdi-pingdi
staff=staff--lg-pingdi-pingdi--test
linlictl certs --out "$work/certs" --ca-name lg lg-pingdi "$id" "$staff" >/dev/null
sed -i -e "s|^# id = \"\"|id = \"$id\"|" -e 's|^# parent = ""|parent = "https://127.0.0.1:1"|' \
  -e 's|^# parent_id = ""|parent_id = "lg-pingdi"|' -e 's|0.0.0.0:7420|127.0.0.1:17420|' \
  -e 's|0.0.0.0:9420|127.0.0.1:19420|' /etc/linli/node.toml
# Configured, without its certificate: refused with a line naming the file.
if runuser -u linli -- /usr/bin/linli-node serve --config /etc/linli/node.toml 2>"$work/refused"; then
  fail "started without a certificate"
fi
grep -q "reading the CA certificate /etc/linli/tls/ca.pem: No such file" "$work/refused" \
  || { cat "$work/refused"; fail "the refusal does not name the missing certificate"; }
echo "test-deb: without its certificate, it refuses: $(grep -m1 'reading the CA' "$work/refused")"
install -m 0644 "$work/certs/ca.pem" /etc/linli/tls/ca.pem
install -m 0644 "$work/certs/$id.pem" /etc/linli/tls/node.pem
install -m 0640 -g linli "$work/certs/$id.key" /etc/linli/tls/node.key
ctl=(linlictl --addr https://127.0.0.1:17420 --tls-dir "$work/certs" --as "$staff" --server-id "$id")
run_node
written="$("${ctl[@]}" --format json write create --owner "$id" --registry requests category=environment \
  channel=qr_code grid=g1 summary=路灯 reported_at=1795320000000 deadline=1795338000000 \
  2>&1)" || { echo "$written"; cat "$work/node.log" 2>/dev/null; fail "no record written"; }
key="$(echo "$written" | sed -n 's/.*"record": *"\([^"]*\)".*/\1/p' | head -1)"
[ -n "$key" ] || { echo "$written"; fail "no record key in linlictl's answer"; }
"${ctl[@]}" backup --label package-test >/dev/null || fail "backup under /var/lib/linli"
[ -f /var/lib/linli/backups/package-test/CURRENT ] || fail "no backup in backup_dir"
stop_node
echo "test-deb: served, wrote $key, took a backup"

# Upgrade: the config (edited) and the data stay.
dpkg -i "$deb2" >/dev/null
grep -q "^id = \"$id\"" /etc/linli/node.toml || fail "the upgrade replaced the config"
run_node
"${ctl[@]}" --format json get "$key" | grep -q "路灯" || fail "the record is gone after the upgrade"
stop_node
echo "test-deb: upgraded to $(basename "$deb2"); config and data kept"

# Remove, then purge: the store stays.
dpkg -r linli-node >/dev/null
[ ! -e /usr/bin/linli-node ] || fail "dpkg -r left the binary"
[ -f /var/lib/linli/data/CURRENT ] || fail "dpkg -r removed the store"
[ -f /etc/linli/node.toml ] || fail "dpkg -r removed the config (a conffile)"
dpkg --purge linli-node >/dev/null
[ -f /var/lib/linli/data/CURRENT ] || fail "dpkg --purge removed the store"
echo "test-deb: removed and purged; the store is kept"
echo "test-deb: ok"
