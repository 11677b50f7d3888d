"""A chart's own files, read safely: the members of an archive are checked before anything uses it.

A chart archive (NAME-VERSION.tgz) is refused, with exit 2 and the member named, when a member
has an absolute path or a `..` component, is a link whose target leads out of the archive's tree,
or is neither a regular file, a directory nor a link (devices, FIFOs). A chart directory is
refused when a symbolic link in it leads out of it: `helm package` would copy the target's
contents. The member count and the unpacked size are bounded.

`load` reads Chart.yaml, values.yaml and values.schema.json of a checked chart, for validation
before helm runs.
"""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from k8s_install.addons.manifests import Loader
from k8s_install.base.errors import InvalidInput

MAX_MEMBERS = 20_000
MAX_UNPACKED = 512 << 20  # bytes, the sum of the members' sizes
MAX_READ = 16 << 20  # bytes of one file read by `load`
FIX = (
    "use the chart as its publisher packaged it: a chart archive holds files under one "
    "directory, without absolute paths, '..' or links leading out of it"
)


class UnsafeChart(InvalidInput):
    """A chart archive or directory that could write or read outside its own tree."""

    def __init__(self, chart: Path, member: str, why: str) -> None:
        super().__init__(f"{chart}: {member!r} {why}; the chart was not used", fix=FIX)
        self.chart = chart
        self.member = member


def _inside(name: str) -> bool:
    """Whether an archive path stays inside the tree (relative, no '..' out of it)."""
    if not name or name.startswith("/") or "\\" in name:
        return False
    normal = posixpath.normpath(name)
    return normal != ".." and not normal.startswith("../")


def _check_member(chart: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/"):
        raise UnsafeChart(chart, name, "has an absolute path")
    if ".." in name.split("/") or not _inside(name):
        raise UnsafeChart(chart, name, "leads out of the chart's tree ('..')")
    if member.issym():
        target = member.linkname
        joined = posixpath.join(posixpath.dirname(name), target)
        if target.startswith("/") or not _inside(joined):
            raise UnsafeChart(chart, name, f"is a link to {target!r}, outside the chart's tree")
    elif member.islnk():
        if not _inside(member.linkname):
            raise UnsafeChart(
                chart, name, f"is a hard link to {member.linkname!r}, outside the chart's tree"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeChart(chart, name, "is not a regular file, directory or link")


def check_archive(chart: Path) -> list[tarfile.TarInfo]:
    """The members of a chart archive, every one checked; raises UnsafeChart."""
    members: list[tarfile.TarInfo] = []
    total = 0
    try:
        with tarfile.open(chart, "r:*") as tar:
            for member in tar:
                _check_member(chart, member)
                members.append(member)
                total += max(member.size, 0)
                if len(members) > MAX_MEMBERS:
                    raise UnsafeChart(chart, member.name, f"is past {MAX_MEMBERS} members")
                if total > MAX_UNPACKED:
                    raise UnsafeChart(chart, member.name, f"takes the size past {MAX_UNPACKED} B")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(
            f"{chart}: not a readable chart archive ({exc})",
            fix="fetch the chart again, or check the path",
        ) from None
    return members


def check_directory(chart: Path) -> None:
    """Refuse a chart directory holding a symbolic link that leads out of it."""
    root = chart.resolve()
    for directory, dirs, files in os.walk(chart, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            if path.is_symlink():
                target = path.resolve()
                if target != root and root not in target.parents:
                    raise UnsafeChart(
                        chart,
                        str(path.relative_to(chart)),
                        f"is a link to {os.readlink(path)!r}, outside the chart's directory",
                    )


def check(chart: Path) -> None:
    """Check a chart archive or directory before helm or the bundle uses it."""
    if chart.is_dir():
        check_directory(chart)
    else:
        check_archive(chart)


@dataclass(frozen=True)
class ChartFiles:
    """What validation needs of a chart: its metadata, default values and values schema."""

    meta: dict[str, Any]
    values: dict[str, Any]
    schema: dict[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.meta.get('name', '?')} {self.meta.get('version', '?')}"


def _bounded(handle: IO[bytes], where: str) -> bytes:
    data = handle.read(MAX_READ + 1)
    if len(data) > MAX_READ:
        raise InvalidInput(f"{where}: larger than {MAX_READ} bytes", fix="check the chart")
    return data


def _parse(name: str, data: bytes | None, where: str) -> Any:
    if data is None:
        return None
    try:
        if name.endswith(".json"):
            return json.loads(data)
        return yaml.load(data, Loader=Loader)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{where}: cannot be read ({exc})", fix="check the chart") from None


WANTED = ("Chart.yaml", "values.yaml", "values.schema.json")


def _from_archive(chart: Path) -> dict[str, bytes]:
    members = check_archive(chart)
    tops = {m.name.split("/", 1)[0] for m in members if m.name.strip("/")}
    if len(tops) != 1:
        raise InvalidInput(
            f"{chart}: a chart archive holds one top directory, this has {len(tops)}",
            fix=FIX,
        )
    top = tops.pop()
    found: dict[str, bytes] = {}
    with tarfile.open(chart, "r:*") as tar:
        for member in members:
            rest = member.name[len(top) + 1 :]
            if member.isfile() and rest in WANTED:
                handle = tar.extractfile(member)
                if handle is not None:
                    found[rest] = _bounded(handle, f"{chart}: {member.name}")
    return found


def _from_directory(chart: Path) -> dict[str, bytes]:
    check_directory(chart)
    found: dict[str, bytes] = {}
    for name in WANTED:
        path = chart / name
        if path.is_file():
            with path.open("rb") as handle:
                found[name] = _bounded(handle, str(path))
    return found


def load(chart: Path) -> ChartFiles:
    """Chart.yaml, values.yaml and values.schema.json of a checked chart archive or directory."""
    raw = _from_directory(chart) if chart.is_dir() else _from_archive(chart)
    meta = _parse("Chart.yaml", raw.get("Chart.yaml"), f"{chart}: Chart.yaml")
    values = _parse("values.yaml", raw.get("values.yaml"), f"{chart}: values.yaml")
    schema = _parse("values.schema.json", raw.get("values.schema.json"), f"{chart}: schema")
    if not isinstance(meta, dict):
        raise InvalidInput(f"{chart}: no Chart.yaml", fix="check the chart")
    return ChartFiles(
        meta=meta,
        values=values if isinstance(values, dict) else {},
        schema=schema if isinstance(schema, dict) else None,
    )
