"""Rendered addon manifests: a Secret is redacted wherever it sits, never written out in clear."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k8s_install.addons import manifests

CLEAR = "c3VwZXItc2VjcmV0"  # base64 of a password
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s"},
    "data": {"password": CLEAR},
    "stringData": {"token": "plain-token"},
}


def _wrapped_in_list(secret: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": [secret]}


def _nested_lists(secret: dict[str, Any]) -> dict[str, Any]:
    return _wrapped_in_list(_wrapped_in_list(secret))


def _in_a_custom_wrapper(secret: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Bundle", "spec": {"resources": [secret]}}


def _in_a_template(secret: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"template": {"metadata": {"annotations": {"last-applied": "x"}}}},
        "x-embedded": {"objects": {"first": secret}},
    }


def _without_api_version(secret: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in secret.items() if k != "apiVersion"}


def _scalar_data(secret: dict[str, Any]) -> dict[str, Any]:
    return {**secret, "data": CLEAR, "stringData": [CLEAR]}


WRAPPERS = [
    ("top level", lambda s: s),
    ("List item", _wrapped_in_list),
    ("List inside a List", _nested_lists),
    ("custom wrapper kind", _in_a_custom_wrapper),
    ("deep inside another object", _in_a_template),
    ("no apiVersion", _without_api_version),
    ("data not a mapping", _scalar_data),
]


@pytest.mark.parametrize("wrap", [w[1] for w in WRAPPERS], ids=[w[0] for w in WRAPPERS])
def test_secret_is_redacted_wherever_it_sits(wrap: Any) -> None:
    text = "---\n# Source: chart/templates/x.yaml\n" + manifests.yamlfile.dump(wrap(SECRET))
    out = manifests.canonical(text)
    assert CLEAR not in out and "plain-token" not in out
    assert manifests.REDACTED in out


def test_secret_keys_are_kept() -> None:
    out = manifests.redact(_wrapped_in_list(SECRET))
    assert set(out["items"][0]["data"]) == {"password"}
    assert set(out["items"][0]["stringData"]) == {"token"}


def test_other_kinds_are_untouched() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}
    assert manifests.redact(_wrapped_in_list(config)) == _wrapped_in_list(config)


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
_tree = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(_tree, st.lists(st.sampled_from(["items", "spec", "x", 0]), max_size=4))
def test_a_secret_planted_anywhere_is_redacted(tree: Any, route: list[Any]) -> None:
    document: Any = SECRET
    for step in reversed(route):
        document = [tree, document] if step == 0 else {"kind": "Wrapper", step: document}
    out = manifests.yamlfile.dump(manifests.redact({"kind": "List", "items": [tree, document]}))
    assert CLEAR not in out and "plain-token" not in out


def test_a_bare_equals_sign_reads_as_the_string_it_is() -> None:
    """CRDs (the Prometheus operator's AlertmanagerConfig) list `=` among an enum's operators;
    YAML 1.1 gives it a `value` tag that a safe loader cannot construct."""
    text = (
        "---\n# Source: crds/matchers.yaml\napiVersion: apiextensions.k8s.io/v1\n"
        "kind: CustomResourceDefinition\nmetadata:\n  name: m\nspec:\n"
        "  matchType:\n    enum:\n    - '!='\n    - =\n    - =~\n"
    )
    canonical = manifests.canonical(text)
    (doc,) = manifests.parse(canonical)
    assert doc.body["spec"]["matchType"]["enum"] == ["!=", "=", "=~"]
    assert manifests.canonical(canonical) == canonical
