"""What to build from each wrapper module under build/, with upstream's release flags.

Each recipe names its Go packages, the output binary names, cgo and tags, and the version
stamps upstream's own build sets (Kubernetes' hack/lib/version.sh, containerd's and runc's
Makefiles, ...). The files it produces are shaped as Kubespray v2.31.0 downloads them.

A release set (SETS) is one Kubernetes release with the companions Kubespray v2.31.0 picks for
it: component name -> recipe. 1.35 is the default; 1.34 is the version an upgrade test starts
from, and shares every recipe but kubernetes, etcd and coredns with 1.35.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

KUBERNETES = "1.35.4"
ETCD = "3.6.10"
CONTAINERD = "2.2.3"
RUNC = "1.4.2"
CNI = "1.9.1"
CRICTL = "1.34.0"  # cri-tools v1.35.0 is not served by the Go module proxy
NERDCTL = "2.0.4"  # 2.1.x and 2.2.x import the test-only tigron module, which is not served
COREDNS = "1.12.4"
HELM = "3.18.4"
PAUSE = "3.10.1"
SMOKE = "1.1"  # build/smoke, the post_checks workload
# kubeseal, for the tests only: the release of the controller image that the sealed-secrets
# preset's chart (2.18.5) runs, so a test unseals our SealedSecrets with upstream's own code.
KUBESEAL = "0.36.6"
# The release time of k8s.io/kubernetes v1.35.4 on the module proxy: a fixed build date.
BUILD_DATE = "2026-04-15T18:01:22Z"

# The 1.34 set: coredns_supported_versions['1.34'] from kubespray_defaults. etcd stays 3.6.10:
# Kubespray picks a 3.5.x for 1.34, but kubeadm 1.34.4 refuses an external etcd older than
# 3.5.24, and the module proxy refuses 3.5.22 to 3.5.29 (at least one of server, etcdctl and
# etcdutl). kubeadm 1.34's own etcd is 3.6, and 3.6.10 is in Kubespray's table.
KUBERNETES_1_34 = "1.34.4"
BUILD_DATE_1_34 = "2026-02-10T12:53:36Z"  # release time of k8s.io/kubernetes v1.34.4
COREDNS_1_12 = "1.12.1"


@dataclass(frozen=True)
class Binary:
    """One `go build -o NAME PACKAGE`."""

    name: str
    package: str


@dataclass(frozen=True)
class Recipe:
    """One wrapper module (build/<name>) and how upstream builds its binaries."""

    name: str
    version: str
    binaries: tuple[Binary, ...]
    ldflags: str = ""
    tags: str = ""
    cgo: bool = False
    extra: tuple[str, ...] = ()  # more go build flags (buildmode, ...)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def module_dir(self) -> str:
        return f"build/{self.name}"


def _kube_ldflags(version: str, build_date: str) -> str:
    major, minor, _patch = version.split(".")
    stamps = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        for key, value in (
            ("gitVersion", f"v{version}"),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", build_date),
        ):
            stamps.append(f"-X {pkg}.{key}={value}")
    return "all=" + " ".join(stamps) + " -s -w"


KUBE_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)

CNI_PLUGINS = (
    "main/bridge",
    "main/dummy",
    "main/host-device",
    "main/ipvlan",
    "main/loopback",
    "main/macvlan",
    "main/ptp",
    "main/tap",
    "main/vlan",
    "ipam/dhcp",
    "ipam/host-local",
    "ipam/static",
    "meta/bandwidth",
    "meta/firewall",
    "meta/portmap",
    "meta/sbr",
    "meta/tuning",
    "meta/vrf",
)

_CONTAINERD = "github.com/containerd/containerd/v2"
_CONTAINERD_STAMP = (
    f"-X {_CONTAINERD}/version.Version=v{CONTAINERD} -X {_CONTAINERD}/version.Package={_CONTAINERD}"
)


def _kubernetes(name: str, version: str, build_date: str) -> Recipe:
    return Recipe(
        name,
        version,
        tuple(Binary(c, f"k8s.io/kubernetes/cmd/{c}") for c in KUBE_COMMANDS),
        ldflags=_kube_ldflags(version, build_date),
        tags="selinux,notest,grpcnotrace",
    )


def _etcd(name: str, version: str) -> Recipe:
    return Recipe(
        name,
        version,
        (
            Binary("etcd", "go.etcd.io/etcd/server/v3"),
            Binary("etcdctl", "go.etcd.io/etcd/etcdctl/v3"),
            Binary("etcdutl", "go.etcd.io/etcd/etcdutl/v3"),
        ),
    )


def _coredns(name: str, version: str) -> Recipe:
    return Recipe(
        name, version, (Binary("coredns", "github.com/coredns/coredns"),), ldflags="-s -w"
    )


# The 1.35 set; each recipe's name is also its component name.
RECIPES: tuple[Recipe, ...] = (
    _kubernetes("kubernetes", KUBERNETES, BUILD_DATE),
    _etcd("etcd", ETCD),
    Recipe(
        "containerd",
        CONTAINERD,
        (
            Binary("containerd", f"{_CONTAINERD}/cmd/containerd"),
            Binary("containerd-shim-runc-v2", f"{_CONTAINERD}/cmd/containerd-shim-runc-v2"),
            Binary("ctr", f"{_CONTAINERD}/cmd/ctr"),
        ),
        ldflags=_CONTAINERD_STAMP,
        tags="urfave_cli_no_docs,no_btrfs",
    ),
    Recipe(
        "runc",
        RUNC,
        (Binary("runc", "github.com/opencontainers/runc"),),
        ldflags="-linkmode external -extldflags -static-pie",
        tags="seccomp,urfave_cli_no_docs,netgo,osusergo",
        cgo=True,
        extra=("-buildmode=pie",),
    ),
    Recipe(
        "cni-plugins",
        CNI,
        tuple(
            Binary(p.rsplit("/", 1)[1], f"github.com/containernetworking/plugins/plugins/{p}")
            for p in CNI_PLUGINS
        ),
        ldflags="-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion="
        f"v{CNI}",
    ),
    Recipe(
        "cri-tools",
        CRICTL,
        (Binary("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
        ldflags=f"-X sigs.k8s.io/cri-tools/pkg/version.Version=v{CRICTL} -s -w",
    ),
    Recipe(
        "nerdctl",
        NERDCTL,
        (Binary("nerdctl", "github.com/containerd/nerdctl/v2/cmd/nerdctl"),),
        ldflags=f"-X github.com/containerd/nerdctl/v2/pkg/version.Version=v{NERDCTL} -s -w",
    ),
    _coredns("coredns", COREDNS),
    Recipe(
        "helm",
        HELM,
        (Binary("helm", "helm.sh/helm/v3/cmd/helm"),),
        ldflags=f"-X helm.sh/helm/v3/internal/version.version=v{HELM} "
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean "
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 "
        "-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=33 -s -w",  # client-go v0.33.2, as its Makefile derives,
    ),
    Recipe(
        "pause",
        PAUSE,
        (Binary("pause", "k8s-install.invalid/build/pause"),),
        ldflags="-s -w",
    ),
    Recipe(
        "smoke",
        SMOKE,
        (Binary("smoke", "k8s-install.invalid/build/smoke"),),
        ldflags="-s -w",
    ),
)


# Tools the tests run on the control machine; no release set (and no bundle) carries them.
# `-mod=readonly`: the build uses go.mod and go.sum as committed, never updating them.
TOOLS: tuple[Recipe, ...] = (
    Recipe(
        "sealed-secrets",
        KUBESEAL,
        (Binary("kubeseal", "github.com/bitnami-labs/sealed-secrets/cmd/kubeseal"),),
        ldflags=f"-X main.VERSION={KUBESEAL}",
        extra=("-mod=readonly",),
    ),
)


def by_name(name: str) -> Recipe:
    for recipe in (*RECIPES, *TOOLS):
        if recipe.name == name:
            return recipe
    raise KeyError(name)


@dataclass(frozen=True)
class ReleaseSet:
    """One Kubernetes release and its companions: component name -> the recipe that builds it."""

    name: str
    components: Mapping[str, Recipe]

    def version(self, component: str) -> str:
        return self.components[component].version


DEFAULT_SET = "1.35"
_SET_1_35 = ReleaseSet("1.35", {r.name: r for r in RECIPES})
SETS: dict[str, ReleaseSet] = {
    "1.35": _SET_1_35,
    "1.34": ReleaseSet(
        "1.34",
        {
            **_SET_1_35.components,
            "kubernetes": _kubernetes("kubernetes-1.34", KUBERNETES_1_34, BUILD_DATE_1_34),
            "coredns": _coredns("coredns-1.12", COREDNS_1_12),
        },
    ),
}
