"""The SSH CA without hosts: the CLI's refusals, each run's certificate (read back with
`ssh-keygen -L`), its validity window and key id, the KRL, rotation, and a vault canary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import actions, inventory, runner, ssh_ca
from k8s_install.base import output_schemas
from k8s_install.base.errors import InvalidInput
from k8s_install.cli import cli
from k8s_install.model import config
from k8s_install.records import git_repo

# A private key's PEM armour, built from parts so no scanner takes this file for a key.
ARMOUR = "-" * 5 + "BEGIN OPENSSH " + "PRIVATE KEY" + "-" * 5
RUN_ID = "20261205T091500Z-1a2b3c"


@pytest.fixture
def password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "vault-password"
    path.write_text("CANARYVAULTPASSWORD0123\n")
    path.chmod(0o600)
    monkeypatch.setenv(ssh_ca.VAULT_PASSWORD_ENV, str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git_repo.init(tmp_path / "lab", "lab")
    config_file = tmp_path / "lab" / "cluster.yaml"
    data = yaml.safe_load(config_file.read_text())
    data["nodes"] = [
        {"name": "cp1", "address": "10.0.0.11", "roles": ["control-plane", "etcd", "worker"]},
        {"name": "w1", "address": "10.0.0.12", "ssh_user": "ops", "roles": ["worker"]},
    ]
    data["access"] = {"user": "debian", "ssh_key": ".sandbox/id_ed25519"}
    config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    git_repo.git(config_file.parent, "add", "-A")
    git_repo.git(config_file.parent, "commit", "-qm", "nodes")
    return config_file


def _cli(*args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def _init(repo: Path) -> dict[str, object]:
    code, document = _cli("access", "ca", "init", "-c", str(repo))
    assert code == 0, document
    assert output_schemas.errors("access ca init", document) == []
    return document


def _certificate(text: str) -> dict[str, str]:
    """`ssh-keygen -L` output as a dict, multi-line fields joined with ','."""
    fields: dict[str, str] = {}
    key = ""
    for line in text.splitlines()[1:]:
        if re.match(r"^\s{8}\S", line) and ":" in line:
            key, _, value = line.strip().partition(":")
            fields[key] = value.strip()
        elif line.strip():
            fields[key] = ",".join(filter(None, [fields.get(key, ""), line.strip()]))
    return fields


def test_ca_init_needs_the_vault_password(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ssh_ca.VAULT_PASSWORD_ENV, raising=False)
    code, document = _cli("access", "ca", "init", "-c", str(repo))
    assert code == 2
    assert document["problems"][0]["path"] == ssh_ca.VAULT_PASSWORD_ENV  # type: ignore[index]
    assert "export" in document["problems"][0]["fix"]  # type: ignore[index]
    assert not ssh_ca.directory(repo.parent).exists()


def test_ca_init_writes_only_ciphertext_and_commits_it(repo: Path, password_file: Path) -> None:
    document = _init(repo)
    root = repo.parent
    assert str(document["fingerprint"]).startswith("SHA256:")
    assert document["trusted"] == [document["fingerprint"]]
    vaulted = ssh_ca.private_key(root).read_text()
    assert vaulted.startswith("$ANSIBLE_VAULT;1.1;AES256")
    for path in ssh_ca.directory(root).iterdir():
        assert ARMOUR.encode() not in path.read_bytes(), path
    tracked = git_repo.git(root, "ls-files", ssh_ca.DIRNAME).split()
    assert sorted(tracked) == sorted(
        f"{ssh_ca.DIRNAME}/{n}" for n in ("ca.pub", "ca.key.vault", "revoked.txt", "revoked.krl")
    )
    assert git_repo.changes(root) == []
    again, error = _cli("access", "ca", "init", "-c", str(repo))
    assert again == 2 and "rotate" in error["problems"][0]["fix"]  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        ["access", "push"],
        ["access", "revoke", RUN_ID],
        ["access", "retire-key"],
        ["access", "ca", "rotate"],
    ],
)
def test_commands_refuse_without_a_ca(repo: Path, args: list[str]) -> None:
    code, document = _cli(*args, "-c", str(repo))
    assert code == 2
    problem = document["problems"][0]  # type: ignore[index]
    assert problem["path"].endswith("ssh-ca/ca.pub")
    assert "access ca init" in problem["fix"]


def test_refusals_with_a_ca(repo: Path, password_file: Path) -> None:
    _init(repo)
    code, document = _cli("access", "revoke", "not-a-run", "-c", str(repo))
    assert code == 2 and document["problems"][0]["path"] == "RUN|KEY-ID"  # type: ignore[index]
    code, document = _cli("access", "ca", "rotate", "--finish", "-c", str(repo))
    assert code == 2 and "access ca rotate" in document["problems"][0]["fix"]  # type: ignore[index]
    # No key file and no .pub: nothing to retire, and no host is contacted.
    code, document = _cli("access", "retire-key", "-c", str(repo))
    assert code == 2
    assert document["problems"][0]["path"] == "access.ssh_key"  # type: ignore[index]


def test_a_wrong_vault_password_is_named(repo: Path, password_file: Path) -> None:
    _init(repo)
    password_file.write_text("another password\n")
    cluster = config.load(repo)
    with (
        pytest.raises(InvalidInput, match="could not decrypt the SSH CA key"),
        ssh_ca.issued(ssh_ca.spec_for(cluster, 10), RUN_ID),
    ):
        pass


def test_the_run_certificate(repo: Path, password_file: Path) -> None:
    _init(repo)
    cluster = config.load(repo)
    spec = ssh_ca.spec_for(cluster, 15)
    assert spec.minutes == 15 + 120  # the schema's default margin
    before = datetime.now().replace(microsecond=0)
    with ssh_ca.issued(spec, RUN_ID) as key:
        folder = key.parent
        assert folder.parent == Path("/dev/shm") or not Path("/dev/shm").is_dir()
        assert folder.stat().st_mode & 0o777 == 0o700
        assert key.stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in folder.iterdir()) == [
            "id_ed25519",
            "id_ed25519-cert.pub",
            "id_ed25519.pub",
        ], "the CA's private key is gone once the certificate is signed"
        listing = subprocess.run(
            ["ssh-keygen", "-L", "-f", str(folder / "id_ed25519-cert.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    after = datetime.now()
    assert not folder.exists()
    print(listing)
    fields = _certificate(listing)
    assert fields["Type"].startswith("ssh-ed25519-cert-v01@openssh.com user certificate")
    assert fields["Key ID"] == f'"k8s-install:lab:{RUN_ID}"'
    assert fields["Principals"] == "debian,ops"
    assert fields["Critical Options"] == "(none)"
    assert fields["Extensions"] == "permit-pty"  # no port, agent or X11 forwarding, no user rc
    fingerprint = ssh_ca.fingerprint(ssh_ca.trusted_keys(repo.parent)[0])
    assert fingerprint in fields["Signing CA"]
    start, end = (
        datetime.fromisoformat(t) for t in re.findall(r"\d{4}-\d\d-\d\dT[\d:]+", fields["Valid"])
    )
    assert end - start == timedelta(minutes=15 + 120 + ssh_ca.CLOCK_SKEW_MINUTES)
    skew = timedelta(minutes=ssh_ca.CLOCK_SKEW_MINUTES)
    assert before - skew - timedelta(seconds=1) <= start <= after - skew


def test_the_key_directory_goes_on_failure(repo: Path, password_file: Path) -> None:
    _init(repo)
    spec = ssh_ca.spec_for(config.load(repo), 10)
    with pytest.raises(KeyboardInterrupt), ssh_ca.issued(spec, RUN_ID) as key:
        folder = key.parent
        raise KeyboardInterrupt
    assert not folder.exists()


def test_the_action_row_sets_the_validity(repo: Path, password_file: Path) -> None:
    _init(repo)
    cluster = config.load(repo)
    data = yaml.safe_load(repo.read_text())
    data["access"]["ssh_ca"] = {"margin_minutes": 30}
    repo.write_text(yaml.safe_dump(data))
    cluster = config.load(repo)
    request = actions.request(cluster, "ssh_ca_push", "access push")
    assert request.certificate is not None
    assert request.certificate.minutes == actions.ACTIONS["ssh_ca_push"].minutes + 30
    upgrade = actions.request(cluster, "upgrade", "upgrade", extravars={})
    assert upgrade.certificate is not None and upgrade.certificate.minutes == 120 + 30


def test_without_a_ca_runs_have_no_certificate(repo: Path) -> None:
    cluster = config.load(repo)
    assert actions.request(cluster, "ping", "ping").certificate is None
    assert "group_vars/all/15-ssh-ca.yml" not in inventory.files(cluster)


def test_the_inventory_offers_the_certificate_first(repo: Path, password_file: Path) -> None:
    _init(repo)
    files = inventory.files(config.load(repo))
    main = yaml.safe_load(files["group_vars/all/00-k8s-install.yml"])
    assert ssh_ca.KEY_ENV in main["ansible_ssh_private_key_file"]
    assert "default=k8s_install_ssh_static_key" in main["ansible_ssh_private_key_file"]
    assert "IdentityFile=" in main["ansible_ssh_common_args"]
    only = main["k8s_install_ssh_cert_only_args"]
    assert "IdentitiesOnly=yes" in only and "IdentityAgent=none" in only
    assert "IdentityFile" not in only
    trust = yaml.safe_load(files["group_vars/all/15-ssh-ca.yml"])
    assert trust["ssh_ca_trusted_keys"] == ssh_ca.trusted_keys(repo.parent)
    assert trust["ssh_ca_krl_file"].endswith("/ssh-ca/revoked.krl")


def test_revocation_reaches_the_krl(repo: Path, password_file: Path) -> None:
    _init(repo)
    root = repo.parent
    code, document = _cli("access", "revoke", RUN_ID, "--no-push", "-c", str(repo))
    assert code == 0, document
    assert output_schemas.errors("access revoke", document) == []
    assert document["key_id"] == f"k8s-install:lab:{RUN_ID}" and document["added"] is True
    assert document["run"] is None
    code, again = _cli(
        "access", "revoke", f"k8s-install:lab:{RUN_ID}", "--no-push", "-c", str(repo)
    )
    assert code == 0 and again["added"] is False
    spec = ssh_ca.spec_for(config.load(repo), 10)
    with ssh_ca.issued(spec, RUN_ID) as key:
        assert ssh_ca.is_revoked(root, key.with_name("id_ed25519-cert.pub"))
    with ssh_ca.issued(spec, "20261205T091501Z-1a2b3d") as key:
        assert not ssh_ca.is_revoked(root, key.with_name("id_ed25519-cert.pub"))
    assert git_repo.changes(root) == []


def test_rotation_keeps_both_cas_then_the_new_one(repo: Path, password_file: Path) -> None:
    _init(repo)
    root = repo.parent
    cluster = config.load(repo)
    old = ssh_ca.trusted_keys(root)
    ssh_ca.create(root, ssh_ca.NEXT, "lab", ssh_ca.vault_password("test"))
    ssh_ca.revoke(root, f"k8s-install:lab:{RUN_ID}")
    assert ssh_ca.trusted_keys(root)[0] == old[0] and len(ssh_ca.trusted_keys(root)) == 2
    with ssh_ca.issued(ssh_ca.spec_for(cluster, 10, signer=ssh_ca.NEXT), RUN_ID) as key:
        assert ssh_ca.is_revoked(root, key.with_name("id_ed25519-cert.pub")), "KRL covers next"
    ssh_ca.promote(root)
    trusted = ssh_ca.trusted_keys(root)
    assert trusted[1] == old[0] and trusted[0] != old[0]
    assert not ssh_ca.private_key(root, ssh_ca.NEXT).exists()
    assert not ssh_ca.private_key(root, ssh_ca.RETIRING).exists()
    assert ssh_ca.drop_retiring(root) is True
    assert ssh_ca.trusted_keys(root) == trusted[:1]


def test_the_run_hands_the_key_to_ansible_and_removes_it(
    repo: Path, password_file: Path, tmp_path: Path
) -> None:
    """A real run on localhost: the play sees the certificate beside the key the inventory
    would use; after the run the key is gone, and nothing of it or the CA reached artifacts."""
    _init(repo)
    cluster = config.load(repo)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    play = tmp_path / "play.yml"
    play.write_text(
        "- name: Look at the key\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Stat the certificate\n      ansible.builtin.stat:\n"
        f"        path: \"{{{{ lookup('ansible.builtin.env', '{ssh_ca.KEY_ENV}') }}}}-cert.pub\"\n"
        "      register: k8s_install_play__cert\n"
        "    - name: Show the key path\n      ansible.builtin.debug:\n"
        f"        msg: \"KEY={{{{ lookup('ansible.builtin.env', '{ssh_ca.KEY_ENV}') }}}}\"\n"
        "    - name: Assert the certificate is there\n      ansible.builtin.assert:\n"
        "        that: k8s_install_play__cert.stat.exists\n"
    )
    request = runner.RunRequest(
        playbook=play,
        inventory=hosts,
        private_dir=repo.parent / ".k8s-install",
        certificate=ssh_ca.spec_for(cluster, 10),
        verbosity=3,
    )
    result = runner.run_playbook(request)
    assert result.status == "successful", result.failures
    stdout = (result.artifacts / "stdout").read_text()
    key_path = Path(re.findall(r"KEY=(\S+?)\"?$", stdout, re.M)[0])
    assert not key_path.parent.exists()
    assert not (Path("/tmp/k8s-install-cp") / result.run_id).exists()
    # Vault canary: neither the vault password nor any private key reached the artifacts.
    for path in (repo.parent / ".k8s-install").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"CANARYVAULTPASSWORD0123" not in data, path
            assert b"PRIVATE KEY" not in data, path
