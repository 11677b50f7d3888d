"""Restoring addon releases whose live objects drifted: the plan names them, and the addons
plan file marks exactly them for the role's `helm upgrade` to the same chart and values.
The live restore (a scaled Deployment set back by `up`) is in tests/cluster/test_cluster_addons.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8s_install.addons import apply
from k8s_install.checks import drift
from k8s_install.lifecycle import plan
from k8s_install.model import config
from test_addons_role import RELEASES, make_repo


def test_a_restore_is_an_addons_only_action_naming_the_releases() -> None:
    empty = plan.Plan(cluster="lab", first_install=False)
    restored = plan.with_restore(empty, ["web", "stack"])
    assert restored.changes and restored.kinds() == ["addons"]
    action = restored.actions[0]
    assert action.data == {"restore": ["web", "stack"]}
    assert "web, stack" in action.summary and action.playbook == "addons.yml"
    assert plan.describe(restored)[0].startswith("1. Addons only: restore")


def test_only_drifted_releases_are_restored() -> None:
    releases = [
        {"name": "web", "status": "drifted"},
        {"name": "stack", "status": "in-sync"},
        {"name": "gone", "status": "not-installed"},
    ]
    assert drift.drifted_releases(releases) == ["web"]


@pytest.mark.parametrize("restore", [[], ["web"], ["web", "stack"]])
def test_the_addons_plan_file_marks_the_restored_releases(
    tmp_path: Path, helm_binary: Path, monkeypatch: pytest.MonkeyPatch, restore: list[str]
) -> None:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))
    cluster = config.load(make_repo(tmp_path / "repo", RELEASES))
    variables = apply.run_vars(cluster, restore=restore)
    written = yaml.safe_load(Path(variables["k8s_install_addons_plan"]).read_text())
    marked = {r["name"]: r["restore"] for r in written["addons_releases"]}
    assert marked == {"web": "web" in restore, "stack": "stack" in restore}
