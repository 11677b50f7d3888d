"""References to addons.globals: `${globals.path}` resolution, with property-based tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from k8s_install.model import addon_globals as refs

KEYS = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
SCALARS = st.one_of(
    st.text(max_size=20).filter(lambda t: "${" not in t),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
VALUES = st.recursive(
    st.one_of(SCALARS, st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=10,
)
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=10,
)
TEXT = st.text(max_size=30)


@given(PLAIN)
def test_values_without_references_are_unchanged(value: Any) -> None:
    resolved, problems = refs.resolve(value, {"a": 1})
    assert resolved == value
    assert problems == []


@given(KEYS, KEYS, VALUES)
def test_a_whole_string_reference_keeps_the_global_and_its_type(
    outer: str, inner: str, value: Any
) -> None:
    globals_ = {outer: {inner: value}}
    resolved, problems = refs.resolve({"x": [f"${{globals.{outer}.{inner}}}"]}, globals_)
    assert problems == []
    assert resolved == {"x": [value]}
    assert type(resolved["x"][0]) is type(value)


@given(TEXT, TEXT, KEYS, st.one_of(st.text(max_size=10), st.integers(), st.booleans()))
def test_an_embedded_reference_is_replaced_by_the_globals_text(
    prefix: str, suffix: str, key: str, value: Any
) -> None:
    assume(prefix or suffix)  # a whole-string reference keeps the type instead
    # '$' right before a reference would read as the '$${' escape (documented limitation).
    assume(not prefix.endswith("$"))
    text = refs.escape(prefix) + f"${{globals.{key}}}" + refs.escape(suffix)
    resolved, problems = refs.resolve(text, {key: value})
    assert problems == []
    shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert resolved == prefix + shown + suffix


@given(TEXT)
def test_escaped_text_resolves_to_itself(text: str) -> None:
    resolved, problems = refs.resolve(refs.escape(text), {})
    assert problems == []
    assert resolved == text


@given(st.lists(KEYS, min_size=1, max_size=3), st.lists(KEYS, min_size=1, max_size=3))
def test_a_missing_global_is_reported_at_its_path(where: list[str], missing: list[str]) -> None:
    value: Any = "${globals." + ".".join(missing) + "}"
    for key in reversed(where):
        value = {key: value}
    _, problems = refs.resolve(value, {}, "addons.releases[3].values")
    assert [p.path for p in problems] == ["addons.releases[3].values." + ".".join(where)]
    assert "globals." + ".".join(missing) in problems[0].message


@given(st.dictionaries(KEYS, PLAIN, max_size=4), PLAIN)
def test_resolving_is_idempotent_once_resolved(globals_: dict[str, Any], value: Any) -> None:
    once, _ = refs.resolve(value, globals_)
    twice, _ = refs.resolve(once, globals_)
    assert once == twice


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${globals.reg:-quay.io}", "quay.io"),
        ("${globals.sel:-{}}", {}),
        ("${globals.tol:-[]}", []),
        ("${globals.n:-3}", 3),
        ("${globals.proxy.http:-}", ""),
        ("${globals.reg:-quay.io}/jetstack/x", "quay.io/jetstack/x"),
    ],
)
def test_fallbacks_apply_only_when_the_global_is_unset(text: str, expected: Any) -> None:
    assert refs.resolve(text, {})[0] == expected


def test_a_set_global_beats_the_fallback() -> None:
    resolved, _ = refs.resolve("${globals.reg:-quay.io}/x", {"reg": "mirror:5000"})
    assert resolved == "mirror:5000/x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${registry}", "must start with 'globals.'"),
        ("${globals.}", "not a valid path"),
        ("${globals.a b}", "not a valid path"),
        ("x ${globals.a", "no closing"),
    ],
)
def test_bad_reference_syntax_is_named(text: str, message: str) -> None:
    _, problems = refs.resolve({"v": text}, {"a": 1}, "values")
    assert problems and problems[0].path == "values.v"
    assert message in problems[0].message


def test_a_dollar_right_before_a_reference_reads_as_the_escape() -> None:
    # The documented limitation: put such a '$' into the global's value instead.
    assert refs.resolve("$${globals.a}", {"a": "x"})[0] == "${globals.a}"
    assert refs.resolve("${globals.price}", {"price": "$5"})[0] == "$5"


def test_a_mapping_cannot_be_embedded_in_a_string() -> None:
    _, problems = refs.resolve("nodes: ${globals.sel}", {"sel": {"a": "b"}}, "v")
    assert "cannot be embedded" in problems[0].message


def test_globals_may_not_hold_references() -> None:
    problems = refs.globals_problems({"a": "${globals.b}", "b": "x"})
    assert [p.path for p in problems] == ["addons.globals.a"]
