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

from k8s_install.sandbox.podman import NOFILE_MAX

# Kubespray v2.31.0 roles/system_packages/vars/main.yml, the entries whose conditions hold on a
# Debian 12 k8s_cluster node with kube_proxy_mode iptables, ntp off and ping_access_ip off;
# plus kmod (its modinfo answers "not found" instead of "command not found"), iputils-ping,
# and python3-yaml for kubernetes.core on the node.
KUBERNETES_PACKAGES = (
    "apparmor",
    "apt-transport-https",
    "bash-completion",
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
    "mergerfs",
    "nftables",
    "openssl",
    "python3-apt",
    "python3-cryptography",
    "python3-yaml",
    "rsync",
    "socat",
    "software-properties-common",
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

# The engine settings a cluster on these hosts needs (written into the sandbox's cluster.yaml,
# `kubespray:` section). Each answers a limit of a container sharing this machine's kernel.
KUBESPRAY_VARS: dict[str, object] = {
    # The machine has hybrid cgroup v1; Kubernetes 1.35 refuses it unless told otherwise.
    "kubelet_fail_cgroup_v1": False,
    # The kubelet tolerates swap on a machine that has it and uses none; the engine's other
    # path (fail on swap) would run `swapoff -a`, which acts on the shared kernel. LimitedSwap,
    # the engine's default, needs cgroup v2.
    "kubelet_fail_swap_on": False,
    "kubelet_swap_behavior": "NoSwap",
    # True would make the engine write global kernel sysctls of the shared machine.
    "kubelet_protect_kernel_defaults": False,
    # No IPVS in the kernel, and conntrack limits are global: leave them alone.
    "kube_proxy_mode": "iptables",
    "kube_proxy_conntrack_max_per_core": 0,
    "kube_proxy_conntrack_min": 0,
    # The kubelet sees the machine's disk: never evict or collect images because of it.
    "eviction_hard": {
        "nodefs.available": "0%",
        "nodefs.inodesFree": "0%",
        "imagefs.available": "0%",
    },
    "kubelet_image_gc_high_threshold": 100,
    # nodelocaldns needs the dummy interface module, absent here; no autoscaler image.
    "enable_nodelocaldns": False,
    "enable_dns_autoscaler": False,
    # podman bind-mounts /etc/resolv.conf; no ping in the engine's preinstall checks.
    "resolvconf_mode": "none",
    "ping_access_ip": False,
    # Workers talk to the first control plane directly: no nginx proxy image.
    "loadbalancer_apiserver_localhost": False,
    # kubeadm's SystemVerification is a hard error on cgroup v1 from 1.35 on, even with
    # failCgroupV1 false; kubeadm itself says to skip it explicitly.
    "kubeadm_ignore_preflight_errors": ["SystemVerification"],
    # This machine has no CAP_SYS_RESOURCE, even for root: a negative oom_score_adj (pause
    # sandboxes get -998) is refused, so containerd clamps it to its own, as in rootless mode.
    "containerd_extra_runtime_args": {"restrict_oom_score_adj": True},
    # Nor can a limit go above the host's hard nofile limit (NOFILE_MAX): runc fails every
    # container whose spec asks for more (the engine asks for 65535).
    "containerd_base_runtime_spec_rlimit_nofile": NOFILE_MAX,
    "containerd_limit_open_file_num": NOFILE_MAX,
}
