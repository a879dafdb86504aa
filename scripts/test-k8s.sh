#!/usr/bin/env bash
# Renders every Kubernetes overlay with kubectl's kustomize and validates the result
# against the Kubernetes schemas (kubernetes-validate, from PyPI, installed if
# missing). sim/tests/k8s.rs checks the same overlays against the servers' config.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if ! command -v kubectl >/dev/null 2>&1; then
  echo "test-k8s: kubectl (with kustomize) is not installed: cannot render the overlays" >&2
  exit 1
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "test-k8s: installing kubernetes-validate"
  python3 -m pip install -q kubernetes-validate 2>/dev/null \
    || python3 -m pip install -q --break-system-packages kubernetes-validate
  hash -r
fi
rendered="$(mktemp)"
# A lab overlay (communities in the cluster, cert-manager Certificates), rendered by
# the simulator beside the committed ones for this run.
lab=k8s/overlays/.lab-test
trap 'rm -f "$rendered"; rm -rf "$lab"' EXIT
cargo build --release -q -p linli-sim --bins
"$CARGO_TARGET_DIR/release/linli-sim" k8s --preset longhua --lab-communities --cert-manager linli-ca --out "$lab" >/dev/null
for overlay in k8s/overlays/*/ "$lab/"; do
  kubectl kustomize "$overlay" > "$rendered"
  # cert-manager's Certificate has no schema here (a CRD): sim/tests/k8s.rs checks
  # those; everything else is validated strictly.
  python3 - "$rendered" <<'FILTER'
import sys
path = sys.argv[1]
docs = open(path).read().split("\n---\n")
kept = [d for d in docs if not d.startswith("apiVersion: cert-manager.io/")]
open(path, "w").write("\n---\n".join(kept))
FILTER
  kubernetes-validate --strict --quiet "$rendered" || { echo "test-k8s: $overlay does not validate" >&2; exit 1; }
  echo "test-k8s: $overlay renders and validates ($(grep -c '^kind:' "$rendered") objects)"
done
