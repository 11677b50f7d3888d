"""Short-lived SSH certificates on a 2-host sandbox, over real SSH and the nodes' real sshd.

The static key is retired only once a certificate-only login works everywhere; afterwards runs
work with certificates alone. sshd refuses an expired certificate, one with the wrong principal,
one from another CA, a revoked one and one from a rotated-out CA. The nodes' auth log names each
run's id; a vault canary shows the CA key never reaches logs, run records, artifacts or Git.
sshd's own log lines for every accepted and refused login are printed (pytest -s shows them).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret
from click.testing import CliRunner

from k8s_install.ansible import ssh_ca
from k8s_install.cli import cli

from .conftest import SandboxCluster, SandboxFactory

pytestmark = pytest.mark.integration

VAULT_PASSWORD = "CANARYSSHCAVAULT" + "7f3a9c21"
FAKE_RUN = "20261205T000000Z-0ddba1"


@pytest.fixture(scope="module")
def sandbox(sandbox_factory: SandboxFactory) -> SandboxCluster:
    return sandbox_factory("sshca", nodes=2, control_planes=1)


@pytest.fixture(scope="module")
def repo(sandbox: SandboxCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cluster repo in Git with a CA (not yet on the nodes), the vault password set."""
    tmp = tmp_path_factory.mktemp("sshca")
    config = sandbox.copy_to(tmp / "repo")
    root = config.parent
    password = tmp / "vault-password"
    password.write_text(VAULT_PASSWORD + "\n")
    password.chmod(0o600)
    patch = pytest.MonkeyPatch()
    patch.setenv(ssh_ca.VAULT_PASSWORD_ENV, str(password))
    (root / ".gitignore").write_text(".k8s-install/\n.sandbox/\nbackups/\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "sandbox cluster"], check=True)
    try:
        yield config
    finally:
        patch.undo()


def _cli(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _sshd_log(sandbox: SandboxCluster, host: str, since: float, pattern: str = "") -> list[str]:
    """sshd's own lines on host since `since` (epoch seconds), optionally grepped."""
    args = ["journalctl", "-u", "ssh", "--no-pager", "-o", "short-iso", f"--since=@{int(since)}"]
    lines = sandbox.exec(host, *args).stdout.splitlines()
    return [line for line in lines if "sshd[" in line and pattern in line]


def _show(title: str, lines: list[str], key_id: str) -> list[str]:
    """Print and return the lines of the sshd sessions that saw this key id."""
    pids = {m.group(1) for line in lines if f"ID {key_id} " in line
            for m in [re.search(r"sshd\[(\d+)\]", line)] if m}  # fmt: skip
    shown = [line for line in lines if any(f"sshd[{pid}]" in line for pid in pids)]
    shown = [line for line in shown if "Connection " not in line and "closed" not in line]
    print(f"\n--- {title}")
    for line in shown:
        print(line)
    return shown


def _login(sandbox: SandboxCluster, host: str, key: Path) -> subprocess.CompletedProcess[str]:
    """A login with this key's certificate alone: no other key, no agent, no shared connection."""
    return subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            f"CertificateFile={key}-cert.pub",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "ControlMaster=no",
            "-o",
            "ControlPath=none",
            "-o",
            f"UserKnownHostsFile={sandbox.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"{sandbox.user}@{sandbox.host(host).address}",
            "echo certificate-login-ok",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _ca_private_key(root: Path, folder: Path, name: str = ssh_ca.CURRENT) -> Path:
    """The CA's private key, decrypted into a test directory outside the repo."""
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(VAULT_PASSWORD.encode()))])
    path = folder / f"ca-{name}-{time.monotonic_ns()}"
    path.write_bytes(vault.decrypt(ssh_ca.private_key(root, name).read_bytes()))
    path.chmod(0o600)
    return path


def _certificate(
    folder: Path, ca_key: Path, name: str, *, principal: str, validity: str, key_id: str
) -> Path:
    """A key pair with a certificate signed by ca_key; returns the private key's path."""
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    subprocess.run(
        [
            "ssh-keygen", "-q", "-s", str(ca_key), "-I", key_id, "-n", principal,
            "-V", validity, str(key) + ".pub",
        ],
        check=True,
        timeout=30,
    )  # fmt: skip
    return key


def _refused(sandbox: SandboxCluster, key: Path, title: str, *expect: str) -> None:
    """sshd refuses the login; one of its log lines holds every string of `expect`."""
    since = time.time() - 2
    login = _login(sandbox, "cp1", key)
    assert login.returncode != 0, login.stdout
    assert "Permission denied" in login.stderr, login.stderr
    time.sleep(0.5)
    lines = _show(f"refused: {title}", _sshd_log(sandbox, "cp1", since), _key_id(key))
    assert any(all(e in line for e in expect) for line in lines), lines
    assert not any("Accepted" in line for line in lines), lines


def _accepted(sandbox: SandboxCluster, key: Path, title: str) -> None:
    since = time.time() - 2
    login = _login(sandbox, "cp1", key)
    assert login.returncode == 0 and "certificate-login-ok" in login.stdout, login.stderr
    time.sleep(0.5)
    lines = _show(f"accepted: {title}", _sshd_log(sandbox, "cp1", since), _key_id(key))
    assert any("Accepted publickey" in line and "ED25519-CERT" in line for line in lines), lines


def _key_id(key: Path) -> str:
    listing = subprocess.run(
        ["ssh-keygen", "-L", "-f", f"{key}-cert.pub"], capture_output=True, text=True, check=True
    ).stdout
    return re.findall(r'Key ID: "(.*)"', listing)[0]


def test_retire_key_is_refused_until_every_node_takes_a_certificate(
    sandbox: SandboxCluster, repo: Path
) -> None:
    code, document = _cli("access", "ca", "init", "-c", str(repo))
    assert code == 0, document
    before = {h: sandbox.exec(h, "cat", "/home/debian/.ssh/authorized_keys").stdout for h in
              sandbox.names}  # fmt: skip
    # The nodes do not trust the CA yet: no certificate-only login works, so nothing goes.
    code, document = _cli("access", "retire-key", "-c", str(repo))
    assert code == 3, document
    assert "nothing was removed" in str(document["error"])
    assert sorted(p["path"] for p in document["problems"]) == [  # type: ignore[union-attr]
        f"node {h}" for h in sorted(sandbox.names)
    ]
    for host in sandbox.names:
        assert sandbox.exec(host, "cat", "/home/debian/.ssh/authorized_keys").stdout == before[host]
    assert sandbox.ssh("cp1", "true", check=False).returncode == 0, "the static key still works"
    # One node trusts the CA: still refused, the refusal names the other one only.
    code, document = _cli("access", "push", "-c", str(repo))
    assert code == 0, document
    sandbox.exec("worker1", "rm", "-f", "/etc/ssh/k8s-install/principals/debian")
    code, document = _cli("access", "retire-key", "-c", str(repo))
    assert code != 0, document
    assert [p["path"] for p in document["problems"]] == ["node worker1"]  # type: ignore[union-attr]
    for host in sandbox.names:
        assert sandbox.exec(host, "cat", "/home/debian/.ssh/authorized_keys").stdout == before[host]


def test_certificates_only_after_retire_key(sandbox: SandboxCluster, repo: Path) -> None:
    root = repo.parent
    code, document = _cli("access", "push", "-c", str(repo))
    assert code == 0, document
    code, document = _cli("access", "retire-key", "-c", str(repo))
    assert code == 0, document
    for host in sandbox.names:
        keys = sandbox.exec(host, "sh", "-c", "cat /home/debian/.ssh/authorized_keys "
                            "/root/.ssh/authorized_keys").stdout  # fmt: skip
        assert keys.strip() == "", f"{host} still has authorized keys"
    static = sandbox.ssh("cp1", "true", check=False)
    assert static.returncode != 0 and "Permission denied" in static.stderr
    # A run works with its certificate alone, and the auth log ties the login to the run.
    since = time.time() - 1
    started = time.monotonic()
    code, ping = _cli("ping", "-c", str(repo))
    assert code == 0, ping
    print(f"\nping with a certificate only: {time.monotonic() - started:.1f} s")
    run_id = str(ping["run_id"])
    key_id = ssh_ca.key_id(yaml.safe_load(repo.read_text())["name"], run_id)
    for host in sandbox.names:
        lines = _show(f"accepted on {host}: run {run_id}", _sshd_log(sandbox, host, since), key_id)
        assert any(
            "Accepted publickey" in line and f"ID {key_id} " in line and "ED25519-CERT" in line
            for line in lines
        ), lines
    assert (root / "runs").is_dir()


def test_sshd_refuses_bad_certificates(sandbox: SandboxCluster, repo: Path, tmp_path: Path) -> None:
    root = repo.parent
    name = yaml.safe_load(repo.read_text())["name"]
    ca_key = _ca_private_key(root, tmp_path)
    ok = ("debian", "-5m:+30m")
    good = _certificate(tmp_path, ca_key, "good", principal=ok[0], validity=ok[1],
                        key_id=ssh_ca.key_id(name, FAKE_RUN))  # fmt: skip
    _accepted(sandbox, good, "a valid certificate")

    expired = _certificate(tmp_path, ca_key, "expired", principal="debian",
                           validity="20250101:20250102", key_id="expired")  # fmt: skip
    _refused(sandbox, expired, "expired", "expired")
    wrong = _certificate(tmp_path, ca_key, "wrong", principal="someone-else", validity=ok[1],
                         key_id="wrong-principal")  # fmt: skip
    _refused(sandbox, wrong, "wrong principal", "does not contain an authorized principal")
    other_ca = tmp_path / "other-ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_ca)],
                   check=True)  # fmt: skip
    foreign = _certificate(tmp_path, other_ca, "foreign", principal="debian", validity=ok[1],
                           key_id="other-ca")  # fmt: skip
    _refused(sandbox, foreign, "signed by another CA", "Failed publickey", "ID other-ca ")

    # Revocation: the run's certificate worked a moment ago; after `access revoke` it does not.
    code, document = _cli("access", "revoke", FAKE_RUN, "-c", str(repo))
    assert code == 0, document
    assert document["key_id"] == ssh_ca.key_id(name, FAKE_RUN)
    _refused(sandbox, good, "revoked", "revoked")

    # Rotation: during the overlap both CAs are trusted and runs are signed by the new one.
    old = _certificate(tmp_path, ca_key, "old", principal="debian", validity=ok[1],
                       key_id="old-ca")  # fmt: skip
    code, document = _cli("access", "ca", "rotate", "-c", str(repo))
    assert code == 0, document
    assert document["phase"] == "overlap" and len(document["trusted"]) == 2  # type: ignore[arg-type]
    _accepted(sandbox, old, "old CA during the overlap")
    code, document = _cli("access", "ca", "rotate", "--finish", "-c", str(repo))
    assert code == 0, document
    assert document["trusted"] == [document["current"]]
    _refused(sandbox, old, "rotated-out CA", "Failed publickey", "ID old-ca ")
    new = _certificate(tmp_path, _ca_private_key(root, tmp_path), "new", principal="debian",
                       validity=ok[1], key_id="new-ca")  # fmt: skip
    _accepted(sandbox, new, "new CA after the rotation")
    code, ping = _cli("ping", "-c", str(repo))
    assert code == 0, ping


def test_the_ca_key_never_leaves_the_vault(repo: Path, tmp_path: Path) -> None:
    """Vault canary: the vault password and every line of the CA private keys (current and
    retired) never appear in the repo's files, run records, runner artifacts or Git history."""
    root = repo.parent
    key = _ca_private_key(root, tmp_path)
    # Every unencrypted ed25519 key starts with the same line or two: only this key's own count.
    fresh = tmp_path / "fresh"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fresh)], check=True)
    common = set(fresh.read_text().splitlines())
    body = [line for line in key.read_text().splitlines() if len(line) > 40 and line not in common]
    assert len(body) >= 3
    canaries = {f"CA key line {i}": line for i, line in enumerate(body)}
    canaries["vault password"] = VAULT_PASSWORD
    assert list((root / "runs").glob("*.yaml")), "run records were written"
    artifacts = root / ".k8s-install" / "artifacts"
    assert len(list(artifacts.iterdir())) >= 6, "runner artifacts were written"
    leaks = []
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            data = path.read_bytes()
            leaks += [f"{n} in {path}" for n, v in canaries.items() if v.encode() in data]
    history = subprocess.run(
        ["git", "-C", str(root), "log", "--all", "-p", "--format=%H %s%n%b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ssh-ca/ca.key.vault" in history and "$ANSIBLE_VAULT" in history
    leaks += [f"{n} in Git history" for n, v in canaries.items() if v in history]
    assert leaks == []
    # No run left its key directory or connection directory behind.
    assert not list(Path("/dev/shm").glob("k8s-install-*"))
