"""`validate -c` pointed at files that are no cluster definition: exit 2, nothing of them printed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from k8s_install.base import output_schemas
from k8s_install.cli import cli

SYSTEM_FILES = [
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/os-release",
    "/etc/login.defs",
    "/etc/ssh/sshd_config",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/self/status",
    "/proc/self/environ",
]
SYSTEM_FILES += [str(p) for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))[:1]]


def _fragments(text: str) -> set[str]:
    """Pieces of the file that must not appear in the output: lines, keys and values."""
    pieces: set[str] = set()
    for line in text.replace("\0", "\n").splitlines():
        line = line.strip()
        if len(line) >= 6 and not line.startswith("#"):
            pieces.add(line)
        for part in re.split(r"[:=\s]+", line):
            if len(part) >= 8:
                pieces.add(part)
    return pieces


@pytest.mark.parametrize("target", SYSTEM_FILES)
@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_symlink_to_a_system_file_never_prints_it(
    target: str, json_mode: bool, tmp_path: Path
) -> None:
    source = Path(target)
    try:
        content = source.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        pytest.skip(f"{target} is not readable here")
    link = tmp_path / "cluster.yaml"
    link.symlink_to(source)
    result = CliRunner().invoke(
        cli, ["validate", "-c", str(link), *(["--json"] if json_mode else [])]
    )
    assert result.exit_code == 2, result.output
    output = result.stdout + result.stderr
    ours = str(link) + " the file must be a mapping of settings, not text"
    leaked = [piece for piece in _fragments(content) if piece in output and piece not in ours]
    assert leaked == [], f"printed from {target}: {leaked[:5]}"
    if json_mode:
        assert json.loads(result.stdout)["valid"] is False


@pytest.mark.parametrize(
    "make",
    [
        lambda d: Path("/dev/zero"),
        lambda d: Path("/dev/urandom"),
        lambda d: d,
        lambda d: d / "missing.yaml",
    ],
    ids=["dev-zero", "dev-urandom", "directory", "missing"],
)
def test_special_paths_end_in_exit_2_quickly(make: object, tmp_path: Path) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["validate", "-c", str(path), "--json"])
    assert result.exit_code == 2
    document = json.loads(result.stdout)  # the validate document, or click's usage error
    assert document.get("valid") is False or document["exit_code"] == 2
    assert output_schemas.errors("validate", document) == []


def test_ten_megabyte_value_is_refused_without_echo(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("name: " + "x" * (10 * 1024 * 1024) + "\n")
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "x" * 81 not in result.output and len(result.output) < 2000


def test_a_long_value_under_the_cap_is_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    long = "y" * 100_000
    path.write_text(
        f"name: lab\nkubernetes:\n  version: '{long}'\nnodes:\n"
        f"  - name: a\n    address: '{long}'\n    roles: [control-plane, etcd]\n"
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == 2
    assert "y" * 81 not in result.output
    assert "…" in result.output
