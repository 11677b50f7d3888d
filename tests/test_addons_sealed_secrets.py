"""Sealed Secrets: `secrets keygen|seal|list`, the controller's format, and what Git holds.

The format is checked against upstream's own code: kubeseal v0.36.6 (the release of the
controller image the sealed-secrets preset runs), built from its Go module (build/sealed-secrets,
`scripts/artifacts/build.py --tool sealed-secrets`; .ci/run sets K8S_INSTALL_KUBESEAL). Its
`--recovery-unseal` opens our SealedSecrets with the vaulted key, and our code opens its. In CI
a missing kubeseal fails these tests (tests/conftest.py); elsewhere they skip with the reason.

A canary value is sealed and then searched for everywhere it must not be: the cluster repo's
files, every Git object, and the commands' output.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from k8s_install.addons import sealing
from k8s_install.ansible.security import VAULT_PASSWORD_ENV
from k8s_install.base import output_schemas as jsonout
from k8s_install.cli import cli

KUBESEAL_ENV = "K8S_INSTALL_KUBESEAL"
KUBESEAL_VERSION = "0.36.6"
CANARY = "canary-7f3a9c-do-not-leak"
# A PEM private-key header, built from parts so secret scanners do not flag this file.
RSA_KEY_HEADER = "-----BEGIN " + "RSA PRIVATE" + " KEY-----"


@pytest.fixture
def kubeseal() -> Path:
    value = os.environ.get(KUBESEAL_ENV, "")
    if not value or not Path(value).is_file():
        pytest.skip(
            f"set {KUBESEAL_ENV} to kubeseal {KUBESEAL_VERSION} (built by "
            "`.venv/bin/python scripts/artifacts/build.py --tool sealed-secrets`)"
        )
    return Path(value)


@pytest.fixture
def vault_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vault-pass"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    monkeypatch.setenv(VAULT_PASSWORD_ENV, str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path, vault_pass: Path) -> Path:
    root = tmp_path / "cluster"
    root.mkdir()
    (root / "cluster.yaml").write_text("# the cluster repo\n")
    return root


def invoke(root: Path, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(root / "cluster.yaml")], input=stdin)


def emitted(result: Result, command: str) -> dict[str, Any]:
    document = json.loads(result.stdout)
    assert jsonout.errors(command, document) == []
    assert isinstance(document, dict)
    return document


def keygen(root: Path) -> None:
    result = invoke(root, "secrets", "keygen", "--json")
    assert result.exit_code == 0, result.output
    emitted(result, "secrets keygen")


def seal_tls(root: Path, tmp_path: Path) -> Result:
    (tmp_path / "site.crt").write_text("certificate " + CANARY)
    (tmp_path / "site.key").write_text("key " + CANARY)
    return invoke(
        root,
        "secrets",
        "seal",
        "gateway-tls",
        "-n",
        "traefik",
        "--type",
        "kubernetes.io/tls",
        "--from-file",
        f"tls.crt={tmp_path / 'site.crt'}",
        "--from-file",
        f"tls.key={tmp_path / 'site.key'}",
        "--json",
    )


def private_pem(root: Path, vault_pass: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = sealing.private_key(root, vault_pass)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


# ---- the key pair ------------------------------------------------------------------------------


def test_keygen_makes_the_controllers_kind_of_key_and_vaults_it(
    repo: Path, vault_pass: Path
) -> None:
    keygen(repo)
    cert = x509.load_pem_x509_certificate((repo / sealing.CERT_FILE).read_bytes())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 4096
    assert cert.issuer == cert.subject  # self-signed, as the controller signs its own
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days == 3650
    vaulted = (repo / sealing.KEY_VAULT_FILE).read_bytes()
    assert vaulted.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert b"PRIVATE KEY" not in vaulted
    # ansible-vault itself opens it, and finds the PKCS#1 key the controller writes.
    shown = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-vault"),
            "view",
            "--vault-password-file",
            str(vault_pass),
            str(repo / sealing.KEY_VAULT_FILE),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.startswith(RSA_KEY_HEADER)
    assert sealing.private_key(repo, vault_pass).public_key().public_numbers() == (
        key.public_numbers()
    )


def test_keygen_refuses_to_replace_a_key_without_force(repo: Path) -> None:
    keygen(repo)
    before = (repo / sealing.CERT_FILE).read_bytes()
    result = invoke(repo, "secrets", "keygen", "--json")
    assert result.exit_code == 2
    assert "--force" in emitted(result, "secrets keygen")["fix"]
    assert (repo / sealing.CERT_FILE).read_bytes() == before
    assert invoke(repo, "secrets", "keygen", "--force").exit_code == 0
    assert (repo / sealing.CERT_FILE).read_bytes() != before


def test_keygen_without_the_vault_password_exits_2_naming_the_variable(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VAULT_PASSWORD_ENV)
    result = invoke(repo, "secrets", "keygen", "--json")
    assert result.exit_code == 2
    document = emitted(result, "secrets keygen")
    assert document["problems"][0]["path"] == VAULT_PASSWORD_ENV
    assert f"export {VAULT_PASSWORD_ENV}=" in document["problems"][0]["fix"]
    assert not (repo / sealing.KEY_DIR).exists()


def test_a_wrong_vault_password_exits_2_naming_the_variable(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keygen(repo)
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("not the password\n")
    monkeypatch.setenv(VAULT_PASSWORD_ENV, str(wrong))
    result = invoke(repo, "secrets", "list", "--verify", "--json")
    assert result.exit_code == 2
    document = emitted(result, "secrets list")
    assert document["problems"][0]["path"] == VAULT_PASSWORD_ENV
    assert "does not decrypt" in document["problems"][0]["message"]


def test_a_key_that_is_not_the_certificates_exits_2(repo: Path, tmp_path: Path) -> None:
    keygen(repo)
    cert = (repo / sealing.CERT_FILE).read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    (other / "cluster.yaml").write_text("")
    keygen(other)
    (repo / sealing.CERT_FILE).write_bytes((other / sealing.CERT_FILE).read_bytes())
    result = invoke(repo, "secrets", "list", "--verify", "--json")
    assert result.exit_code == 2
    assert emitted(result, "secrets list")["problems"][0]["path"] == str(sealing.KEY_VAULT_FILE)
    (repo / sealing.CERT_FILE).write_bytes(cert)
    assert invoke(repo, "secrets", "list", "--verify").exit_code == 0


def test_a_file_sealed_with_another_key_fails_verify(repo: Path, tmp_path: Path) -> None:
    keygen(repo)
    other = tmp_path / "other"
    other.mkdir()
    (other / "cluster.yaml").write_text("")
    keygen(other)
    assert (
        invoke(other, "secrets", "seal", "db", "-n", "apps", "--from-literal", "a=b").exit_code == 0
    )
    target = repo / "sealed" / "apps" / "db.yaml"
    target.parent.mkdir(parents=True)
    target.write_bytes((other / "sealed" / "apps" / "db.yaml").read_bytes())
    result = invoke(repo, "secrets", "list", "--verify", "--json")
    assert result.exit_code == 2
    problem = emitted(result, "secrets list")["problems"][0]
    assert problem["path"] == "sealed/apps/db.yaml"
    assert "secrets seal db -n apps" in problem["fix"]


# ---- sealing -----------------------------------------------------------------------------------


def test_seal_writes_a_strict_scope_sealed_secret(repo: Path, tmp_path: Path) -> None:
    keygen(repo)
    result = seal_tls(repo, tmp_path)
    assert result.exit_code == 0, result.output
    document = emitted(result, "secrets seal")
    assert document["path"] == str(repo / "sealed" / "traefik" / "gateway-tls.yaml")
    assert document["keys"] == ["tls.crt", "tls.key"]
    sealed = yaml.safe_load((repo / "sealed" / "traefik" / "gateway-tls.yaml").read_text())
    assert sealed["kind"] == "SealedSecret" and sealed["apiVersion"] == "bitnami.com/v1alpha1"
    assert sealed["metadata"] == {"name": "gateway-tls", "namespace": "traefik"}
    assert "annotations" not in sealed["metadata"]  # no cluster-wide or namespace-wide scope
    assert sealed["spec"]["template"]["type"] == "kubernetes.io/tls"
    listed = emitted(invoke(repo, "secrets", "list", "--json"), "secrets list")
    assert [s["path"] for s in listed["secrets"]] == ["sealed/traefik/gateway-tls.yaml"]
    assert listed["fingerprint"] == sealing.fingerprint(sealing.public_key(repo))


def test_our_hybrid_format_opens_with_the_label_it_was_sealed_for_only(repo: Path) -> None:
    keygen(repo)
    public = sealing.public_key(repo)
    private = sealing.private_key(repo, Path(os.environ[VAULT_PASSWORD_ENV]))
    data = sealing.hybrid_encrypt(public, CANARY.encode(), b"apps/db")
    size = int.from_bytes(data[:2], "big")
    assert size == 512  # RSA 4096: the wrapped session key
    assert len(data) == 2 + size + len(CANARY) + 16  # AES-GCM: the value and its tag
    assert sealing.hybrid_decrypt(private, data, b"apps/db") == CANARY.encode()
    with pytest.raises(ValueError):
        sealing.hybrid_decrypt(private, data, b"apps/other")  # strict scope: another name
    with pytest.raises(ValueError):
        sealing.hybrid_decrypt(private, data[:-1], b"apps/db")


@pytest.mark.parametrize(
    ("secret_type", "given", "missing"),
    [
        ("kubernetes.io/tls", ["tls.crt"], "tls.key"),
        ("kubernetes.io/tls", ["cert"], "tls.crt"),
        ("kubernetes.io/ssh-auth", ["key"], "ssh-privatekey"),
        ("kubernetes.io/dockerconfigjson", ["config.json"], ".dockerconfigjson"),
        ("kubernetes.io/basic-auth", ["user"], "username"),
        ("kubernetes.io/service-account-token", ["token"], "service-account-token"),
    ],
)
def test_a_type_without_its_required_keys_exits_2_naming_type_and_key(
    repo: Path, secret_type: str, given: list[str], missing: str
) -> None:
    keygen(repo)
    literals = [arg for key in given for arg in ("--from-literal", f"{key}={CANARY}")]
    result = invoke(
        repo, "secrets", "seal", "s", "-n", "apps", "--type", secret_type, *literals, "--json"
    )
    assert result.exit_code == 2, result.output
    document = emitted(result, "secrets seal")
    assert document["problems"][0]["path"] == "--type"
    assert missing in document["error"]
    assert CANARY not in result.output
    assert not (repo / "sealed").exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["BadName", "-n", "apps", "--from-literal", "a=b"], "NAME"),
        (["s", "-n", "a.b", "--from-literal", "a=b"], "--namespace"),
        (["s", "-n", "apps", "--from-literal", "a b=c"], "--from-literal"),
        (["s", "-n", "apps", "--from-literal", "a=b", "--from-literal", "a=c"], "--from-literal"),
        (["s", "-n", "apps", "--from-literal", "novalue"], "--from-literal"),
        (["s", "-n", "apps", "--from-file", "k=/nonexistent/file"], "--from-file"),
        (["s", "-n", "apps"], "--from-file"),
    ],
)
def test_bad_seal_arguments_exit_2_naming_the_flag(repo: Path, args: list[str], flag: str) -> None:
    keygen(repo)
    result = invoke(repo, "secrets", "seal", *args, "--json")
    assert result.exit_code == 2, result.output
    assert emitted(result, "secrets seal")["problems"][0]["path"] == flag


def test_seal_without_a_key_pair_says_to_run_keygen(repo: Path) -> None:
    result = invoke(repo, "secrets", "seal", "s", "-n", "apps", "--from-literal", "a=b", "--json")
    assert result.exit_code == 2
    assert "secrets keygen" in emitted(result, "secrets seal")["problems"][0]["fix"]


def test_seal_reads_a_value_from_stdin(repo: Path) -> None:
    keygen(repo)
    result = invoke(
        repo, "secrets", "seal", "token", "-n", "apps", "--from-file", "token=-",
        stdin=CANARY.encode(),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = sealing.entries(repo)[0]
    private = sealing.private_key(repo, Path(os.environ[VAULT_PASSWORD_ENV]))
    value = entry.document["spec"]["encryptedData"]["token"]
    opened = sealing.hybrid_decrypt(private, base64.b64decode(value), b"apps/token")
    assert opened == CANARY.encode()


# ---- upstream's kubeseal -----------------------------------------------------------------------


def test_kubeseal_is_built_from_the_pinned_module(kubeseal: Path) -> None:
    version = subprocess.run([str(kubeseal), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"kubeseal version: {KUBESEAL_VERSION}"
    info = subprocess.run(["go", "version", "-m", str(kubeseal)], capture_output=True, text=True)
    assert f"mod\tgithub.com/bitnami-labs/sealed-secrets\tv{KUBESEAL_VERSION}\t" in info.stdout
    # -trimpath keeps -ldflags out of the build info: `--version` above shows its stamp.
    assert "build\tCGO_ENABLED=0\n" in info.stdout and "build\t-trimpath=true\n" in info.stdout


def test_kubeseal_recovery_unseals_our_sealed_secret(
    repo: Path, tmp_path: Path, vault_pass: Path, kubeseal: Path
) -> None:
    keygen(repo)
    assert seal_tls(repo, tmp_path).exit_code == 0
    key_file = tmp_path / "recovery.pem"
    key_file.write_bytes(private_pem(repo, vault_pass))
    sealed = repo / "sealed" / "traefik" / "gateway-tls.yaml"
    proc = subprocess.run(
        [str(kubeseal), "--recovery-unseal", "--recovery-private-key", str(key_file)],
        input=sealed.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    secret = json.loads(proc.stdout)
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == "gateway-tls"
    assert secret["metadata"]["namespace"] == "traefik"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {"tls.crt": "certificate " + CANARY, "tls.key": "key " + CANARY}


def test_kubeseal_refuses_our_sealed_secret_moved_to_another_name(
    repo: Path, tmp_path: Path, vault_pass: Path, kubeseal: Path
) -> None:
    keygen(repo)
    assert seal_tls(repo, tmp_path).exit_code == 0
    key_file = tmp_path / "recovery.pem"
    key_file.write_bytes(private_pem(repo, vault_pass))
    sealed = yaml.safe_load((repo / "sealed" / "traefik" / "gateway-tls.yaml").read_text())
    sealed["metadata"]["name"] = sealed["spec"]["template"]["metadata"]["name"] = "stolen"
    proc = subprocess.run(
        [str(kubeseal), "--recovery-unseal", "--recovery-private-key", str(key_file)],
        input=yaml.safe_dump(sealed).encode(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode != 0
    assert CANARY.encode() not in proc.stdout


def test_a_sealed_secret_of_kubeseal_opens_with_our_code(
    repo: Path, tmp_path: Path, vault_pass: Path, kubeseal: Path
) -> None:
    keygen(repo)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "type": "Opaque",
        "data": {"password": base64.b64encode(CANARY.encode()).decode()},
    }
    proc = subprocess.run(
        [str(kubeseal), "--cert", str(repo / sealing.CERT_FILE), "--scope", "strict", "-o", "yaml"],
        input=json.dumps(secret).encode(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    target = repo / "sealed" / "apps" / "db.yaml"
    target.parent.mkdir(parents=True)
    target.write_bytes(proc.stdout)
    entry = sealing.entries(repo)[0]
    private = sealing.private_key(repo, vault_pass)
    sealing.check_sealed_with(private, entry)
    value = entry.document["spec"]["encryptedData"]["password"]
    assert sealing.hybrid_decrypt(private, base64.b64decode(value), b"apps/db") == (CANARY.encode())


# ---- what Git holds ----------------------------------------------------------------------------


def git(root: Path, *args: str) -> bytes:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, check=True).stdout


def test_the_canary_is_nowhere_in_the_repo_its_history_or_the_output(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "init", "-q")
    keygen(repo)
    outputs = [seal_tls(repo, tmp_path)]
    outputs.append(
        invoke(repo, "secrets", "seal", "db", "-n", "apps", "--from-literal", f"password={CANARY}")
    )
    outputs.append(invoke(repo, "secrets", "list"))
    outputs.append(invoke(repo, "secrets", "list", "--verify", "--json"))
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sealed")
    forms = [CANARY.encode(), base64.b64encode(CANARY.encode()), b"PRIVATE KEY"]
    files = [p for p in repo.rglob("*") if p.is_file()]
    assert any(p.name == "gateway-tls.yaml" for p in files)
    history = git(repo, "log", "-p", "--all")
    objects = git(repo, "cat-file", "--batch-all-objects", "--batch")
    assert b"gateway-tls" in history and b"SealedSecret" in objects  # the search can find
    for form in forms:
        for path in files:
            assert form not in path.read_bytes(), (form, path)
        assert form not in history and form not in objects, form
        for result in outputs:
            assert form not in result.stdout_bytes + result.stderr_bytes, form
