"""Wheels in a bundle, and the control machine installing from them with `pip --no-index`."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from k8s_install.bundle import build
from k8s_install.bundle import manifest as mf

REPO = Path(__file__).resolve().parents[1]


def _wheel(directory: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal, valid pure-Python wheel (a test fixture, built here with zipfile)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        )
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    target = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return target


def _opts(tmp_path: Path) -> build.Options:
    return build.Options(tmp_path / "o", tmp_path / "k", tmp_path / "c", {}, {})


def test_wheels_are_collected_and_install_with_no_index(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index, "fixture_app", "1.0.0", ["fixture_dep>=2"])
    _wheel(index, "fixture_dep", "2.1.0", [])
    wheels = tmp_path / "bundle" / mf.WHEELS_DIR
    spec = {"include_self": False, "requirements": ["fixture_app==1.0.0"], "find_links": str(index)}
    items = build._wheels(spec, wheels, _opts(tmp_path))
    assert sorted((i.name, i.version) for i in items) == [
        ("fixture_app", "1.0.0"),
        ("fixture_dep", "2.1.0"),
    ]
    assert all(i.kind == "wheel" and len(i.sha256) == 64 for i in items)

    target = tmp_path / "site"
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_FIND_LINKS": "",
        "PIP_EXTRA_INDEX_URL": "",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "--target",
            str(target),
            "fixture_app",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "fixture_app").is_dir() and (target / "fixture_dep").is_dir()


def test_a_missing_wheel_fails_the_build_with_pip_s_reason(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    spec = {
        "include_self": False,
        "requirements": ["not_there==1"],
        "find_links": str(tmp_path / "index"),
    }
    with pytest.raises(Exception, match="pip download failed"):
        build._wheels(spec, tmp_path / "w", _opts(tmp_path))


@pytest.mark.skipif(
    not os.environ.get("K8S_INSTALL_TEST_PYPI"),
    reason="set K8S_INSTALL_TEST_PYPI=1: downloads ~70 MB of wheels from PyPI",
)
def test_k8s_install_and_its_dependencies_install_offline(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    items = build._wheels(
        {"python_version": "3.11", "platform": "manylinux2014_x86_64"}, wheels, _opts(tmp_path)
    )
    assert {"k8s_install", "ansible", "ansible_runner", "click"} <= {i.name for i in items}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_FIND_LINKS": "",
        "PIP_EXTRA_INDEX_URL": "",
    }
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "k8s-install",
        ],
        check=True,
        env=env,
    )
    version = subprocess.run(
        [str(venv / "bin" / "k8s-install"), "--version"], capture_output=True, text=True, check=True
    )
    assert "k8s-install" in version.stdout


@pytest.mark.skipif(
    not os.environ.get("K8S_INSTALL_TEST_PYPI"),
    reason="set K8S_INSTALL_TEST_PYPI=1: pip takes setuptools from PyPI to build the wheel",
)
def test_the_own_wheel_leaves_the_source_tree_as_it_was(tmp_path: Path) -> None:
    project = build._wheel_source(REPO, tmp_path / "project")
    stale = project / "build" / "lib" / "k8s_install" / "stale_module.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("LEFT_BY_AN_OLD_BUILD = True\n")
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    opts = _opts(tmp_path)
    opts.project_dir = project
    items = build._wheels({"requirements": []}, tmp_path / "w", opts)
    assert [i.name for i in items] == ["k8s_install"]
    with zipfile.ZipFile(next((tmp_path / "w").glob("k8s_install-*.whl"))) as wheel:
        names = wheel.namelist()
    assert "k8s_install/cli.py" in names
    assert "k8s_install/stale_module.py" not in names
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before
