"""sandbox up/status/down and sandbox image: podman systemd hosts reached over real SSH."""

from __future__ import annotations

from pathlib import Path

import click

from k8s_install.commands.common import json_option, output
from k8s_install.sandbox import hosts, image

DEFAULT_NAME = "sandbox"


def _name_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--name",
        default=DEFAULT_NAME,
        show_default=True,
        envvar="K8S_INSTALL_SANDBOX",
        help="Sandbox name: prefixes its containers, network and volumes.",
    )(func)


def _dir_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=".",
        show_default=True,
        help="Where cluster.yaml and .sandbox/NAME/ (key, known_hosts) are written.",
    )(func)


def _packages_option(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--test-image",
        is_flag=True,
        help="Add the packages the integration tests need: " + ", ".join(image.TEST_IMAGE_PACKAGES),
    )(func)
    return click.option(
        "--extra-packages",
        multiple=True,
        metavar="PKG[,PKG...]",
        help="More Debian packages to bake into the host image (hosts have no internet).",
    )(func)


def _extras(extra_packages: tuple[str, ...], test_image: bool) -> list[str]:
    names = [p for group in extra_packages for p in group.split(",")]
    return names + (list(image.TEST_IMAGE_PACKAGES) if test_image else [])


@click.group()
def sandbox() -> None:
    """Local test hosts: privileged systemd containers under podman, reached over SSH.

    `up` writes a cluster.yaml pointing at the hosts, so every other command can
    be tried locally before touching servers. Needs root, podman, runc and debootstrap
    (`apt-get install podman runc debootstrap`).

    \b
    Examples:
      k8s-install sandbox up --nodes 3
      k8s-install ping
      k8s-install sandbox status
      k8s-install sandbox down
    """


@sandbox.command()
@click.option("-n", "--nodes", default=3, show_default=True, help="How many hosts.")
@click.option(
    "--control-planes",
    default=1,
    show_default=True,
    help="The first M hosts are control-plane + etcd; the rest are workers.",
)
@_name_option
@_dir_option
@_packages_option
@click.option("--subnet", help="The podman network's subnet (default: podman picks a free one).")
@click.option(
    "--outbound",
    is_flag=True,
    help="Let hosts reach the internet (default: an internal network, this machine only).",
)
@click.option(
    "--kubernetes",
    is_flag=True,
    help="The Kubernetes host profile: cgroup and mount fix-ups for kubelet and containerd, "
    "the engine's packages pre-installed, no Debian containerd (docs/sandbox.md).",
)
@click.option("--timeout", default=180, show_default=True, help="Seconds to wait for the hosts.")
@json_option
def up(
    nodes: int,
    control_planes: int,
    name: str,
    directory: Path,
    extra_packages: tuple[str, ...],
    test_image: bool,
    subnet: str | None,
    outbound: bool,
    kubernetes: bool,
    timeout: int,
) -> None:
    """Start the sandbox hosts and write cluster.yaml; running it again changes nothing.

    Builds and caches the host image on first use (debootstrap, about a minute),
    makes an SSH key (DIR/.sandbox/NAME/id_ed25519, mode 0600) and each host's
    host key, so known_hosts is exact and host key checking stays on. Waits for
    systemd and sshd on every host. SSH user: debian (passwordless sudo); root
    takes the same key.

    \b
    Examples:
      k8s-install sandbox up
      k8s-install sandbox up --nodes 5 --control-planes 3 --name ha --dir clusters/ha
      k8s-install sandbox up --test-image --json
      k8s-install sandbox up --nodes 2 --kubernetes --dir clusters/dev
    """
    out = output()
    info = hosts.up(
        name,
        directory,
        nodes=nodes,
        control_planes=control_planes,
        extra_packages=_extras(extra_packages, test_image),
        subnet=subnet,
        outbound=outbound,
        kubernetes=kubernetes,
        timeout=timeout,
        log=out.info if not out.json_mode else (lambda m: out.err.print(m)),
    )
    if out.json_mode:
        out.emit(info.as_dict())
        return
    _table(info)
    out.info(f"wrote {info.cluster_file}")
    out.info(f"next: k8s-install ping -c {info.cluster_file}")


def _table(info: hosts.SandboxInfo) -> None:
    output().table(
        f"sandbox {info.name} ({info.network} {info.subnet})",
        ["node", "address", "roles", "podman", "systemd", "failed units"],
        [
            [
                h.node,
                h.address,
                ",".join(h.roles),
                h.state,
                h.system,
                ", ".join(h.failed_units),
            ]
            for h in info.hosts
        ],
    )


@sandbox.command()
@_name_option
@_dir_option
@json_option
def status(name: str, directory: Path) -> None:
    """Show the sandbox hosts: address, podman state, systemd state, failed units.

    \b
    Examples:
      k8s-install sandbox status
      k8s-install sandbox status --name ha --json
    """
    out = output()
    info = hosts.status(name, directory)
    if out.json_mode:
        out.emit({"exists": info is not None, **(info.as_dict() if info else {"name": name})})
    elif info is None:
        out.info(f"no sandbox named {name!r}")
    else:
        _table(info)


@sandbox.command()
@_name_option
@_dir_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Remove every sandbox on this machine (found by podman labels), whatever its --dir.",
)
@json_option
def down(name: str, directory: Path, everything: bool) -> None:
    """Remove the sandbox: containers, volumes, network, keys; keeps the cached image.

    cluster.yaml is removed too when it is still exactly what `up` wrote.
    Running it again, or for a sandbox that does not exist, is fine.

    \b
    Examples:
      k8s-install sandbox down
      k8s-install sandbox down --name ha --dir clusters/ha --json
      k8s-install sandbox down --all
    """
    out = output()
    log = out.info if not out.json_mode else out.err.print
    targets = hosts.sandboxes() if everything else [(name, directory)]
    results = {n: hosts.down(n, d, log=log) for n, d in targets}
    if out.json_mode:
        if everything:
            out.emit({"removed": results})
        else:
            out.emit({"name": name, "removed": results[name]})
        return
    if not targets:
        out.info("no sandboxes on this machine")
    for n, removed in results.items():
        if not removed["containers"] and not removed["network"] and not removed["state_dir"]:
            out.info(f"no sandbox named {n!r}; nothing to remove")
        else:
            out.info(f"removed sandbox {n!r} ({len(removed['containers'])} hosts)")


@sandbox.group("image")
def image_group() -> None:
    """The cached host image (Debian bookworm from debootstrap, no registry needed).

    \b
    Examples:
      k8s-install sandbox image build --test-image
      k8s-install sandbox image list
    """


@image_group.command()
@_packages_option
@click.option("--rebuild", is_flag=True, help="Build again even when the image is cached.")
@json_option
def build(extra_packages: tuple[str, ...], test_image: bool, rebuild: bool) -> None:
    """Build the host image unless it is cached; its tag hashes the package list.

    \b
    Examples:
      k8s-install sandbox image build
      k8s-install sandbox image build --extra-packages nginx,curl
      k8s-install sandbox image build --test-image --json
    """
    out = output()
    spec = image.spec_for(_extras(extra_packages, test_image))
    if rebuild:
        image.remove(spec)
    log = out.info if not out.json_mode else out.err.print
    tag, built = image.ensure(spec, log)
    if out.json_mode:
        out.emit({"tag": tag, "built": built, "packages": list(spec.packages)})
    else:
        out.info(f"{tag} {'built' if built else 'is cached'}")


@image_group.command("list")
@json_option
def list_images() -> None:
    """List the cached host images and their packages.

    \b
    Examples:
      k8s-install sandbox image list --json
    """
    out = output()
    rows = image.cached()
    if out.json_mode:
        out.emit(rows)
    else:
        out.table(
            "sandbox images",
            ["tag", "id", "size", "packages"],
            [[r["tag"], r["id"], r["size"], r["packages"]] for r in rows],
        )


COMMANDS: list[click.Command] = [sandbox]
