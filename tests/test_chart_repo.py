"""The loopback chart repository's own rules (tests/chart_repo.py), without the chart sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from chart_repo import ENV_SOURCES, _matches, repo_path, sources_dir, table


def test_missing_sources_fail_in_ci_and_skip_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_SOURCES, raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{ENV_SOURCES} is not set"):
        sources_dir()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"scripts/chart-sources\.sh"):
        sources_dir()


def test_a_missing_chart_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = table()
    for row in rows[1:]:
        (tmp_path / row.key / row.paths[0]).mkdir(parents=True)
    monkeypatch.setenv(ENV_SOURCES, str(tmp_path))
    monkeypatch.setenv("CI", "true")
    first = rows[0]
    with pytest.raises(pytest.fail.Exception) as caught:
        sources_dir()
    assert f"{first.chart} {first.version} ({first.mirror} tag {first.tag})" in str(caught.value)
    (tmp_path / first.key / first.paths[0]).mkdir(parents=True)
    assert sources_dir() == tmp_path


def test_dependency_versions_and_repository_paths() -> None:
    assert _matches("0.12.*", "0.12.2") and not _matches("0.12.*", "0.13.0")
    assert _matches("4.33.7", "4.33.7") and _matches("=6.3.0", "6.3.0")
    assert repo_path("https://kubernetes-sigs.github.io/metrics-server/") == (
        "kubernetes-sigs.github.io/metrics-server"
    )
