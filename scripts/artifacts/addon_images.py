"""The addon presets' container images, built from our own binaries (recipes.ADDONS).

Developer tooling (not in the wheel). Each image has the name and tag its preset's chart runs
by default, so the offline registry (`oci.push`) places it where the pods look, and upstream's
entrypoint, command and user (their Dockerfiles):

  registry.k8s.io/metrics-server/metrics-server:v0.8.0  /metrics-server, Entrypoint, user 65534
  docker.io/rancher/local-path-provisioner:v0.0.33      /usr/bin/local-path-provisioner, Cmd
                                          [local-path-provisioner] (the chart's `command` too)
  docker.io/library/busybox:1.35.0        the provisioner's helper pod (`sh`, `mkdir`, `rm`):
                                          Debian bookworm's busybox-static, /bin/busybox and a
                                          link per applet in /bin, Cmd [sh]
  quay.io/metallb/controller:v0.15.2      /controller, Entrypoint
  quay.io/metallb/speaker:v0.15.2         /speaker, Entrypoint (native L2 only: no FRR tools)
  docker.io/bitnami/sealed-secrets-controller:0.36.6
                                          /usr/local/bin/controller, Entrypoint [controller],
                                          user 1001
  docker.io/library/traefik:v3.6.25       /usr/local/bin/traefik, Entrypoint (the chart passes
                                          only arguments; upstream's /entrypoint.sh adds traefik)

The Go programs sit on one shared base layer with the files of distroless/static their
upstream images start from that they use: /etc/passwd and /etc/group (root, nobody 65534,
nonroot 65532), /etc/nsswitch.conf and /tmp (1777). It carries no CA bundle and no time zones:
none of these programs reaches a public TLS endpoint in an offline cluster.

busybox is C, not Go: its image is Debian's busybox-static package, fetched with
`apt-get download` from the build host's bookworm sources, checked against the sha256 apt lists
for it, and cached under the cache as busybox-<key>. Its tag is the package's upstream version,
which must be BUSYBOX (the local-path-provisioner preset pins it as helperImage.tag).

    python3 scripts/artifacts/addon_images.py LAYOUT CACHE metrics-server=DIR ... traefik=DIR
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images as kube_images
import recipes
from images import ImageBuildError, Log

from k8s_install.base.errors import ExitCode
from k8s_install.bundle import layers, oci

BUSYBOX = "1.35.0"  # the upstream version of bookworm's busybox-static (1:1.35.0-4+deb12u1+b1)
BUSYBOX_PACKAGE = "busybox-static"
BUSYBOX_IMAGE = f"docker.io/library/busybox:{BUSYBOX}"
# Bump when the images' layout changes in a way their binaries' keys would not show.
RECIPE = "2"


@dataclass(frozen=True)
class AddonImage:
    """One image: a recipe's binary at `path`, with upstream's entrypoint, command and user."""

    ref: str
    recipe: str  # recipes.ADDONS name
    binary: str
    path: str
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    user: str | None = None


_V = {r.name: r.version for r in recipes.ADDONS}
IMAGES: tuple[AddonImage, ...] = (
    AddonImage(
        f"registry.k8s.io/metrics-server/metrics-server:v{_V['metrics-server']}",
        "metrics-server",
        "metrics-server",
        "metrics-server",
        entrypoint=("/metrics-server",),
        user="65534",
    ),
    AddonImage(
        f"docker.io/rancher/local-path-provisioner:v{_V['local-path-provisioner']}",
        "local-path-provisioner",
        "local-path-provisioner",
        "usr/bin/local-path-provisioner",
        cmd=("local-path-provisioner",),
    ),
    AddonImage(
        f"quay.io/metallb/controller:v{_V['metallb']}",
        "metallb",
        "controller",
        "controller",
        entrypoint=("/controller",),
    ),
    AddonImage(
        f"quay.io/metallb/speaker:v{_V['metallb']}",
        "metallb",
        "speaker",
        "speaker",
        entrypoint=("/speaker",),
    ),
    AddonImage(
        f"docker.io/bitnami/sealed-secrets-controller:{_V['sealed-secrets-controller']}",
        "sealed-secrets-controller",
        "controller",
        "usr/local/bin/controller",
        entrypoint=("controller",),
        user="1001",
    ),
    AddonImage(
        f"docker.io/library/traefik:v{_V['traefik']}",
        "traefik",
        "traefik",
        "usr/local/bin/traefik",
        entrypoint=("/usr/local/bin/traefik",),
    ),
)

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
NSSWITCH = "hosts: files dns\n"  # Go's resolver reads it: /etc/hosts before DNS
BUSYBOX_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
BUSYBOX_GROUP = "root:x:0:\nnobody:x:65534:\n"


def names() -> list[str]:
    """Every addon image this module writes, busybox included."""
    return sorted([*(image.ref for image in IMAGES), BUSYBOX_IMAGE])


def base_entries() -> list[layers.Entry]:
    return [
        layers.file("etc/passwd", PASSWD.encode()),
        layers.file("etc/group", GROUP.encode()),
        layers.file("etc/nsswitch.conf", NSSWITCH.encode()),
        # nonroot's home, owned by it as in distroless: Traefik stats $HOME/.config at start
        # and exits when that is refused.
        dataclasses.replace(layers.directory("home/nonroot", 0o700), uid=65532, gid=65532),
        layers.directory("tmp", 0o1777),
    ]


# ---------------------------------------------------------------- busybox


@dataclass(frozen=True)
class DebianPackage:
    """What apt lists for the candidate version of a package."""

    name: str
    version: str
    sha256: str


def upstream_version(debian_version: str) -> str:
    """'1:1.35.0-4+deb12u1+b1' -> '1.35.0': no epoch, no Debian revision."""
    without_epoch = debian_version.split(":", 1)[-1]
    return without_epoch.rpartition("-")[0] or without_epoch


def candidate(package: str = BUSYBOX_PACKAGE) -> DebianPackage:
    """The version apt would install, and the sha256 its index gives for the .deb."""
    _needs("apt-cache")
    proc = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package],
        capture_output=True,
        text=True,
        check=False,
    )
    fields = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", proc.stdout, re.M))
    if proc.returncode != 0 or "Version" not in fields or "SHA256" not in fields:
        raise ImageBuildError(
            f"apt knows no {package}: {proc.stderr.strip() or 'no Version or SHA256'}",
            fix="add Debian bookworm to the apt sources and run `apt-get update`",
            code=ExitCode.INVALID_INPUT,
        )
    return DebianPackage(package, fields["Version"], fields["SHA256"])


def busybox_key(package: DebianPackage) -> str:
    text = f"{package.name} {package.version} {package.sha256} recipe={RECIPE}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def busybox_tree(cache: Path, package: DebianPackage, log: Log) -> Path:
    """cache/busybox-<key>: bin/busybox, the applet list and the package's copyright file."""
    found = upstream_version(package.version)
    if found != BUSYBOX:
        raise ImageBuildError(
            f"apt's {package.name} is {package.version}, upstream version {found}, not {BUSYBOX}",
            fix="set addon_images.BUSYBOX and the local-path-provisioner preset's "
            "helperImage.tag to it",
            code=ExitCode.INVALID_INPUT,
        )
    return kube_images._cached(
        cache, "busybox", busybox_key(package), lambda root: _unpack_busybox(root, package, log)
    )


def _unpack_busybox(root: Path, package: DebianPackage, log: Log) -> None:
    _needs("apt-get")
    _needs("dpkg-deb")
    log(f"apt-get download {package.name}={package.version}")
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            ["apt-get", "download", f"{package.name}={package.version}"],
            cwd=work,
            check=True,
            capture_output=True,
        )
        (deb,) = Path(work).glob("*.deb")
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != package.sha256:
            raise ImageBuildError(f"{deb.name} has sha256 {digest}, apt lists {package.sha256}")
        tree = Path(work) / "tree"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        (root / "bin").mkdir()
        shutil.copy2(tree / "bin/busybox", root / "bin/busybox")
        shutil.copy2(tree / f"usr/share/doc/{package.name}/copyright", root / "copyright")
    applets = subprocess.run(
        [str(root / "bin/busybox"), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    (root / "applets").write_text("\n".join(sorted(set(applets) - {"busybox"})) + "\n")


def busybox_entries(tree: Path) -> list[layers.Entry]:
    applets = (tree / "applets").read_text().split()
    return [
        layers.file_from("bin/busybox", tree / "bin/busybox", 0o755),
        *(layers.symlink(f"bin/{name}", "busybox") for name in applets),
        layers.file("etc/passwd", BUSYBOX_PASSWD.encode()),
        layers.file("etc/group", BUSYBOX_GROUP.encode()),
        layers.directory("root", 0o700),
        layers.directory("tmp", 0o1777),
        layers.file_from(f"usr/share/doc/{BUSYBOX_PACKAGE}/copyright", tree / "copyright", 0o644),
    ]


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        raise ImageBuildError(
            f"{tool} is not installed (it fetches {BUSYBOX_PACKAGE} for the busybox image)",
            code=ExitCode.INVALID_INPUT,
        )


# ---------------------------------------------------------------- images


def build_images(
    layout: Path,
    bins: Mapping[str, Path],
    cache: Path,
    *,
    busybox_root: Path | None = None,
    log: Log = kube_images._quiet,
) -> list[str]:
    """Write the addon images into the OCI layout; returns their names.

    `bins` maps each recipes.ADDONS name to its output directory (gobuild.build). busybox_root
    defaults to busybox_tree(cache, candidate()) (give a tree of your own to skip apt).
    """
    missing = sorted({image.recipe for image in IMAGES} - set(bins))
    if missing:
        raise ImageBuildError("no build of " + ", ".join(missing), code=ExitCode.INVALID_INPUT)
    started = time.monotonic()
    base = oci.write_layer(layout, base_entries())
    for image in IMAGES:
        source = bins[image.recipe] / image.binary
        top = oci.write_layer(layout, [layers.file_from(image.path, source, 0o755)])
        config = oci.ImageConfig(entrypoint=image.entrypoint, cmd=image.cmd, user=image.user)
        oci.write_layered_image(layout, image.ref, [base, top], config)
    tree = busybox_root or busybox_tree(cache, candidate(), log)
    busybox = oci.write_layer(layout, busybox_entries(tree))
    oci.write_layered_image(layout, BUSYBOX_IMAGE, [busybox], oci.ImageConfig(cmd=("sh",)))
    log(f"{len(IMAGES) + 1} addon images in {time.monotonic() - started:.1f}s")
    return names()


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
