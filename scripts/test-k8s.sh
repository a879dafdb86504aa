#!/usr/bin/env bash
# Renders every Kubernetes overlay with kubectl's kustomize and validates the result
# against the Kubernetes schemas (kubernetes-validate, from PyPI, installed if
# missing). sim/tests/k8s.rs checks the same overlays against the servers' config.
set -euo pipefail
cd "$(dirname "$0")/.."
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
trap 'rm -f "$rendered"' EXIT
for overlay in k8s/overlays/*/; do
  kubectl kustomize "$overlay" > "$rendered"
  kubernetes-validate --strict --quiet "$rendered" || { echo "test-k8s: $overlay does not validate" >&2; exit 1; }
  echo "test-k8s: $overlay renders and validates ($(grep -c '^kind:' "$rendered") objects)"
done
