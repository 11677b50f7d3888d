"""The sandbox host image: Debian bookworm from debootstrap, imported into podman, cached by tag.

No image registry is needed: debootstrap fetches .deb files from a Debian mirror, the root
file system is customised on disk, and `podman import` turns it into an image whose tag carries a
hash of the package list, so a second build with the same packages is a cache hit.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.sandbox import podman, profile

SUITE = "bookworm"
REPOSITORY = "localhost/k8s-install-host"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "K8S_INSTALL_DEBIAN_MIRROR"
# Bump when the customisation below changes, so cached images are rebuilt.
RECIPE_VERSION = "4"

BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "sudo",
    "iptables",
    "kmod",
    "ca-certificates",
    "procps",
)

# What other engineers' integration tests need on hosts. Hosts have no internet during tests,
# so it is baked into one test image, built once per CI run. Services stay disabled: tests
# start what they use.
TEST_IMAGE_PACKAGES = (
    "containerd",
    "nginx",
    "docker-registry",
    "etcd-server",
    "etcd-client",
    "chrony",
    "curl",
    "ca-certificates",
    "python3-yaml",  # kubernetes.core.helm needs PyYAML on the node
)

# Units that must not run in a privileged container: udev and module loading would act on the
# real host's devices and kernel (a privileged container shares the host kernel); the rest is
# noise (timers, consoles).
MASKED_UNITS = (
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-modules-load.service",
    "systemd-firstboot.service",
    "getty@tty1.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "fstrim.timer",
    "man-db.timer",
    "dpkg-db-backup.timer",
)

SSHD_CONFIG = """\
# Written by the k8s-install sandbox image build.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
"""

USER = "debian"
USER_UID = 1000
# Debian policy: lower case letters, digits, + - . ; an optional :arch.
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$")
LOCK_FILE = Path("/var/tmp/k8s-install-host-image.lock")


@dataclass(frozen=True)
class ImageSpec:
    """Which packages an image holds, and so its tag."""

    extra_packages: tuple[str, ...] = ()
    kubernetes: bool = False  # the Kubernetes host profile (sandbox/profile.py)

    @property
    def packages(self) -> tuple[str, ...]:
        k8s = profile.KUBERNETES_PACKAGES if self.kubernetes else ()
        return tuple(sorted(set(BASE_PACKAGES) | set(self.extra_packages) | set(k8s)))

    @property
    def digest(self) -> str:
        marks = ["kubernetes"] if self.kubernetes else []
        text = "\n".join([SUITE, RECIPE_VERSION, *marks, *self.packages])
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{SUITE}-{self.digest}"


def spec_for(extra_packages: Iterable[str] = (), *, kubernetes: bool = False) -> ImageSpec:
    """An ImageSpec; rejects names apt could not take, before anything runs."""
    extras = tuple(sorted({p.strip() for p in extra_packages if p.strip()}))
    for name in extras:
        if not _PACKAGE.match(name):
            raise K8sInstallError(
                f"extra package {name!r} is not a Debian package name",
                fix="give plain package names, e.g. --extra-packages nginx,curl",
                code=ExitCode.INVALID_INPUT,
            )
    return ImageSpec(extras, kubernetes)


def test_spec() -> ImageSpec:
    """The one image the integration tests use (base plus TEST_IMAGE_PACKAGES)."""
    return spec_for(TEST_IMAGE_PACKAGES)


@contextmanager
def _locked() -> Iterator[None]:
    """One build at a time on this machine (pytest and molecule may race)."""
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(spec: ImageSpec, log: Callable[[str], None] = lambda _m: None) -> tuple[str, bool]:
    """The image tag, building it if missing. Returns (tag, built_now)."""
    if podman.exists("image", spec.tag):
        return spec.tag, False
    with _locked():
        if podman.exists("image", spec.tag):
            return spec.tag, False
        build(spec, log)
    return spec.tag, True


def _check_build_tools() -> None:
    if os.geteuid() != 0:
        raise K8sInstallError(
            "building the sandbox image needs root (debootstrap and privileged podman)",
            fix="run as root, e.g. `sudo k8s-install sandbox image build`",
            code=ExitCode.INVALID_INPUT,
        )
    if shutil.which("debootstrap") is None:
        raise K8sInstallError(
            "debootstrap is not installed (it builds the sandbox host image)",
            fix=podman.INSTALL_FIX,
            code=ExitCode.INVALID_INPUT,
        )
    podman.podman_path()


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, check=False, env=env)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-15:]
        raise K8sInstallError(
            f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail),
            fix=f"check that the Debian mirror is reachable (set {MIRROR_ENV} to another one) "
            "and there is free space in /var/tmp",
        )


def _chroot(rootfs: Path, *cmd: str, what: str) -> None:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
    }
    _run(["chroot", str(rootfs), *cmd], what, env)


def build(
    spec: ImageSpec, log: Callable[[str], None] = lambda _m: None, tag: str | None = None
) -> None:
    """Build and import the image as spec.tag, or `tag` (no cache check; see ensure)."""
    _check_build_tools()
    mirror = os.environ.get(MIRROR_ENV, DEFAULT_MIRROR)
    work = Path(tempfile.mkdtemp(prefix="k8s-install-image-", dir="/var/tmp"))
    rootfs = work / "rootfs"
    try:
        log(f"debootstrap {SUITE} from {mirror} (a few minutes)")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(BASE_PACKAGES),
                SUITE,
                str(rootfs),
                mirror,
            ],
            "debootstrap",
        )
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")  # no service starts while building
        policy.chmod(0o755)
        extras = [p for p in spec.packages if p not in BASE_PACKAGES]
        before = _dpkg_lists(rootfs)
        if extras:
            log("installing extra packages: " + " ".join(extras))
            _chroot(rootfs, "apt-get", "update", what="apt-get update")
            _chroot(
                rootfs,
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                *extras,
                what="apt-get install",
            )
        _customise(rootfs, sorted(_dpkg_lists(rootfs) - before))
        if spec.kubernetes:
            _kubernetes_host(rootfs)
        policy.unlink()
        log(f"importing {tag or spec.tag}")
        tarball = work / "rootfs.tar"
        _run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(tarball), "."],
            "tar",
        )
        podman.run(
            [
                "import",
                "--change",
                'CMD ["/sbin/init"]',
                "--change",
                "STOPSIGNAL SIGRTMIN+3",
                "--change",
                "LABEL k8s-install.packages=" + ",".join(spec.packages),
                str(tarball),
                tag or spec.tag,
            ]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dpkg_lists(rootfs: Path) -> set[Path]:
    """dpkg's file lists, one per installed package."""
    return set((rootfs / "var/lib/dpkg/info").glob("*.list"))


def _customise(rootfs: Path, added: list[Path]) -> None:
    """Make the tree a good systemd container host: user, sshd, no host keys, masked units.

    `added` are the dpkg file lists of the extra packages and their dependencies: their
    services are disabled, so hosts boot quietly and tests start what they use.
    """
    _chroot(
        rootfs,
        "useradd",
        "--create-home",
        "--uid",
        str(USER_UID),
        "--shell",
        "/bin/bash",
        "--groups",
        "sudo",
        USER,
        what="useradd",
    )
    sudoers = rootfs / "etc/sudoers.d" / USER
    sudoers.write_text(f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)
    (rootfs / "etc/ssh/sshd_config.d/k8s-install.conf").write_text(SSHD_CONFIG)
    # Every host gets its own host key at `sandbox up`; none may be baked into the image.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Empty machine-id: systemd makes a fresh one per container at first boot.
    (rootfs / "etc/machine-id").write_text("")
    for name in ("etc/hostname", "etc/resolv.conf"):
        (rootfs / name).unlink(missing_ok=True)  # podman provides both
    units = list(MASKED_UNITS)
    for listing in added:
        units += _units_in(listing)
    # The image's own systemctl (this machine may have none): offline in a chroot.
    _chroot(rootfs, "systemctl", "mask", *MASKED_UNITS, what="systemctl mask")
    services = [u for u in units if u not in MASKED_UNITS]
    if services:
        _chroot(rootfs, "systemctl", "disable", *services, what="systemctl disable")
    _chroot(rootfs, "apt-get", "clean", what="apt-get clean")
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)


def _kubernetes_host(rootfs: Path) -> None:
    """The Kubernetes host profile's files and unit (see sandbox/profile.py)."""
    script = rootfs / profile.FIXUP_PATH
    script.write_text(profile.FIXUP_SCRIPT)
    script.chmod(0o755)
    (rootfs / "etc/systemd/system" / profile.FIXUP_UNIT).write_text(profile.FIXUP_UNIT_TEXT)
    _chroot(rootfs, "systemctl", "enable", profile.FIXUP_UNIT, what="systemctl enable")
    journald = rootfs / "etc/systemd/journald.conf.d"
    journald.mkdir(parents=True, exist_ok=True)
    (journald / "k8s-install.conf").write_text(profile.JOURNALD_CONF)
    (rootfs / "etc/apt/sources.list").write_text(profile.APT_SOURCES)
    for extra in (rootfs / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()


def _units_in(listing: Path) -> list[str]:
    """The systemd units a package ships, from its dpkg file list."""
    units = []
    for line in listing.read_text().splitlines():
        path = Path(line)
        if (
            str(path.parent) in ("/lib/systemd/system", "/usr/lib/systemd/system")
            and path.suffix in (".service", ".socket", ".timer")
            and "@" not in path.name
        ):
            units.append(path.name)
    return units


def remove(spec: ImageSpec) -> bool:
    """Remove a cached image; False when it was not there."""
    if not podman.exists("image", spec.tag):
        return False
    podman.run(["rmi", spec.tag])
    return True


def cached() -> list[dict[str, str]]:
    """The sandbox images podman holds: tag, id, size, packages."""
    rows = podman.json_out(["images", "--format", "json", "--filter", f"reference={REPOSITORY}"])
    result = []
    for row in rows:
        for name in row.get("Names") or []:
            labels = row.get("Labels") or {}
            result.append(
                {
                    "tag": name,
                    "id": row.get("Id", "")[:12],
                    "size": str(row.get("Size", "")),
                    "packages": labels.get("k8s-install.packages", ""),
                }
            )
    return result
