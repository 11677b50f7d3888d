#!/usr/bin/env bash
# Install helm 3.18.4, the helm the product pins, for the tests: built from the helm.sh/helm/v3
# Go module with upstream's release flags (build/helm, scripts/artifacts), cached by its inputs.
set -euo pipefail
BIN_DIR=${1:?usage: install-helm.sh BIN_DIR}
VERSION=v3.18.4
cd "$(dirname "$0")/.."

if [ -x "$BIN_DIR/helm" ] && "$BIN_DIR/helm" version --short 2>/dev/null | grep -q "^$VERSION"; then
  exit 0
fi
echo "== helm $VERSION from the Go module (a few minutes the first time, then cached)"
built=$("$BIN_DIR/python" scripts/artifacts/build.py --only helm | sed -n 's/^helm: //p')
install -m 0755 "$built/helm" "$BIN_DIR/helm"
"$BIN_DIR/helm" version --short
