#!/usr/bin/env bash
# Unpack the upstream chart sources the tests need (tests/fixtures/chart-sources.tsv) from bare
# git mirrors into DEST, one DEST/NAME-VERSION/ per chart at its pinned tag, for
# K8S_INSTALL_CHART_SOURCES:
#
#   bash scripts/chart-sources.sh /tmp/chart-sources     # mirrors in /work/.mirror (or $MIRRORS)
#   export K8S_INSTALL_CHART_SOURCES=/tmp/chart-sources
#
# A chart whose mirror or tag is missing is named and left out; the tests that need it fail in CI
# and skip elsewhere, with that reason. Nothing here builds or runs the fetched code.
set -euo pipefail
DEST=${1:?usage: chart-sources.sh DEST}
MIRRORS=${MIRRORS:-/work/.mirror}
TABLE="$(dirname "$0")/../tests/fixtures/chart-sources.tsv"

rm -rf "$DEST" && mkdir -p "$DEST"
missing=0
while IFS=$'\t' read -r chart version mirror tag paths; do
  case "$chart" in '' | '#'*) continue ;; esac
  git_dir="$MIRRORS/$mirror/repo"
  if ! git --git-dir="$git_dir" rev-parse --verify -q "refs/tags/$tag" >/dev/null 2>&1; then
    echo "chart-sources: $chart $version: no tag $tag in $git_dir" >&2
    missing=$((missing + 1))
    continue
  fi
  mkdir -p "$DEST/$chart-$version"
  # shellcheck disable=SC2086  # paths is a space-separated list
  git --git-dir="$git_dir" archive "refs/tags/$tag" $paths | tar -x -C "$DEST/$chart-$version"
done <"$TABLE"
echo "chart-sources: $(find "$DEST" -mindepth 1 -maxdepth 1 -type d | wc -l) charts in $DEST, $missing missing"
