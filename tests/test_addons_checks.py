"""Bad addons: input is named with its field path and a fix; `validate` exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.base.resources import sample_cluster
from k8s_install.cli import cli


def validate(tmp_path: Path, addons: dict[str, Any]) -> tuple[int, list[dict[str, str]]]:
    data = yaml.safe_load(sample_cluster().read_text())
    data["addons"] = addons
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(cli, ["validate", "-c", str(path), "--json"])
    report = json.loads(result.stdout)
    return result.exit_code, [p for p in report["problems"] if p["severity"] == "error"]


def repo_chart(name: str, version: Any = "1.2.3", **extra: Any) -> dict[str, Any]:
    entry = {"name": name, "chart": name, "repo": "https://charts.example.com", **extra}
    if version is not None:
        entry["version"] = version
    return entry


CASES = [
    pytest.param(
        {"releases": [{"preset": "metrics-server", "chartt": "x"}]},
        "addons.releases[0].chartt",
        "unknown key 'chartt'",
        id="unknown-key",
    ),
    pytest.param(
        {"releases": [repo_chart("a", "^1.2")]},
        "addons.releases[0].version",
        "'^1.2' is not a pinned version",
        id="range",
    ),
    pytest.param(
        {"releases": [repo_chart("a", "latest")]},
        "addons.releases[0].version",
        "'latest' is not a pinned version",
        id="latest",
    ),
    pytest.param(
        {"releases": [repo_chart("a", "1.x")]},
        "addons.releases[0].version",
        "'1.x' is not a pinned version",
        id="wildcard",
    ),
    pytest.param(
        {"releases": [repo_chart("a", ">=1.0.0")]},
        "addons.releases[0].version",
        "not a pinned version",
        id="comparison",
    ),
    pytest.param(
        {"releases": [repo_chart("a", None)]},
        "addons.releases[0].version",
        "no chart version",
        id="missing-version",
    ),
    pytest.param(
        {"releases": [repo_chart("a", depends_on=["b"]), repo_chart("b", depends_on=["a"])]},
        "addons.releases[0].depends_on",
        "dependency cycle: a -> b -> a",
        id="cycle",
    ),
    pytest.param(
        {
            "globals": {},
            "releases": [repo_chart("a", values={"image": {"registry": "${globals.registry}"}})],
        },
        "addons.releases[0].values.image.registry",
        "globals.registry is not set",
        id="missing-global",
    ),
    pytest.param(
        {"releases": [{"preset": "argo-cd"}]},
        "addons.releases[0].values.global.domain",
        "globals.ingress_domain is not set (in preset argo-cd)",
        id="missing-global-in-preset",
    ),
    pytest.param(
        {"releases": [repo_chart("a"), repo_chart("b"), repo_chart("a")]},
        "addons.releases[2].name",
        "duplicate release name 'a' (also addons.releases[0])",
        id="duplicate",
    ),
    pytest.param(
        {"releases": [{"preset": "metrics-server"}, {"preset": "metrics-server"}]},
        "addons.releases[1].name",
        "duplicate release name 'metrics-server'",
        id="duplicate-preset",
    ),
    pytest.param(
        {"releases": [repo_chart("app", depends_on=["databse"]), repo_chart("database")]},
        "addons.releases[0].depends_on[0]",
        "'databse' is not a release",
        id="unknown-dependency",
    ),
    pytest.param(
        {"releases": [repo_chart("app", depends_on=["db"]), repo_chart("db", enabled=False)]},
        "addons.releases[0].depends_on[0]",
        "depends on 'db', which is disabled",
        id="disabled-dependency",
    ),
    pytest.param(
        {"releases": [{"preset": "certmanager"}]},
        "addons.releases[0].preset",
        "unknown preset 'certmanager'",
        id="unknown-preset",
    ),
    pytest.param(
        {"releases": [{"name": "a", "chart": "nginx"}]},
        "addons.releases[0].chart",
        "has no repo and is not a path",
        id="chart-without-repo",
    ),
    pytest.param(
        {"releases": [repo_chart("a", timeout="five minutes")]},
        "addons.releases[0].timeout",
        "not a duration",
        id="timeout",
    ),
    pytest.param(
        {"releases": [{"name": "a", "chart": "oci://r.example/c/a:1.0.0", "version": "1.0.0"}]},
        "addons.releases[0].chart",
        "carries a tag",
        id="oci-tag",
    ),
    pytest.param(
        {"releases": [repo_chart("argocd")]},
        "addons.releases[0].name",
        "is reserved",
        id="reserved-name",
    ),
    pytest.param(
        {"globals": {"a": "${globals.b}", "b": 1}, "releases": []},
        "addons.globals.a",
        "cannot reference other globals",
        id="global-reference",
    ),
    pytest.param(
        {"releases": [repo_chart("a", values={"x": "${registry}"})]},
        "addons.releases[0].values.x",
        "must start with 'globals.'",
        id="bad-syntax",
    ),
]


@pytest.mark.parametrize(("addons", "path", "message"), CASES)
def test_bad_addons_are_named(
    tmp_path: Path, addons: dict[str, Any], path: str, message: str
) -> None:
    code, problems = validate(tmp_path, addons)
    assert code == 2
    matching = [p for p in problems if p["path"] == path]
    assert matching, problems
    assert message in matching[0]["message"]
    assert matching[0]["fix"]


def test_good_addons_pass(tmp_path: Path) -> None:
    code, problems = validate(
        tmp_path,
        {
            "globals": {"registry": "mirror.example:5000", "ingress_domain": "apps.example"},
            "releases": [
                {"preset": "cert-manager"},
                {"preset": "argo-cd", "values": {"server": {"replicas": 2}}},
                {"name": "local", "chart": "./charts/web", "wait": False, "timeout": "90s"},
                {"name": "oci", "chart": "oci://r.example/charts/x", "version": "v2.0.0-rc.1"},
            ],
        },
    )
    assert (code, problems) == (0, [])
