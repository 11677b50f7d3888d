#!/usr/bin/env bash
# Run every benchmark in bench/ that can run on this machine; skip the others with the reason.
# Each benchmark writes its figures to stdout (and most to bench/results/*.json).
#   bash scripts/bench.sh             every benchmark
#   bash scripts/bench.sh plan bundle only those whose file name contains a word given
# Needs: helm in K8S_INSTALL_HELM and chart sources in K8S_INSTALL_CHART_SOURCES (addons), root + podman (sandbox hosts), a Kubespray
# v2.31.0 checkout in K8S_INSTALL_KUBESPRAY_DIR (engine task counts), Go (artifact build), a
# kept test cluster in K8S_INSTALL_TEST_CLUSTER_DIR (adding a worker, live).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PATH="$PWD/.venv/bin:$PATH"

# name|requirements (space separated)|arguments
BENCHES=(
  "bench_plan.py||"
  "bench_wrapper_overhead.py||--rounds 3"
  "bench_addons_render.py|helm charts|--rounds 3"
  "bench_bundle.py|root podman|--rounds 3 --size-mb 128 --pull"
  "bench_sandbox.py|root podman|--skip-cold --rounds 3"
  "bench_ansible_settings.py|root podman|--repeat 2"
  "bench_scale_tasks.py|kubespray|"
  "bench_artifacts.py|go|"
  "bench_validate_hostile.py||"
  "bench_cluster.py|root podman kubespray go|"
  "bench_up_raw.py|root podman kubespray go|"
  "bench_scale_live.py|root podman kubespray kept|"
)

missing() {  # prints why a requirement is not met, or nothing
  case "$1" in
    helm) [ -x "${K8S_INSTALL_HELM:-}" ] || echo "helm: K8S_INSTALL_HELM is not an executable (make setup installs one)" ;;
    charts) [ -d "${K8S_INSTALL_CHART_SOURCES:-/nonexistent}" ] ||
      echo "charts: set K8S_INSTALL_CHART_SOURCES (bash scripts/chart-sources.sh DIR)" ;;
    root) [ "$(id -u)" = 0 ] || echo "root: sandbox hosts are privileged containers" ;;
    podman) command -v podman >/dev/null || echo "podman: not installed (apt-get install podman runc debootstrap)" ;;
    kubespray) [ -f "${K8S_INSTALL_KUBESPRAY_DIR:-/nonexistent}/cluster.yml" ] ||
      echo "kubespray: set K8S_INSTALL_KUBESPRAY_DIR to a Kubespray v2.31.0 checkout" ;;
    kept) [ -f "${K8S_INSTALL_TEST_CLUSTER_DIR:-/nonexistent}/cluster.yaml" ] ||
      echo "kept: set K8S_INSTALL_TEST_CLUSTER_DIR to a cluster kept by K8S_INSTALL_TEST_KEEP_CLUSTER=1 make test-cluster" ;;
    go) command -v go >/dev/null || echo "go: no Go toolchain on PATH" ;;
  esac
}

ran=0 skipped=0 failed=0
for row in "${BENCHES[@]}"; do
  IFS='|' read -r file needs args <<<"$row"
  if [ $# -gt 0 ]; then
    want=0
    for word in "$@"; do [[ "$file" == *"$word"* ]] && want=1; done
    [ "$want" = 1 ] || continue
  fi
  reasons=""
  for need in $needs; do reasons+="$(missing "$need")"; done
  if [ -n "$reasons" ]; then
    printf '\n== skip %s: %s\n' "$file" "$reasons"
    skipped=$((skipped + 1))
    continue
  fi
  printf '\n== %s %s\n' "$file" "$args"
  # shellcheck disable=SC2086  # args is a list of words
  if "$PY" "bench/$file" $args; then ran=$((ran + 1)); else failed=$((failed + 1)); fi
done
printf '\n== benchmarks: %d ran, %d skipped, %d failed\n' "$ran" "$skipped" "$failed"
[ "$failed" = 0 ]
