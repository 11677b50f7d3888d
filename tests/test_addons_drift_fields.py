"""addons.drift.differences: the fields where a live object differs from Git's dry-run apply.

The cluster tests run the whole path against a live API server (a Deployment scaled and an
env value edited by hand); these pin down what counts as a difference.
"""

from __future__ import annotations

import copy
from typing import Any

from k8s_install.addons import drift

LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "metrics-server",
        "namespace": "kube-system",
        "resourceVersion": "812",
        "generation": 3,
        "managedFields": [{"manager": "helm"}],
        "uid": "u-1",
        "creationTimestamp": "2026-12-04T10:00:00Z",
    },
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "metrics-server",
                        "image": "10.0.0.1:5000/metrics-server/metrics-server:v0.8.0",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    }
                ]
            }
        },
    },
    "status": {"readyReplicas": 1},
}


def test_an_object_as_git_applies_it_has_no_differences() -> None:
    wanted = copy.deepcopy(LIVE)
    wanted["metadata"]["managedFields"] = [{"manager": "helm"}, {"manager": "k8s-install-drift"}]
    wanted["metadata"]["resourceVersion"] = "813"
    wanted["metadata"]["generation"] = 4
    assert drift.differences(LIVE, wanted) == []


def test_replicas_and_an_env_value_changed_by_hand_are_named_by_field() -> None:
    live = copy.deepcopy(LIVE)
    live["spec"]["replicas"] = 3
    live["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = "hand"
    found = drift.differences(live, LIVE)
    assert [(f.path, f.live, f.git) for f in found] == [
        ("spec.replicas", 3, 1),
        (
            "spec.template.spec.containers[name=metrics-server].env[name=B].value",
            "hand",
            "2",
        ),
    ]


def test_a_field_added_or_removed_by_hand_is_a_difference() -> None:
    live = copy.deepcopy(LIVE)
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "C", "value": "x"})
    paths = [f.path for f in drift.differences(live, LIVE)]
    assert paths == [
        "spec.template.spec.containers[name=metrics-server].env[name=C].name",
        "spec.template.spec.containers[name=metrics-server].env[name=C].value",
    ]


def test_an_object_description_names_kind_name_and_fields() -> None:
    obj = drift.ObjectDrift(
        "Deployment", "web", "shop", "changed", [drift.FieldDrift("spec.replicas", 3, 1)]
    )
    assert obj.describe() == "Deployment/web: spec.replicas: 3 (live) -> 1 (Git)"
    lines = drift.summary_lines([{"name": "web", "objects": [obj.as_dict()]}])
    assert lines == ["addon web: Deployment/web: spec.replicas: 3 (live) -> 1 (Git)"]
