"""init in an existing repository commits exactly what it wrote; the schema modeline is real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from k8s_install.base.resources import sample_cluster
from k8s_install.cli import cli
from k8s_install.model.schema import CLUSTER_SCHEMA
from k8s_install.records import git_repo


def _git(repo: Path, *args: str) -> str:
    return git_repo.git(repo, *args)


def _committed(repo: Path) -> set[str]:
    return set(_git(repo, "show", "--name-only", "--format=", "HEAD").split())


def test_init_in_a_repo_with_staged_files_commits_only_its_own(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "staged.txt").write_text("work in progress\n")
    (repo / "notes.md").write_text("untracked\n")
    _git(repo, "add", "staged.txt")
    git_repo.init(repo, "lab")
    assert _committed(repo) == {"cluster.yaml", ".gitignore", git_repo.SCHEMA_FILE}
    status = _git(repo, "status", "--porcelain")
    assert "A  staged.txt" in status and "?? notes.md" in status


def test_init_after_earlier_commits_keeps_a_staged_modification_staged(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("1\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "first")
    (repo / "a.txt").write_text("2\n")
    _git(repo, "add", "a.txt")
    git_repo.init(repo, "lab")
    assert "a.txt" not in _committed(repo)
    assert "M  a.txt" in _git(repo, "status", "--porcelain")


def test_init_keeps_an_existing_gitignore(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / ".gitignore").write_text("node_modules/\n.k8s-install/\n")
    git_repo.init(repo, "lab")
    text = (repo / ".gitignore").read_text()
    assert text.startswith("node_modules/\n.k8s-install/\n")
    assert text.count(".k8s-install/") == 1 and "backups/" in text


def test_the_modeline_names_the_schema_file_init_writes(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "lab")])
    assert result.exit_code == 0, result.output
    first = (tmp_path / "lab" / "cluster.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=./{git_repo.SCHEMA_FILE}"
    written = json.loads((tmp_path / "lab" / git_repo.SCHEMA_FILE).read_text())
    assert written == CLUSTER_SCHEMA
    printed = CliRunner().invoke(cli, ["schema"]).output
    assert json.loads(printed) == written


def test_the_shipped_sample_has_its_schema_beside_it() -> None:
    sample = Path(sample_cluster())
    first = sample.read_text().splitlines()[0]
    target = first.split("$schema=", 1)[1]
    shipped = json.loads((sample.parent / target).read_text())
    assert shipped == CLUSTER_SCHEMA, (
        "regenerate: k8s-install schema -o inventory/sample/cluster.schema.json"
    )
