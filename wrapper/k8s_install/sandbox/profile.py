"""The Kubernetes host profile: what kubelet and containerd need inside a podman systemd host.

It follows kind's node image (images/base in kubernetes-sigs/kind) on a cgroup v1 host:
- a private cgroup namespace, so the host's cgroup paths read as `/` inside;
- at boot, before containerd and kubelet: mounts made rshared (mount propagation for pods),
  /sys/fs/cgroup made rprivate, and the kubelet's cgroup roots created and pinned with self
  bind mounts so systemd cannot remove them;
- journald does not read the kernel log of the machine it shares;
- every Debian package Kubespray v2.31.0 installs on a Debian 12 node is in the image, and apt
  has no sources: hosts on an internal network install nothing from the internet, and the
  engine's `apt update` finds nothing to fetch instead of failing;
- no Debian containerd or runc: the engine installs its own.
"""

from __future__ import annotations

# Kubespray v2.31.0 roles/system_packages/vars/main.yml, the entries whose conditions hold on a
# Debian 12 k8s_cluster node with kube_proxy_mode iptables, ntp off and ping_access_ip off;
# plus kmod (its modinfo answers "not found" instead of "command not found"), iputils-ping,
# and python3-yaml for kubernetes.core on the node.
KUBERNETES_PACKAGES = (
    "apparmor",
    "apt-transport-https",
    "ca-certificates",
    "conntrack",
    "curl",
    "e2fsprogs",
    "ebtables",
    "gnupg",
    "iproute2",
    "ipset",
    "iptables",
    "iputils-ping",
    "kmod",
    "libseccomp2",
    "nftables",
    "openssl",
    "python3-apt",
    "python3-cryptography",
    "python3-yaml",
    "rsync",
    "socat",
    "tar",
    "unzip",
    "xfsprogs",
)

FIXUP_PATH = "usr/local/sbin/k8s-install-host-fixups"
FIXUP_UNIT = "k8s-install-host-fixups.service"

FIXUP_SCRIPT = """\
#!/bin/sh
# Mount fix-ups a Kubernetes node needs inside a privileged systemd container (as kind does).
set -eu
mount --make-rshared /
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  exit 0  # cgroup v2: nothing to pin
fi
mount --make-rprivate /sys/fs/cgroup
for subsystem in $(findmnt -lun -o target -t cgroup); do
  for root in kubelet kubelet.slice; do
    dir="$subsystem/$root"
    mkdir -p "$dir"
    if [ "${subsystem##*/}" = cpuset ]; then
      cat "$subsystem/cpuset.cpus" > "$dir/cpuset.cpus"
      cat "$subsystem/cpuset.mems" > "$dir/cpuset.mems"
    fi
    mountpoint -q "$dir" || mount --bind "$dir" "$dir"
  done
done
"""

FIXUP_UNIT_TEXT = f"""\
[Unit]
Description=Mount fix-ups for Kubernetes in a container
DefaultDependencies=no
After=local-fs.target
Before=containerd.service kubelet.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/{FIXUP_PATH}

[Install]
WantedBy=sysinit.target
"""

JOURNALD_CONF = """\
[Journal]
ReadKMsg=no
"""

# No sources: the engine's apt cache update has nothing to fetch and succeeds.
APT_SOURCES = "# k8s-install Kubernetes host: packages are pre-installed; no apt sources.\n"

CREATE_ARGS = ("--cgroupns", "private")
