"""What to build from each wrapper module under build/, with upstream's release flags.

Each recipe names its Go packages, the output binary names, cgo and tags, and the version
stamps upstream's own build sets (Kubernetes' hack/lib/version.sh, containerd's and runc's
Makefiles, ...). The files it produces are shaped as Kubespray v2.31.0 downloads them.
ADDONS are the programs of the addon presets' container images (addon_images.py); they are
built `-mod=readonly`, from go.mod and go.sum as committed.

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


# The addons' images, at the versions the presets' charts run (their appVersion or image.tag).
METRICS_SERVER = "0.8.0"  # chart metrics-server 3.13.0
LOCAL_PATH_PROVISIONER = "0.0.33"  # chart local-path-provisioner 0.0.34
METALLB = "0.15.2"  # chart metallb 0.15.2
SEALED_SECRETS = "0.36.6"  # chart sealed-secrets 2.18.5
# The chart (41.3.0) runs v3.7.11, but every v3.7.x on the module proxy requires
# github.com/traefik/traefik/dynamic/ext, a nested module of traefik's tree that the proxy does
# not serve: the newest v3.6.x it serves. The traefik preset pins this tag.
TRAEFIK = "3.6.25"
# Release times on the module proxy (`go mod download -json`), the fixed build dates of the
# stamps that upstream takes from the clock; and the commits of the release tags.
METRICS_SERVER_DATE = "2025-07-03T08:11:27Z"
METRICS_SERVER_COMMIT = "d66279c6426c6581d9656fe3d42bc52db7c29597"
METALLB_COMMIT = "942c2fe54a75ac6353d3099eeebff33b6b8fe3f0"
TRAEFIK_DATE = "2026-07-31T08:34:05Z"
TRAEFIK_CODENAME = "ramequin"  # .github/workflows/release.yaml of the v3.6 branch
_READONLY = ("-mod=readonly",)
_METALLB_STAMP = (
    f"-X go.universe.tf/metallb/internal/version.gitCommit={METALLB_COMMIT} "
    f"-X go.universe.tf/metallb/internal/version.gitBranch=v{METALLB}"
)
_TRAEFIK_VERSION = "github.com/traefik/traefik/v3/pkg/version"

ADDONS: tuple[Recipe, ...] = (
    # Makefile: `go build -mod=readonly -trimpath -ldflags "-w $(VERSION_LDFLAGS)"`.
    Recipe(
        "metrics-server",
        METRICS_SERVER,
        (Binary("metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server"),),
        ldflags=f"-w -X k8s.io/client-go/pkg/version.gitVersion=v{METRICS_SERVER} "
        f"-X k8s.io/client-go/pkg/version.gitCommit={METRICS_SERVER_COMMIT} "
        f"-X k8s.io/client-go/pkg/version.buildDate={METRICS_SERVER_DATE}",
        extra=_READONLY,
    ),
    # scripts/build and scripts/version: the tag as main.VERSION, static, stripped.
    Recipe(
        "local-path-provisioner",
        LOCAL_PATH_PROVISIONER,
        (Binary("local-path-provisioner", "github.com/rancher/local-path-provisioner"),),
        ldflags=f"-X main.VERSION=v{LOCAL_PATH_PROVISIONER} -extldflags -static -s -w",
        extra=_READONLY,
    ),
    # controller/Dockerfile and speaker/Dockerfile, with the build args of publish.yaml.
    Recipe(
        "metallb",
        METALLB,
        (
            Binary("controller", "go.universe.tf/metallb/controller"),
            Binary("speaker", "go.universe.tf/metallb/speaker"),
        ),
        ldflags=_METALLB_STAMP,
        extra=_READONLY,
    ),
    # .goreleaser.yml: the controller build, `-X main.VERSION={{ .Version }}`.
    Recipe(
        "sealed-secrets-controller",
        SEALED_SECRETS,
        (Binary("controller", "github.com/bitnami-labs/sealed-secrets/cmd/controller"),),
        ldflags=f"-X main.VERSION={SEALED_SECRETS}",
        extra=_READONLY,
    ),
    # .goreleaser.yml.tmpl: -trimpath, the version without its v, the codename, the date. The
    # web UI (webui/static, an npm build) is not in the module: the binary serves no dashboard.
    Recipe(
        "traefik",
        TRAEFIK,
        (Binary("traefik", "github.com/traefik/traefik/v3/cmd/traefik"),),
        ldflags=f"-s -w -X {_TRAEFIK_VERSION}.Version={TRAEFIK} "
        f"-X {_TRAEFIK_VERSION}.Codename={TRAEFIK_CODENAME} "
        f"-X {_TRAEFIK_VERSION}.BuildDate={TRAEFIK_DATE}",
        extra=_READONLY,
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
    for recipe in (*RECIPES, *ADDONS, *TOOLS):
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
