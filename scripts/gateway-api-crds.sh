#!/usr/bin/env bash
# The Gateway API release asset standard-install.yaml, assembled from a bare git mirror of
# kubernetes-sigs/gateway-api the way its hack/build-install-yaml.sh assembles it for a release,
# and checked against the checksum Kubespray v2.31.0 pins for it (the engine checks it again):
#
#   bash scripts/gateway-api-crds.sh /work/.mirror/kubernetes-sigs+gateway-api/repo v1.5.1 OUT
#
# Nothing is built or run: the asset is the CRD files of the tag, joined with comment headers.
set -euo pipefail
git_dir=${1:?usage: gateway-api-crds.sh GIT_DIR TAG OUT}
tag=${2:?usage: gateway-api-crds.sh GIT_DIR TAG OUT}
out=${3:?usage: gateway-api-crds.sh GIT_DIR TAG OUT}
# Kubespray v2.31.0, roles/kubespray_defaults/vars/main/checksums.yml,
# gateway_api_standard_crds_checksums.
declare -A SHA256=(
  [v1.5.1]=751002b3b91a87f7ae3bd2517c79a47a8d7ed6702901808a1cf9bd97d284f9b8
)
[ -n "${SHA256[$tag]:-}" ] || { echo "gateway-api-crds: no pinned checksum for $tag" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git --git-dir="$git_dir" archive "$tag" hack/boilerplate/boilerplate.sh.txt config/crd/standard \
  | tar -x -C "$work"
mkdir -p "$(dirname "$out")"
{
  sed "s/YEAR/$(date +%Y)/g" "$work/hack/boilerplate/boilerplate.sh.txt"
  printf '#\n# Gateway API Standard channel install\n#\n'
  (cd "$work" && for file in config/crd/standard/gateway*.yaml; do
    printf -- '---\n#\n# %s\n#\n' "$file"
    cat "$file"
  done)
} >"$out.part"
echo "${SHA256[$tag]}  $out.part" | sha256sum -c --quiet
mv "$out.part" "$out"
