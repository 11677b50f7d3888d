"""The cluster repository: a Git repo holding cluster.yaml, its inventory and its run records."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from k8s_install.base.errors import InvalidInput, K8sInstallError
from k8s_install.base.resources import sample_cluster
from k8s_install.model.schema import CLUSTER_SCHEMA

# The JSON Schema beside cluster.yaml, which its `yaml-language-server: $schema=` modeline names.
SCHEMA_FILE = "cluster.schema.json"

GITIGNORE = """\
# Run artifacts and full logs stay out of Git; run records under runs/ point to them.
.k8s-install/
# Sandbox SSH keys.
.sandbox/
# Etcd snapshots can hold secrets; they are kept outside Git.
backups/
"""

_IDENTITY = {
    "GIT_AUTHOR_NAME": "k8s-install",
    "GIT_AUTHOR_EMAIL": "k8s-install@localhost",
    "GIT_COMMITTER_NAME": "k8s-install",
    "GIT_COMMITTER_EMAIL": "k8s-install@localhost",
}


def git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in repo; an identity is supplied only where the user has none configured."""
    env = dict(os.environ)
    for key, value in _IDENTITY.items():
        env.setdefault(key, value)
    if _has_identity(repo):
        for key in _IDENTITY:
            if key not in os.environ:
                env.pop(key)
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and result.returncode != 0:
        raise K8sInstallError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def _has_identity(repo: Path) -> bool:
    probe = subprocess.run(
        ["git", "-C", str(repo), "config", "user.email"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and bool(probe.stdout.strip())


def init(directory: Path, name: str | None = None) -> dict[str, str]:
    """Create a cluster repo with a sample cluster.yaml and a first commit."""
    cluster_name = name or directory.resolve().name
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", cluster_name):
        raise InvalidInput(
            f"'{cluster_name}' is not an RFC 1123 name",
            fix="pass --name with lower-case letters, digits and '-'",
        )
    config = directory / "cluster.yaml"
    if config.exists():
        raise InvalidInput(f"{config} already exists", fix="choose an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / ".git").exists():
        git(directory, "init", "--quiet", "--initial-branch=main")
    sample = sample_cluster().read_text()
    config.write_text(
        re.sub(r"^name: sample", f"name: {cluster_name}", sample, count=1, flags=re.MULTILINE)
    )
    written = ["cluster.yaml", ".gitignore", SCHEMA_FILE]
    _merge_gitignore(directory / ".gitignore")
    (directory / SCHEMA_FILE).write_text(
        json.dumps(CLUSTER_SCHEMA, indent=2, sort_keys=True) + "\n"
    )
    # Commit exactly what init wrote: `--only` leaves whatever the user had staged staged.
    git(directory, "add", "--", *written)
    git(
        directory,
        "commit",
        "--quiet",
        "--only",
        "-m",
        f"Create cluster {cluster_name}",
        "--",
        *written,
    )
    commit = git(directory, "rev-parse", "HEAD").strip()
    return {"directory": str(directory), "name": cluster_name, "commit": commit}


def _merge_gitignore(path: Path) -> None:
    """Add our ignore lines to .gitignore, keeping any the repository already has."""
    if not path.exists():
        path.write_text(GITIGNORE)
        return
    current = path.read_text()
    have = {line.strip() for line in current.splitlines()}
    missing = [line for line in GITIGNORE.splitlines() if line.strip() not in have]
    if any(line and not line.startswith("#") for line in missing):
        separator = "" if current.endswith("\n") or not current else "\n"
        path.write_text(current + separator + "\n".join(missing) + "\n")


def is_repo(path: Path) -> bool:
    """Whether path is inside a Git work tree."""
    probe = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "true"


def head(repo: Path) -> str:
    """The commit HEAD points at, or "" in a repo without commits."""
    return git(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()


def prefix(repo: Path) -> str:
    """repo's path below the top of its work tree ("" at the top, else ending in '/')."""
    return git(repo, "rev-parse", "--show-prefix").strip()


def changes(repo: Path) -> list[tuple[str, str]]:
    """(status, path) of every uncommitted change below repo, paths relative to repo.

    Status is Git's two-letter porcelain code ("??" untracked, " M" modified, "D " deleted...).
    Ignored files are left out.
    """
    below = prefix(repo)
    raw = git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".")
    entries = raw.split("\0")
    result: list[tuple[str, str]] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            index += 1  # a rename or copy is followed by its source path
        if path.startswith(below):
            result.append((code, path[len(below) :]))
    return result
