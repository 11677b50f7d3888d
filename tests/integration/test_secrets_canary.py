"""Secret canary: planted secrets never reach stdout, runner artifacts, run records or Git,
even at -vvv.

Canaries: the vault password, a become password (vault-encrypted vars file; the SSH user of
one host really needs it for sudo), a kubeadm join token, a certificate key and a registry
password (`!vault` values in cluster.yaml, used by a play the way the engine uses them, with
no_log). Real playbooks (ping, preflight, backup) run through the runner at verbosity 3.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.constants import DEFAULT_VAULT_ID_MATCH
from ansible.parsing.vault import VaultLib, VaultSecret
from click.testing import CliRunner

from k8s_install.ansible import runner, security
from k8s_install.base import resources
from k8s_install.cli import cli
from k8s_install.model import config
from k8s_install.records import runs as record

from .conftest import SandboxCluster

pytestmark = pytest.mark.integration

USER = "vaulted"
USES_SECRETS = """\
- name: Load the vaulted become password
  ansible.builtin.import_playbook: {vault}

- name: Use the secrets the way the engine does
  hosts: all
  gather_facts: false
  tasks:
    - name: Join with the decrypted token and certificate key (not their ciphertext)
      ansible.builtin.command:
        argv: [sh, -c, "for v; do case $v in CANARY*) ;; *) exit 1;; esac; done", x,
               "{{{{ kubeadm_token }}}}", "{{{{ kubeadm_certificate_key }}}}", "{{{{ registry_password }}}}"]
      changed_when: false
      no_log: true
"""


LEAKY = """\
- name: Leak on purpose
  hosts: cp1
  gather_facts: false
  become: false
  tasks:
    - name: Print the join token
      ansible.builtin.debug:
        msg: "{{ kubeadm_token }}"
"""


class Canaries(dict[str, str]):
    """name -> value; every value is unique and easy to grep."""


@pytest.fixture(scope="module")
def canaries() -> Canaries:
    return Canaries(
        {
            name: f"CANARY{name.upper().replace('_', '')}{secrets.token_hex(8)}"
            for name in (
                "vault_password",
                "become_password",
                "join_token",
                "certificate_key",
                "registry_password",
            )
        }
    )


def _vault_string(vault: VaultLib, value: str) -> Any:
    return vault.encrypt(value).decode()


class VaultTag(str):
    pass


def _represent(dumper: yaml.SafeDumper, data: VaultTag) -> yaml.Node:
    return dumper.represent_scalar("!vault", str(data), style="|")


yaml.SafeDumper.add_representer(VaultTag, _represent)


@pytest.fixture
def repo(
    sandbox_cluster: SandboxCluster,
    canaries: Canaries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A cluster repo (Git) whose worker2 is reached as a user whose sudo needs the password."""
    worker = sandbox_cluster.host("worker2")
    worker.exec(
        "sh",
        "-c",
        f"id {USER} || useradd -m -s /bin/sh {USER}; "
        f"echo '{USER}:{canaries['become_password']}' | chpasswd; "
        f"install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh; "
        f"install -m 600 -o {USER} -g {USER} /home/debian/.ssh/authorized_keys /home/{USER}/.ssh/; "
        f"echo '{USER} ALL=(ALL) ALL' > /etc/sudoers.d/{USER}; chmod 440 /etc/sudoers.d/{USER}",
    )
    copy = sandbox_cluster.copy_to(tmp_path / "repo")
    root = copy.parent
    password_file = tmp_path / "vault-password"
    password_file.write_text(canaries["vault_password"] + "\n")
    password_file.chmod(0o600)
    monkeypatch.setenv(security.VAULT_PASSWORD_ENV, str(password_file))
    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(canaries["vault_password"].encode()))])
    (root / "become.vault.yml").write_bytes(
        vault.encrypt(yaml.safe_dump({"ansible_become_password": canaries["become_password"]}))
    )
    data = yaml.safe_load(copy.read_text())
    for node in data["nodes"]:
        if node["name"] == "worker2":
            node["ssh_user"] = USER
    data["access"]["become_password_vault_file"] = "become.vault.yml"
    data["kubespray"] = {
        "kubeadm_token": VaultTag(_vault_string(vault, canaries["join_token"])),
        "kubeadm_certificate_key": VaultTag(_vault_string(vault, canaries["certificate_key"])),
        "registry_password": VaultTag(_vault_string(vault, canaries["registry_password"])),
    }
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    (root / ".gitignore").write_text(".k8s-install/\n.sandbox/\nbackups/\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "canary cluster"], check=True)
    try:
        yield copy
    finally:
        worker.exec("sh", "-c", f"rm -f /etc/sudoers.d/{USER}; userdel -r {USER}", check=False)


def _grep(root: Path, values: dict[str, str], skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts and not set(skip) & set(path.parts):
            data = path.read_bytes()
            found += [
                f"{name} in {path}" for name, value in values.items() if value.encode() in data
            ]
    return found


def test_no_secret_leaks_at_verbosity_3(repo: Path, canaries: Canaries, tmp_path: Path) -> None:
    cluster = config.load(repo)
    secret_use = tmp_path / "uses_secrets.yml"
    secret_use.write_text(USES_SECRETS.format(vault=resources.playbook("vault.yml")))
    password_file = security.vault_password_file(cluster)
    results = []
    for playbook in ("ping.yml", "preflight.yml", "backup.yml", secret_use):
        request = runner.for_cluster(
            cluster,
            playbook,
            "canary",
            verbosity=3,
            vault_password_file=password_file,
            extravars={"k8s_install_command": "canary", "preflight_fail_on_error": False},
        )
        result = runner.run_playbook(request)
        results.append(result)
        record.record_run(cluster, result, command="canary", applied=False)
    ping, preflight_run, _backup, used = results
    # The secrets were really decrypted and used: ping's become check and preflight's probe
    # ran under sudo with the vaulted password on worker2, and the secret-using task ran on
    # every host.
    assert ping.status == "successful", ping.failures
    assert preflight_run.status == "successful", preflight_run.failures
    assert preflight_run.hosts["worker2"].failures == 0
    assert used.status == "successful", used.failures
    cli_run = CliRunner().invoke(cli, ["preflight", "-c", str(repo), "--json"])
    assert '"become"' in cli_run.stdout and "the vaulted one is used" in cli_run.stdout

    # The SSH private key is used by path only: no line of it lands anywhere either.
    key_lines = (repo.parent / ".sandbox").rglob("id_ed25519")
    key_body = {
        f"ssh key line {i}": line
        for key in key_lines
        for i, line in enumerate(key.read_text().splitlines())
        if len(line) > 40 and "PRIVATE KEY" not in line
    }
    assert key_body
    leaks = _grep(repo.parent, {**canaries, **key_body}, skip=(".sandbox",))
    leaks += [f"{n} in CLI output" for n, v in canaries.items() if v in cli_run.output]
    assert (repo.parent / ".k8s-install" / "artifacts").is_dir()
    assert list((repo.parent / "runs").glob("*.yaml")), "run records were written"
    history = subprocess.run(
        ["git", "-C", str(repo.parent), "log", "--all", "-p", "--format=%H %s%n%b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "canary" in history
    leaks += [f"{n} in Git history" for n, v in canaries.items() if v in history]
    assert leaks == []
    # The artifacts really hold -vvv output (the test would be empty otherwise).
    stdout = (preflight_run.artifacts / "stdout").read_text()
    assert "ESTABLISH SSH CONNECTION" in stdout
    assert os.environ.get(security.VAULT_PASSWORD_ENV)

    # Control: a task that does leak (no no_log) is caught by the same scan.
    leaky = tmp_path / "leaky.yml"
    leaky.write_text(LEAKY)
    control = runner.run_playbook(
        runner.for_cluster(cluster, leaky, "canary", verbosity=3, vault_password_file=password_file)
    )
    assert control.status == "successful", control.failures
    assert [f"join_token in {control.artifacts / 'stdout'}"] == [
        leak for leak in _grep(control.artifacts, canaries) if leak.endswith("/stdout")
    ]
