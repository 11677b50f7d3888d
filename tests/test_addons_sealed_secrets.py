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
import shutil
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
from k8s_install.base import resources
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
    shutil.copyfile(resources.sample_cluster(), root / "cluster.yaml")
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
    shutil.copyfile(resources.sample_cluster(), other / "cluster.yaml")
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
    shutil.copyfile(resources.sample_cluster(), other / "cluster.yaml")
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


# ---- the addons role: the key before wave 1 (tasks/sealing.yml) -------------------------------
#
# There is no API server here: kubectl is a stand-in that records what it was asked and keeps
# what was applied in files, so the tests see the exact Secret the controller would load.

FAKE_KUBECTL = """\
#!{python}
import json, pathlib, sys
state = pathlib.Path({state!r})
args = sys.argv[1:]
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps(args) + "\\n")
namespaces = state / "namespaces"
if "apply" in args:
    secret = json.loads(sys.stdin.read())
    (state / "applied.json").write_text(json.dumps(secret))
    (state / "live-cert").write_text(secret["data"]["tls.crt"])
    print("secret/" + secret["metadata"]["name"] + " serverside-applied")
elif args[2:4] == ["get", "secrets"]:
    live = state / "live-cert"
    print(live.read_text() if live.exists() else "", end="")
elif args[2:4] == ["get", "namespaces"]:
    print(namespaces.read_text().strip() if namespaces.exists() else "default kube-system")
elif args[2:4] == ["create", "namespace"]:
    known = namespaces.read_text().split() if namespaces.exists() else ["default", "kube-system"]
    namespaces.write_text(" ".join([*known, args[4]]))
    print("namespace/" + args[4] + " created")
elif args[2:4] == ["rollout", "restart"]:
    print("No resources found in " + args[6] + " namespace.", file=sys.stderr)
    sys.exit(1)
elif args[2:3] == ["wait"]:
    print(args[6] + " condition met")
else:
    sys.exit(1)
"""


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubectl on PATH; returns its state directory."""
    state = tmp_path / "kubectl-state"
    state.mkdir()
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(FAKE_KUBECTL.format(python=sys.executable, state=str(state)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return state


def calls(state: Path) -> list[list[str]]:
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sealing_plan(root: Path, namespaces: list[str]) -> dict[str, Any]:
    return {
        "addons_releases": [],
        "addons_removals": [],
        "addons_helm_source": "/usr/bin/true",
        "addons_sealed_namespaces": namespaces,
        "addons_sealing_key": {
            "cert": str(root / sealing.CERT_FILE),
            "key_vault": str(root / sealing.KEY_VAULT_FILE),
            "namespace": "kube-system",
            "name": sealing.KEY_SECRET,
            "label": sealing.KEY_LABEL,
        },
    }


def run_role(
    tmp_path: Path, plan: dict[str, Any], vault_pass: Path | None
) -> subprocess.CompletedProcess[str]:
    from k8s_install.base.resources import data_dir, playbook

    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    variables = {
        "k8s_install_addons_plan": str(plan_file),
        "k8s_install_addons_local": True,
        "k8s_install_addons_kubeconfig": str(tmp_path / "kubeconfig"),
        "ansible_python_interpreter": sys.executable,
    }
    vault = ["--vault-password-file", str(vault_pass)] if vault_pass else []
    env = {
        "PATH": f"{os.environ['PATH']}{os.pathsep}{Path(sys.executable).parent}",
        "HOME": str(tmp_path),
        "ANSIBLE_ROLES_PATH": str(data_dir("roles")),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    command = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook("addons.yml"))]
    return subprocess.run(
        [*command, "-e", json.dumps(variables), *vault, "-vvv"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_sealing_gives_the_controller_its_key_once_and_creates_namespaces(
    repo: Path, tmp_path: Path, vault_pass: Path, fake_kubectl: Path
) -> None:
    keygen(repo)
    key_pem = private_pem(repo, vault_pass)
    result = run_role(tmp_path, sealing_plan(repo, ["apps", "kube-system"]), vault_pass)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    secret = json.loads((fake_kubectl / "applied.json").read_text())
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"] == {
        "name": sealing.KEY_SECRET,
        "namespace": "kube-system",
        "labels": {sealing.KEY_LABEL: "active"},
    }
    assert base64.b64decode(secret["data"]["tls.key"]) == key_pem  # decrypted, byte for byte
    assert base64.b64decode(secret["data"]["tls.crt"]) == (repo / sealing.CERT_FILE).read_bytes()
    made = calls(fake_kubectl)
    applied = next(c for c in made if "apply" in c)
    assert "--server-side" in applied  # no last-applied annotation holding the key
    assert [c[4] for c in made if c[2:4] == ["create", "namespace"]] == ["apps"]
    assert any(c[2:4] == ["rollout", "restart"] for c in made)  # the handler, a no-op here
    # -vvv, yet no_log kept the key out of the output.
    assert RSA_KEY_HEADER not in output
    for line in key_pem.decode().splitlines()[1:-1]:
        assert line not in output

    again = run_role(tmp_path, sealing_plan(repo, ["apps", "kube-system"]), vault_pass)
    assert again.returncode == 0, again.stdout
    assert "changed=0" in again.stdout and "failed=0" in again.stdout
    assert sum("apply" in c for c in calls(fake_kubectl)) == 1


def test_sealing_without_the_vault_password_fails_and_shows_no_key(
    repo: Path, tmp_path: Path, vault_pass: Path, fake_kubectl: Path
) -> None:
    keygen(repo)
    result = run_role(tmp_path, sealing_plan(repo, []), None)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "censored" in output  # the failed task is no_log
    assert not (fake_kubectl / "applied.json").exists()
    assert RSA_KEY_HEADER not in output


def test_the_role_argument_spec_types_the_sealing_variables(tmp_path: Path) -> None:
    plan = {**sealing_plan(tmp_path, []), "addons_sealed_namespaces": {"apps": 1}}
    result = run_role(tmp_path, plan, None)
    assert result.returncode != 0
    assert "'addons_sealed_namespaces' is of type" in result.stdout
    assert "unable to convert to list" in result.stdout


# ---- the CLI: render, the checks before any host, and the run ---------------------------------


@pytest.fixture
def charts(
    chart_repo: Any, helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real sealed-secrets chart (tests/chart_repo.py), and helm."""
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("K8S_INSTALL_CHARTS", str(chart_repo.charts_dir))


def cluster_with_sealed(root: Path) -> Path:
    data = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [
            {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]}
        ],
        "addons": {"releases": [{"preset": "sealed-secrets"}, {"preset": "sealed"}]},
    }
    path = root / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    return path


def test_render_puts_the_sealed_files_in_the_sealed_release_after_the_controller(
    charts: None, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keygen(repo)
    assert seal_tls(repo, tmp_path).exit_code == 0
    cluster_with_sealed(repo)
    monkeypatch.delenv(VAULT_PASSWORD_ENV)  # rendering needs no key
    result = invoke(repo, "addons", "render", "--json")
    assert result.exit_code == 0, result.output
    rendered = repo / "rendered" / "addons" / "sealed"
    info = yaml.safe_load((rendered / "release.yaml").read_text())
    assert info["depends_on"] == ["sealed-secrets"] and info["namespace"] == "kube-system"
    docs = [d for d in yaml.safe_load_all((rendered / "manifest.yaml").read_text()) if d]
    assert [(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs] == [
        ("SealedSecret", "traefik", "gateway-tls")
    ]
    sealed = yaml.safe_load((repo / "sealed" / "traefik" / "gateway-tls.yaml").read_text())
    assert docs[0]["spec"] == sealed["spec"]
    for path in (repo / "rendered").rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes()
            assert base64.b64encode(CANARY.encode()) not in path.read_bytes()


def test_the_sealed_release_without_a_key_is_refused_before_any_host(
    charts: None, repo: Path, fake_kubectl: Path
) -> None:
    path = cluster_with_sealed(repo)
    result = invoke(
        repo, "addons", "apply", "--kubeconfig", str(path.parent / "kubeconfig"), "--json"
    )
    assert result.exit_code == 2, result.output
    problem = json.loads(result.stdout)["problems"][0]
    assert problem["path"] == str(sealing.CERT_FILE) and "secrets keygen" in problem["fix"]
    assert calls(fake_kubectl) == []


def test_apply_without_the_vault_password_exits_2_before_any_host(
    charts: None, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_kubectl: Path
) -> None:
    keygen(repo)
    assert seal_tls(repo, tmp_path).exit_code == 0
    path = cluster_with_sealed(repo)
    monkeypatch.delenv(VAULT_PASSWORD_ENV)
    result = invoke(
        repo, "addons", "apply", "--kubeconfig", str(path.parent / "kubeconfig"), "--json"
    )
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    assert document["problems"][0]["path"] == VAULT_PASSWORD_ENV
    assert f"export {VAULT_PASSWORD_ENV}=" in document["problems"][0]["fix"]
    assert calls(fake_kubectl) == []


def test_apply_gives_the_key_first_and_leaves_no_secret_in_the_run_or_its_artifacts(
    charts: None, repo: Path, tmp_path: Path, vault_pass: Path, fake_kubectl: Path
) -> None:
    keygen(repo)
    key_pem = private_pem(repo, vault_pass)
    assert seal_tls(repo, tmp_path).exit_code == 0
    path = cluster_with_sealed(repo)
    result = invoke(
        repo, "addons", "apply", "--kubeconfig", str(path.parent / "kubeconfig"), "--json"
    )
    # helm then fails on the absent API server, in wave 1: the key went in before it.
    assert result.exit_code == 1, result.output
    secret = json.loads((fake_kubectl / "applied.json").read_text())
    assert base64.b64decode(secret["data"]["tls.key"]) == key_pem
    assert [c[4] for c in calls(fake_kubectl) if c[2:4] == ["create", "namespace"]] == ["traefik"]
    plan = yaml.safe_load((repo / ".k8s-install" / "addons" / "plan.yaml").read_text())
    assert [(r["name"], r["wave"], r["secrets"]) for r in plan["addons_releases"]] == [
        ("sealed-secrets", 1, []),
        ("sealed", 2, ["traefik/gateway-tls"]),
    ]
    assert plan["addons_sealing_key"]["namespace"] == "kube-system"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    artifacts = Path(next(line for line in lines if line.get("type") == "result")["artifacts"])
    assert artifacts.is_dir()
    searched = [p for p in [*artifacts.rglob("*"), *(repo / ".k8s-install").rglob("*")]]
    searched = [p for p in searched if p.is_file()]
    assert any(p.name == "stdout" for p in searched)
    forms = [
        CANARY.encode(),
        base64.b64encode(CANARY.encode()),
        RSA_KEY_HEADER.encode(),
        base64.b64encode(key_pem),
        key_pem.splitlines()[1],
    ]
    for form in forms:
        assert form not in result.stdout_bytes + result.stderr_bytes, form
        for file in searched:
            assert form not in file.read_bytes(), (form, file)
