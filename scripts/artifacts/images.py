"""The container images a minimal Kubespray cluster pulls, built from our own binaries.

Developer tooling (not in the wheel). Each image carries the upstream name and tag kubeadm and
Kubespray v2.31.0 ask for, so the offline registry (`oci.push`) places it where they look:

  registry.k8s.io/pause:3.10.1            /pause (ours, build/pause), Entrypoint ["/pause"]
  registry.k8s.io/kube-apiserver:v1.35.4  /usr/local/bin/kube-apiserver, no Entrypoint: kubeadm's
  ...kube-controller-manager, ...scheduler   static pods run `command: [kube-apiserver, ...]` by PATH
  registry.k8s.io/kube-proxy:v1.35.4      netbase + /usr/local/bin/kube-proxy (kubeadm's addon
                                          DaemonSet runs `/usr/local/bin/kube-proxy --config=...`)
  registry.k8s.io/coredns/coredns:v1.12.4 /coredns, Entrypoint ["/coredns"] (Kubespray passes
                                          `-conf /etc/coredns/Corefile`)
  docker.io/k8s-install/smoke:1.1         /smoke (ours, build/smoke) for post_checks (SMOKE_IMAGE)

netbase is Debian bookworm from debootstrap with the iptables (nft), nftables, conntrack and
iproute2 that kube-proxy runs; the tree is cached under `cache`, keyed by its inputs.

    python3 scripts/artifacts/images.py LAYOUT CACHE kube-apiserver=PATH ... smoke=PATH
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import layers, oci
from k8s_install.sandbox import image as host_image

# The default tags: kubeadm 1.35.4 and Kubespray v2.31.0 ask for exactly these
# (kubespray_defaults: pod_infra_supported_versions['1.35'], coredns_supported_versions['1.35']).
# build.py passes the tags of the release set it builds (build.image_versions).
VERSIONS: dict[str, str] = {
    "kubernetes": "v1.35.4",
    "pause": "3.10.1",
    "coredns": "v1.12.4",
    "smoke": "1.1",
}
REPO = "registry.k8s.io"  # Kubespray's kube_image_repo, kubeadm's imageRepository
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES = ("pause", *CONTROL_PLANE, "kube-proxy", "coredns", "smoke")

SMOKE_IMAGE = f"docker.io/k8s-install/smoke:{VERSIONS['smoke']}"
"""The post_checks smoke image (post_checks_image): one static program, /smoke.

Its default command, `smoke serve`, answers every GET on port 80 with the pod's name, so an
answer says which replica served it. `smoke get -n N URL` is the client: one line per request,
the answer or `failed: <reason>`. Set post_checks_server_command to
["/smoke", "serve", "-listen", ":<port>"] and post_checks_client_command to
["/smoke", "get", "-n", "<requests>", "<url>"].
"""
SMOKE_ENTRYPOINT = ("/smoke",)
SMOKE_CMD = ("serve", "-listen", ":80")

NETBASE_PACKAGES = ("conntrack", "iproute2", "iptables", "nftables")
# Emptied after debootstrap (the directories stay). Copyright files in /usr/share/doc stay,
# as in Debian's own slim images: the layer redistributes GPL binaries.
NETBASE_EMPTIED = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/info",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/log",
    "dev",  # device nodes: the runtime mounts /dev
)
# Bump when netbase() changes what it does, so cached trees are rebuilt.
NETBASE_RECIPE = "1"
RELEASE_HEAD_BYTES = 64 * 1024  # an InRelease header, with the Date field, fits well within


Log = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


class ImageBuildError(K8sInstallError):
    pass


# ---------------------------------------------------------------- cache


@contextmanager
def _locked(cache: Path, name: str) -> Iterator[None]:
    """One builder of `name` at a time on this cache (parallel test workers, two shells)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cached(cache: Path, name: str, key: str, build: Callable[[Path], None]) -> Path:
    """cache/<name>-<key>, built by `build(tmp)` into a temporary directory, then renamed."""
    final = cache / f"{name}-{key}"
    if final.is_dir():
        return final
    with _locked(cache, name):
        if final.is_dir():
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
        try:
            work.chmod(0o755)
            build(work)
            work.rename(final)  # readers see no tree or a whole one
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _empty(directory: Path) -> None:
    if directory.is_symlink() or not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _needs(tool: str, what: str, *, root: bool) -> None:
    if root and os.geteuid() != 0:
        raise ImageBuildError(
            f"building {what} needs root ({tool} creates root-owned files)",
            code=ExitCode.INVALID_INPUT,
        )
    if shutil.which(tool) is None:
        raise ImageBuildError(
            f"{tool} is not installed (it builds {what})",
            fix=f"apt-get install {tool}",
            code=ExitCode.INVALID_INPUT,
        )


# ---------------------------------------------------------------- netbase


def debian_mirror() -> str:
    return os.environ.get(host_image.MIRROR_ENV, host_image.DEFAULT_MIRROR).rstrip("/")


def debian_snapshot(mirror: str, suite: str = host_image.SUITE) -> str:
    """Which Debian debootstrap would install: the Date of the suite's InRelease at the mirror
    (it changes with every update of the suite's packages)."""
    url = f"{mirror}/dists/{suite}/InRelease"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            head: str = response.read(RELEASE_HEAD_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        raise ImageBuildError(
            f"cannot read {url}: {exc}",
            fix=f"set {host_image.MIRROR_ENV} to a reachable Debian mirror",
            code=ExitCode.INVALID_INPUT,
        ) from exc
    for line in head.splitlines():
        if line.startswith("Date:"):
            return line.removeprefix("Date:").strip()
    raise ImageBuildError(
        f"{url} has no Date field",
        fix=f"set {host_image.MIRROR_ENV} to a Debian mirror",
        code=ExitCode.INVALID_INPUT,
    )


def netbase_key(snapshot: str, packages: tuple[str, ...] = NETBASE_PACKAGES) -> str:
    """The netbase tree's inputs: suite, variant, packages, what is emptied, and the Debian
    snapshot (debian_snapshot) of the mirror it comes from."""
    text = "\n".join(
        [
            host_image.SUITE,
            "minbase",
            NETBASE_RECIPE,
            *sorted(packages),
            *NETBASE_EMPTIED,
            f"mirror={debian_mirror()}",
            f"snapshot={snapshot}",
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def netbase(cache: Path, log: Log = _quiet, key: str = "") -> Path:
    """A minimal Debian bookworm root with iptables (nft), nftables, conntrack, iproute2.

    Built once with debootstrap (the mirror from K8S_INSTALL_DEBIAN_MIRROR) and cached as
    cache/netbase-<key>, keyed by the mirror's snapshot too; documentation, apt lists and
    caches, logs and /dev are emptied.
    """
    key = key or netbase_key(debian_snapshot(debian_mirror()))
    return _cached(cache, "netbase", key, lambda root: _build_netbase(root, log))


def _build_netbase(root: Path, log: Log) -> None:
    _needs("debootstrap", "the netbase image layer", root=True)
    mirror = debian_mirror()
    log(f"debootstrap {host_image.SUITE} (minbase + {', '.join(NETBASE_PACKAGES)}) from {mirror}")
    host_image._run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(NETBASE_PACKAGES),
            host_image.SUITE,
            str(root),
            mirror,
        ],
        "debootstrap",
    )
    for relative in NETBASE_EMPTIED:
        directory = root / relative
        if relative == "usr/share/doc":
            _empty_keeping_copyright(directory)
        else:
            _empty(directory)
    for name in ("etc/hostname", "etc/resolv.conf"):
        (root / name).unlink(
            missing_ok=True
        )  # debootstrap copies the build host's; kubelet mounts its own
    (root / "etc/machine-id").write_text("")
    check_nft_alternative(root)


def _empty_keeping_copyright(doc: Path) -> None:
    for package in doc.iterdir() if doc.is_dir() else []:
        if package.is_symlink() or not package.is_dir():
            package.unlink()
            continue
        for child in package.iterdir():
            if child.name == "copyright" and not child.is_symlink():
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def check_nft_alternative(root: Path) -> None:
    """iptables in the tree must be the nft variant, as on the bookworm nodes (one backend)."""
    for name in ("iptables", "ip6tables"):
        link = root / "etc/alternatives" / name
        target = os.readlink(link) if link.is_symlink() else ""
        if not target.endswith(f"/{name}-nft"):
            raise ImageBuildError(
                f"{link} points at {target or 'nothing'}, not {name}-nft",
                fix="the nodes use the nft backend; kube-proxy must write the same tables",
            )


# ---------------------------------------------------------------- images


def image_names(versions: Mapping[str, str] | None = None) -> dict[str, str]:
    """Binary or image kind -> full image name."""
    v = {**VERSIONS, **(versions or {})}
    names = {name: f"{REPO}/{name}:{v['kubernetes']}" for name in (*CONTROL_PLANE, "kube-proxy")}
    names["pause"] = f"{REPO}/pause:{v['pause']}"
    names["coredns"] = f"{REPO}/coredns/coredns:{v['coredns']}"
    names["smoke"] = f"docker.io/k8s-install/smoke:{v['smoke']}"
    return names


def build_images(
    layout: Path,
    bins: Mapping[str, Path],
    cache: Path,
    versions: Mapping[str, str] | None = None,
    *,
    netbase_root: Path | None = None,
    log: Log = _quiet,
) -> list[str]:
    """Write the images into the OCI layout; returns their names.

    `bins` maps each of BINARIES to a static binary. netbase_root defaults to netbase(cache)
    (give a tree of your own to skip building it).
    """
    missing = [name for name in BINARIES if name not in bins]
    if missing:
        raise ImageBuildError("no binary for " + ", ".join(missing), code=ExitCode.INVALID_INPUT)
    names = image_names(versions)

    def binary(path: str, name: str) -> layers.LayerFile:
        return oci.write_layer(layout, [layers.file_from(path, bins[name], 0o755)])

    started = time.monotonic()
    oci.write_layered_image(
        layout, names["pause"], [binary("pause", "pause")], oci.ImageConfig(entrypoint=("/pause",))
    )
    for name in CONTROL_PLANE:
        layer = binary(f"usr/local/bin/{name}", name)
        oci.write_layered_image(layout, names[name], [layer], oci.ImageConfig())
    oci.write_layered_image(
        layout,
        names["coredns"],
        [binary("coredns", "coredns")],
        oci.ImageConfig(entrypoint=("/coredns",)),
    )
    log(f"netbase layer for {names['kube-proxy']}")
    # Debian's own owners stay (shadow, mail, staff): chage and unix_chkpwd are setgid shadow,
    # and would become setgid root with 0:0.
    base = oci.write_layer(
        layout, layers.tree_entries(netbase_root or netbase(cache, log), keep_owners=True)
    )
    proxy = binary("usr/local/bin/kube-proxy", "kube-proxy")
    oci.write_layered_image(layout, names["kube-proxy"], [base, proxy], oci.ImageConfig())
    oci.write_layered_image(
        layout,
        names["smoke"],
        [binary("smoke", "smoke")],
        oci.ImageConfig(entrypoint=SMOKE_ENTRYPOINT, cmd=SMOKE_CMD),
    )
    log(f"{len(names)} images in {time.monotonic() - started:.1f}s")
    return list(names.values())


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.rstrip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    layout, cache, *pairs = argv
    bins = {name: Path(path) for name, _, path in (pair.partition("=") for pair in pairs)}
    for name in build_images(Path(layout), bins, Path(cache), log=print):
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
