"""engine info, engine fetch, engine lock: the pinned Kubespray release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from k8s_install.base.errors import K8sInstallError
from k8s_install.commands.common import json_option, output
from k8s_install.engine import kubespray
from k8s_install.model import engine_releases


def _engine_dir_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--engine-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar=kubespray.ENV_DIR,
        help=f"A Kubespray checkout to use instead of the pinned tarball (development; "
        f"not verified). Also {kubespray.ENV_DIR}.",
    )(func)


def _release_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--release",
        default=engine_releases.DEFAULT_RELEASE,
        show_default=True,
        help="The engine release.",
    )(func)


@click.group("engine")
def engine_group() -> None:
    """The pinned Kubespray release that installs Kubernetes.

    \b
    Examples:
      k8s-install engine info
      k8s-install engine fetch
      k8s-install engine lock --engine-dir ~/src/kubespray
    """


@engine_group.command()
@_release_option
@_engine_dir_option
@json_option
def info(release: str, engine_dir: Path | None) -> None:
    """Show the pin, the supported Kubernetes versions and where the engine would come from.

    Never downloads anything; `engine fetch` does.

    \b
    Examples:
      k8s-install engine info
      k8s-install engine info --json
    """
    out = output()
    lock = kubespray.pin(release)
    found: dict[str, Any] | None
    try:
        found = kubespray.resolve(release, engine_dir=engine_dir, download=False).as_dict()
    except K8sInstallError as exc:  # not fetched yet: say so, info never fails for it
        found = {"source": "none", "message": str(exc)}
    requirements = kubespray.requirement_status(release)
    data = {
        **lock,
        "cache_dir": str(kubespray.cache_dir(release)),
        "resolved": found,
        "python_requirements": requirements,
    }
    if out.json_mode:
        out.emit(data)
        return
    out.info(f"[bold]Kubespray {lock['release']}[/bold] (commit {lock['commit']})")
    out.info(f"  tarball  {lock['tarball_url']}")
    out.info(f"  sha256   {lock['tarball_sha256']}")
    out.info(f"  cache    {kubespray.cache_dir(release)}")
    if found and found.get("path"):
        verified = "verified" if found["verified"] else "NOT verified"
        out.info(f"  in use   {found['path']} ({found['source']}, {verified})")
    else:
        out.info(f"  in use   none yet: {found.get('message') if found else ''}")
    versions = lock["kubernetes_versions"]
    out.info(f"  Kubernetes {', '.join(versions)} (default {lock['default_kubernetes_version']})")
    out.info(f"  network plugins {', '.join(lock['network_plugins'])}")
    for row in requirements:
        mark = "[green]✓[/green]" if row["ok"] == "yes" else "[red]✗[/red]"
        out.info(f"  {mark} {row['name']}=={row['wanted']} (installed {row['installed'] or 'no'})")


@engine_group.command()
@_release_option
@click.option(
    "--url", help=f"Download from here instead of the pinned URL (also {kubespray.ENV_URL})."
)
@json_option
def fetch(release: str, url: str | None) -> None:
    """Download the pinned tarball into the cache, verifying its sha256 before extracting.

    Does nothing when the cache already holds the verified release.

    \b
    Examples:
      k8s-install engine fetch
      k8s-install engine fetch --url http://mirror.example/kubespray-2.31.0.tar.gz
    """
    out = output()
    cached = kubespray.cached_engine(release)
    if cached is None:
        path = kubespray.fetch(release, url)
        cached = kubespray.Engine(release, path, "download", verified=True)
    if out.json_mode:
        out.emit(cached.as_dict())
    else:
        out.info(f"[green]✓[/green] Kubespray {release} is at {cached.path} ({cached.source})")


@engine_group.command()
@click.option(
    "--engine-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar=kubespray.ENV_DIR,
    required=True,
    help=f"The Kubespray checkout to read (also {kubespray.ENV_DIR}).",
)
@click.option(
    "--tarball",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The release tarball, to pin its sha256 (default: keep the pinned one).",
)
@click.option(
    "-o",
    "--output",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of data/engines/<release>.json in the package.",
)
@json_option
def lock(engine_dir: Path, tarball: Path | None, target: Path | None) -> None:
    """Regenerate data/engines/<release>.json from an engine checkout (for maintainers).

    Kubernetes versions come from the engine's own checksums.yml
    (kubelet_checksums.amd64), never by hand.

    \b
    Examples:
      k8s-install engine lock --engine-dir /tmp/kubespray-v2.31.0
      k8s-install engine lock --engine-dir ks --tarball kubespray-2.31.0.tar.gz -o /tmp/lock.json
    """
    out = output()
    path, data = kubespray.write_lock(engine_dir, tarball=tarball, target=target)
    if out.json_mode:
        out.emit({"path": str(path), "lock": data})
    else:
        out.info(f"wrote {path}: {len(data['kubernetes_versions'])} Kubernetes versions")


COMMANDS: list[click.Command] = [engine_group]
