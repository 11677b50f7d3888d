"""tests/conftest.py: in CI a skipped engine, cluster, addons or integration test fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest

@pytest.mark.engine
def test_engine():
    pytest.skip("no engine checkout")

@pytest.mark.integration
def test_hosts():
    pytest.skip("no podman")

def test_plain():
    pytest.skip("optional tool missing")
"""


def run_inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> Any:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini(
        "[pytest]\nmarkers =\n  engine: e\n  integration: i\n  cluster: c\n  upgrade: u\n"
        "  addons: a\n"
    )
    pytester.makepyfile(test_addons_inner=INNER.replace("no engine", "no helm"), test_inner=INNER)
    return pytester.runpytest_inprocess("-rA")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_in_ci_a_skip_of_a_suite_fails_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    result = run_inner(pytester, monkeypatch, ci)
    # test_inner: engine and integration fail; test_addons_inner: all three are addons tests.
    result.assert_outcomes(failed=5, skipped=1)
    result.stdout.fnmatch_lines(
        ["*skipped in CI, which fails the engine suite*no engine checkout*"]
    )
    result.stdout.fnmatch_lines(["*skipped in CI, which fails the addons suite*optional tool*"])


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_elsewhere_they_skip_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    result = run_inner(pytester, monkeypatch, ci)
    result.assert_outcomes(skipped=6)
    result.stdout.fnmatch_lines(["*no engine checkout*"])
