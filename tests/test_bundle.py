"""Bundle pieces that need no servers: manifest, signatures, verify, diff, offline vars, TLS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509

from k8s_install.ansible import inventory
from k8s_install.ansible import offline_repo as offline
from k8s_install.base import resources
from k8s_install.base.errors import K8sInstallError
from k8s_install.bundle import diff, sign, tls
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import verify as verifier
from k8s_install.bundle.sources import parse_mirrors, rewrite
from k8s_install.cli import cli
from k8s_install.model import config


def _bundle(root: Path, key: Path, files: dict[str, bytes]) -> mf.Manifest:
    root.mkdir(parents=True, exist_ok=True)
    entries = {}
    items = []
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        sha, size = verifier.sha256_file(root / rel)
        entries[rel] = mf.FileEntry(sha, size)
        items.append(
            mf.Item("file", Path(rel).name, "1.0", f"https://example.test/{rel}", sha, size, (rel,))
        )
    manifest = mf.Manifest("t", "2026-01-01T00:00:00Z", {"arch": "amd64"}, items, entries)
    raw = manifest.to_bytes()
    (root / mf.MANIFEST).write_bytes(raw)
    (root / mf.SIGNATURE).write_bytes(sign.sign(raw, key))
    return manifest


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    sign.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    return tmp_path / "k.key", tmp_path / "k.pub"


def test_keygen_private_key_is_0600_and_refuses_overwrite(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"PUBLIC KEY" in public.read_bytes()
    with pytest.raises(K8sInstallError, match="exists"):
        sign.keygen(private, public)


def test_verify_names_flipped_missing_and_extra(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a" * 5000, "files/b": b"b", "charts/c.tgz": b"c"})
    assert verifier.verify(root, keys[1]).ok
    data = bytearray((root / "files/a").read_bytes())
    data[1234] ^= 1
    (root / "files/a").write_bytes(bytes(data))
    (root / "files/b").unlink()
    (root / "files/planted").write_bytes(b"x")
    report = verifier.verify(root, keys[1])
    assert not report.ok
    assert report.signature == "ok"
    assert report.flipped == ["files/a"]
    assert report.missing == ["files/b"]
    assert report.extra == ["files/planted"]


def test_wrong_key_fails_before_files(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a"})
    sign.keygen(tmp_path / "other.key", tmp_path / "other.pub")
    report = verifier.verify(root, tmp_path / "other.pub")
    assert report.signature == "bad" and not report.ok


def test_edited_manifest_breaks_the_signature(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a"})
    raw = (root / mf.MANIFEST).read_bytes().replace(b'"1.0"', b'"1.1"')
    (root / mf.MANIFEST).write_bytes(raw)
    assert verifier.verify(root, keys[1]).signature == "bad"


def test_cli_verify_exit_codes(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a"})
    runner = CliRunner()
    ok = runner.invoke(cli, ["bundle", "verify", str(root), "--key", str(keys[1]), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    (root / "files/a").write_bytes(b"b")
    bad = runner.invoke(cli, ["bundle", "verify", str(root), "--key", str(keys[1])])
    assert bad.exit_code == 1
    assert "flipped: files/a" in bad.output
    missing_key = runner.invoke(
        cli, ["bundle", "verify", str(root), "--key", str(tmp_path / "nope.pub")]
    )
    assert missing_key.exit_code == 2
    assert "public key not found" in missing_key.output
    not_a_bundle = runner.invoke(cli, ["bundle", "verify", str(tmp_path), "--key", str(keys[1])])
    assert not_a_bundle.exit_code == 2
    assert "no manifest" in not_a_bundle.output
    private_as_public = runner.invoke(cli, ["bundle", "verify", str(root), "--key", str(keys[0])])
    assert private_as_public.exit_code == 2


def test_manifest_round_trips_canonically(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    manifest = _bundle(tmp_path / "b", keys[0], {"files/a": b"a", "files/b": b"bb"})
    loaded = mf.load(tmp_path / "b")
    assert loaded.to_bytes() == manifest.to_bytes()
    assert loaded.total_size == 3


def test_diff_reports_added_removed_changed() -> None:
    def item(name: str, version: str, sha: str) -> mf.Item:
        return mf.Item("file", name, version, "s", sha, 10)

    old = mf.Manifest(
        "o",
        "t",
        {},
        [
            item("kubelet", "1.34.0", "a" * 64),
            item("gone", "1", "b" * 64),
            item("same", "1", "c" * 64),
        ],
    )
    new = mf.Manifest(
        "n",
        "t",
        {},
        [
            item("kubelet", "1.35.0", "d" * 64),
            item("new", "1", "e" * 64),
            item("same", "1", "c" * 64),
        ],
    )
    result = diff.diff(old, new)
    assert [a["name"] for a in result.added] == ["new"]
    assert [r["name"] for r in result.removed] == ["gone"]
    assert (
        result.changed[0]["old_version"] == "1.34.0"
        and result.changed[0]["new_version"] == "1.35.0"
    )
    assert result.unchanged == 1


def test_mirror_rewrite_uses_the_longest_prefix() -> None:
    mirrors = parse_mirrors(
        ["https://github.com=http://m/gh", "https://github.com/special=http://s"]
    )
    assert rewrite("https://github.com/a/b", mirrors) == "http://m/gh/a/b"
    assert rewrite("https://github.com/special/x", mirrors) == "http://s/x"
    assert rewrite("https://dl.k8s.io/x", mirrors) == "https://dl.k8s.io/x"
    with pytest.raises(K8sInstallError, match="PREFIX=URL"):
        parse_mirrors(["no-equals"])


def _offline_cluster(sample_copy: Path) -> config.Cluster:
    data = yaml.safe_load(sample_copy.read_text())
    data["offline"] = {"enabled": True, "bundle": "b.tar", "repo_host": "cp1"}
    sample_copy.write_text(yaml.safe_dump(data))
    return config.load(sample_copy)


def test_offline_group_vars_point_the_engine_at_the_repo_host(sample_copy: Path) -> None:
    cluster = _offline_cluster(sample_copy)
    values = offline.group_vars(cluster)
    assert values["files_repo"] == "https://10.0.0.11:8080"  # cp1's internal address
    assert values["registry_host"] == "10.0.0.11:5000"
    assert values["dl_k8s_io_url"] == "{{ files_repo }}/dl.k8s.io"
    assert values["github_url"] == "{{ files_repo }}/github.com"
    assert values["kube_image_repo"] == "{{ registry_host }}"
    prefixes = [m["prefix"] for m in values["containerd_registries_mirrors"]]
    assert prefixes[0] == "10.0.0.11:5000" and "registry.k8s.io" in prefixes
    for mirror in values["containerd_registries_mirrors"]:
        assert mirror["mirrors"][0]["ca"] == "/etc/containerd/certs.d/10.0.0.11:5000/ca.crt"
        assert "skip_verify" not in mirror["mirrors"][0]
    text = inventory.files(cluster)["group_vars/all/20-offline.yml"]
    assert "files_repo: https://10.0.0.11:8080" in text


def test_offline_group_vars_empty_when_disabled(sample_copy: Path) -> None:
    assert offline.group_vars(config.load(sample_copy)) == {}


INSECURE = re.compile(
    r"trusted\s*=\s*yes|\[trusted=yes\]|gpgcheck\s*[=:]\s*(0|false|no)|skip_verify\s*[=:]\s*(true|yes|1)"
    r"|insecure[_-]?registr|validate_certs\s*:\s*(false|no)|insecure_skip_verify|--insecure"
    r"|plain[_-]?http|verify\s*=\s*False",
    re.IGNORECASE,
)


def test_nothing_the_bundle_sets_up_trusts_by_default(sample_copy: Path) -> None:
    roles = resources.data_dir("roles")
    paths = [
        *(roles / "offline_repo").rglob("*"),
        *(roles / "registry_trust").rglob("*"),
        resources.playbook("offline_repo.yml"),
    ]
    package = Path(offline.__file__).parent
    paths += list(package.glob("*.py"))
    texts = {str(p): p.read_text() for p in paths if p.is_file()}
    texts["20-offline.yml"] = inventory.files(_offline_cluster(sample_copy))[
        "group_vars/all/20-offline.yml"
    ]
    offenders = {
        name: INSECURE.findall(text) for name, text in texts.items() if INSECURE.search(text)
    }
    assert offenders == {}
    assert len(texts) > 10


def test_tls_ca_signs_a_server_cert_for_the_repo_address(tmp_path: Path) -> None:
    paths = tls.ensure(tmp_path / "tls", "c", ["10.0.0.11", "cp1"])
    assert paths.ca_key.stat().st_mode & 0o777 == 0o600
    assert paths.key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.11"]
    before = paths.cert.read_bytes()
    tls.ensure(tmp_path / "tls", "c", ["10.0.0.11", "cp1"])
    assert paths.cert.read_bytes() == before  # reused: serve stays idempotent
    tls.ensure(tmp_path / "tls", "c", ["10.0.0.12"])
    assert paths.cert.read_bytes() != before
    assert x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()) == ca  # same CA kept


def test_every_bundle_command_has_examples() -> None:
    runner = CliRunner()
    for command in ("keygen", "plan", "build", "verify", "info", "diff", "serve"):
        result = runner.invoke(cli, ["bundle", command, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.output and "--json" in result.output


def test_a_tar_bundle_is_streamed_and_tampering_named(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    import tarfile

    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a" * 3000, "files/b": b"b"})
    (root / "files/b").write_bytes(b"B")  # tampered before packing
    archive = tmp_path / "b.tar"
    with tarfile.open(archive, "w") as tar:
        for name in (mf.MANIFEST, mf.SIGNATURE, "files/a", "files/b"):
            tar.add(root / name, arcname=name)
    report = verifier.verify(archive, keys[1])
    assert report.signature == "ok" and report.flipped == ["files/b"]


def test_engine_archive_comes_from_the_signed_bundle(
    sample_copy: Path, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    from k8s_install.bundle import engine_source

    root = sample_copy.parent / "bundle"
    files = {"engine/kubespray-2.31.0.tar.gz": b"engine bytes"}
    manifest = _bundle(root, keys[0], files)
    engine = manifest.items[0]
    manifest.items = [
        mf.Item("engine", "kubespray", "2.31.0", "u", engine.sha256, engine.size, engine.paths)
    ]
    raw = manifest.to_bytes()
    (root / mf.MANIFEST).write_bytes(raw)
    (root / mf.SIGNATURE).write_bytes(sign.sign(raw, keys[0]))
    data = yaml.safe_load(sample_copy.read_text())
    data["offline"] = {
        "enabled": True,
        "bundle": "bundle",
        "repo_host": "cp1",
        "public_key": str(keys[1]),
    }
    sample_copy.write_text(yaml.safe_dump(data))
    cluster = config.load(sample_copy)
    assert engine_source.engine_archive(cluster) == root / "engine/kubespray-2.31.0.tar.gz"

    sign.keygen(tmp_path / "other.key", tmp_path / "other.pub")
    data["offline"]["public_key"] = str(tmp_path / "other.pub")
    sample_copy.write_text(yaml.safe_dump(data))
    with pytest.raises(K8sInstallError, match="signature does not match"):
        engine_source.engine_archive(config.load(sample_copy))

    data["offline"] = {"enabled": False}
    sample_copy.write_text(yaml.safe_dump(data))
    assert engine_source.engine_archive(config.load(sample_copy)) is None


def test_serve_reextracts_a_stale_extraction(
    sample_copy: Path, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    import tarfile

    from k8s_install.bundle import serve

    root = tmp_path / "b"
    _bundle(root, keys[0], {"files/a": b"a" * 100})
    archive = sample_copy.parent / "site.tar"
    with tarfile.open(archive, "w") as tar:
        for name in (mf.MANIFEST, mf.SIGNATURE, "files/a"):
            tar.add(root / name, arcname=name)
    cluster = config.load(sample_copy)
    unpacked = serve.bundle_dir(cluster, archive)
    assert serve.is_extracted(cluster, unpacked) and verifier.verify(unpacked, keys[1]).ok
    (unpacked / "files/a").write_bytes(b"tampered")
    (unpacked / "files/planted").write_bytes(b"x")
    assert serve.bundle_dir(cluster, archive) == unpacked  # same manifest: reused ...
    assert not verifier.verify(unpacked, keys[1]).ok  # ... and caught by verify
    again = serve.bundle_dir(cluster, archive, fresh=True)
    assert verifier.verify(again, keys[1]).ok
    assert not serve.is_extracted(cluster, root)
