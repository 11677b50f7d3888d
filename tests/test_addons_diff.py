"""`addons diff` compares rendered files with helm's stored values and manifest (pure part)."""

from __future__ import annotations

from k8s_install.addons import diff, manifests

RENDERED = """\
---
# Source: web/crds/thing.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
---
# Source: web/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: web}
data: {password: c2VjcmV0}
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2}
---
# Source: web/templates/hook.yaml
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {helm.sh/hook: pre-upgrade}
"""
# What `helm get manifest` prints: no crds/ files, no hooks, helm's own formatting.
LIVE = """\
---
# Source: web/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: web
data:
  password: "b3RoZXI="
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
"""


def test_same_objects_in_other_formatting_are_in_sync() -> None:
    rendered = manifests.canonical(RENDERED)
    result = diff.compare("web", "apps", "a: 1\n", rendered, "a: 1\n", LIVE)
    assert result.status == "in-sync", result.manifest


def test_a_changed_field_and_changed_values_are_shown_as_unified_diffs() -> None:
    live = LIVE.replace("replicas: 2", "replicas: 5")
    result = diff.compare("web", "apps", "a: 1\n", RENDERED, "a: 2\n", live)
    assert result.status == "drifted"
    assert "-a: 2\n+a: 1\n" in result.values
    assert "-  replicas: 5\n+  replicas: 2\n" in result.manifest
    assert result.manifest.startswith("--- live/web/manifest.yaml")


def test_a_release_helm_does_not_know_is_not_installed() -> None:
    assert diff.compare("web", "apps", "", RENDERED, None, None).status == "not-installed"


def test_secret_values_never_reach_the_diff() -> None:
    result = diff.compare(
        "web", "apps", "", RENDERED, "", LIVE.replace("name: web\ndata", "name: web2\ndata")
    )
    assert "c2VjcmV0" not in result.manifest and "b3RoZXI" not in result.manifest


def test_the_diff_output_matches_its_schema() -> None:
    from k8s_install.base import output_schemas as jsonout

    results = [
        diff.compare("web", "apps", "a: 1\n", RENDERED, "a: 2\n", LIVE),
        diff.compare("db", "apps", "", RENDERED, None, None),
    ]
    assert jsonout.errors("addons diff", {"releases": [r.as_dict() for r in results]}) == []
