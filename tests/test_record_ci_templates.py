"""The CI templates in docs/ci/ pass yamllint and wire the documented jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "docs" / "ci"


def _config() -> YamlLintConfig:
    return YamlLintConfig(file=str(ROOT / ".yamllint"))


@pytest.mark.parametrize("name", ["gitlab-ci.yml", "github-actions.yml"])
def test_template_passes_yamllint(name: str) -> None:
    path = TEMPLATES / name
    problems = list(linter.run(path.read_text(), _config(), str(path)))
    assert [str(p) for p in problems] == []


def _scripts(job: dict[str, object]) -> str:
    text = []
    for key in ("script", "after_script"):
        value = job.get(key) or []
        stack = list(value) if isinstance(value, list) else [value]
        while stack:  # GitLab flattens nested lists (YAML anchors)
            item = stack.pop(0)
            if isinstance(item, list):
                stack = item + stack
            else:
                text.append(str(item))
    for step in job.get("steps") or []:  # type: ignore[attr-defined]
        text.append(str(step.get("run", "")))
    return "\n".join(text)


def test_gitlab_jobs() -> None:
    data = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    assert "k8s-install validate" in _scripts(data["validate"])
    assert "k8s-install plan --format markdown" in _scripts(data["plan"])
    for job in ("validate", "plan"):
        assert "merge_request_event" in data[job]["rules"][0]["if"]
    up = data["up"]
    assert "k8s-install up --yes" in _scripts(up)
    assert "$CI_DEFAULT_BRANCH" in up["rules"][0]["if"]
    assert "git push -o ci.skip" in _scripts(up)  # records go back without a new pipeline
    assert "schedule" in data["drift"]["rules"][0]["if"]
    assert "k8s-install drift" in _scripts(data["drift"])
    assert up["resource_group"] == data["drift"]["resource_group"]


def test_github_jobs() -> None:
    data = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    triggers = data["on"]
    assert set(triggers) >= {"pull_request", "push", "schedule"}
    jobs = data["jobs"]
    assert "pull_request" in jobs["plan"]["if"]
    plan = _scripts(jobs["plan"])
    assert "k8s-install validate" in plan and "k8s-install plan --format markdown" in plan
    assert "refs/heads/main" in jobs["up"]["if"]
    assert "k8s-install up --yes" in _scripts(jobs["up"])
    pushes = [s for s in jobs["up"]["steps"] if "git push" in str(s.get("run", ""))]
    assert pushes and pushes[0]["if"] == "always()"
    assert "schedule" in jobs["drift"]["if"]
    assert "k8s-install drift" in _scripts(jobs["drift"])
