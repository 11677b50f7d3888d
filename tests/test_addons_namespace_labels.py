"""Namespace labels: a preset's Pod Security level reaches the role's plan, a user's labels
merge over it, a change is planned as an upgrade, and a label Kubernetes would refuse stops
validate with its field path. The wave play stops between waves without any_errors_fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8s_install.addons import order
from k8s_install.base.resources import data_dir
from k8s_install.model.addon_releases import expand
from test_addons_checks import validate

PRIVILEGED = "pod-security.kubernetes.io/enforce"
PLAYBOOKS = data_dir("playbooks")
ROLE = data_dir("roles") / "addons"


@pytest.mark.parametrize(
    "preset", ["metallb", "local-path-provisioner", "fluent-bit", "kube-prometheus-stack"]
)
def test_presets_with_host_access_label_their_namespace_privileged(preset: str) -> None:
    releases, problems = expand({"releases": [{"preset": preset}]})
    assert problems == []
    assert releases[0].namespace_labels[PRIVILEGED] == "privileged"


def test_presets_that_meet_baseline_set_no_labels() -> None:
    releases, _ = expand({"releases": [{"preset": "traefik"}, {"preset": "metrics-server"}]})
    assert [r.namespace_labels for r in releases] == [{}, {}]


def test_user_labels_merge_over_the_presets() -> None:
    entry = {"preset": "metallb", "namespace_labels": {PRIVILEGED: "baseline", "team": "net"}}
    releases, _ = expand({"releases": [entry]})
    labels = releases[0].namespace_labels
    assert (labels[PRIVILEGED], labels["team"]) == ("baseline", "net")
    assert labels["pod-security.kubernetes.io/warn"] == "privileged"


def test_a_label_change_is_an_upgrade_of_that_release_only() -> None:
    before = {"releases": [{"preset": "metallb"}, {"preset": "metrics-server"}]}
    after = {
        "releases": [
            {"preset": "metallb", "namespace_labels": {"team": "net"}},
            {"preset": "metrics-server"},
        ]
    }
    changes = {c.name: (c.action, c.reason) for c in order.changes(after, before)}
    assert changes == {
        "metallb": ("upgrade", "settings changed"),
        "metrics-server": ("unchanged", ""),
    }


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"Bad Key": "x"}, "Bad Key"),
        ({"team": "-leading-dash"}, "team"),
        ({"team": "x" * 64}, "team"),
        ({"UPPER.example.com/x": "y"}, "UPPER.example.com/x"),
    ],
)
def test_a_label_kubernetes_refuses_is_named(
    tmp_path: Path, labels: dict[str, str], field: str
) -> None:
    code, errors = validate(
        tmp_path, {"releases": [{"preset": "metallb", "namespace_labels": labels}]}
    )
    assert code == 2
    paths = [e["path"] for e in errors]
    assert f"addons.releases[0].namespace_labels.{field}" in paths, errors


def test_a_label_value_must_be_a_string(tmp_path: Path) -> None:
    code, errors = validate(
        tmp_path, {"releases": [{"preset": "metallb", "namespace_labels": {"team": ["a"]}}]}
    )
    assert code == 2
    assert any(e["path"].startswith("addons.releases[0].namespace_labels") for e in errors)


def test_the_wave_play_stops_between_waves_without_any_errors_fatal() -> None:
    plays = yaml.safe_load((PLAYBOOKS / "addons.yml").read_text())
    wave_play = next(p for p in plays if p.get("hosts") == "k8s_install_addons")
    assert "any_errors_fatal" not in wave_play
    tasks = yaml.safe_load((ROLE / "tasks" / "wave.yml").read_text())
    gate = tasks[0]
    assert gate["ansible.builtin.meta"] == "end_host"
    assert "ansible_play_hosts" in gate["when"]
    install = next(t for t in tasks if "block" in t)["block"]
    assert [t["name"] for t in install[:2]] == [
        "Label the release's namespace",
        "Install or upgrade the release",
    ]
