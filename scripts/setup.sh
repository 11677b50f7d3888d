#!/usr/bin/env bash
# Set up a fresh Debian machine for k8s-install development and tests. Idempotent.
#   - apt packages: podman + runc (test hosts), debootstrap (host image), nginx and
#     docker-registry (offline repo tests), etcd-client, git, openssh-client,
#     gcc, libseccomp-dev and pkg-config (the runc build: cgo with seccomp)
#   - no podman, containers.conf or sysctl configuration: the sandbox follows the network
#     backend the machine has (docs/sandbox.md, "What scripts/setup.sh changes")
#   - a virtualenv in .venv with k8s-install and its dev extras
#   - helm 3.18.4 (the version the product pins), built from its Go module (tests only)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
APT_PACKAGES=(podman runc debootstrap uidmap nginx docker-registry etcd-client git openssh-client
              unzip make python3-venv iproute2 iptables ca-certificates curl
              gcc libc6-dev libseccomp-dev pkg-config)
# Go builds helm and the cluster components (Go 1.26 is on every machine; the Go module
# proxy is the only source).
command -v go >/dev/null || { echo "setup: no Go toolchain on PATH (go 1.26 is needed)" >&2; exit 1; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged services are started by the tests on their own ports; keep the defaults off.
for service in nginx docker-registry; do
  systemctl disable --now "$service" >/dev/null 2>&1 || service "$service" stop >/dev/null 2>&1 || true
done

# Bundles and engine tarballs are unpacked with tarfile's "data" filter (Python 3.11.4 and
# later; Debian 12's own python3 3.11.2 lacks it), so the venv is made from the first
# interpreter on PATH that has it, and an older venv is replaced.
has_filter='import sys, tarfile; sys.exit(0 if hasattr(tarfile, "data_filter") else 1)'
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c "$has_filter" 2>/dev/null; then
  echo "== $VENV was made from a Python without tarfile's data filter; replacing it"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=""
  for candidate in ${PYTHON_FOR_VENV:-} python3.13 python3.12 python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c "$has_filter" 2>/dev/null; then
      PYTHON=$(command -v "$candidate"); break
    fi
  done
  if [ -z "$PYTHON" ]; then
    echo "setup: no Python 3.11.4 or later on PATH (tarfile's data filter is needed);" \
         "install one (pyenv, or python3.12 from backports) or name it with PYTHON_FOR_VENV=" >&2
    exit 1
  fi
  echo "== python venv in $VENV from $PYTHON ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
  echo "== pip install -e .[dev]"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e '.[dev]'
  touch "$VENV/.installed"
fi

bash scripts/install-helm.sh "$VENV/bin"
echo "== setup done: $("$VENV/bin/k8s-install" --version)"
