"""access: the cluster repo's SSH CA (init, rotate), pushing it to the nodes, revoking a run's
certificate, and retiring the static key once certificates work everywhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import click

from k8s_install.ansible import actions, runner, ssh_ca
from k8s_install.base.errors import ExitCode, InvalidInput, Problem
from k8s_install.commands.common import (
    coloured_result,
    config_option,
    escaped,
    json_option,
    load_cluster,
    output,
)
from k8s_install.commands.ping import host_results
from k8s_install.model.config import Cluster
from k8s_install.records import git_repo, runs

RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
PUBLIC_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp[0-9]+) [A-Za-z0-9+/=]+")


def _require_ca(cluster: Cluster) -> None:
    if not ssh_ca.exists(cluster.root):
        raise InvalidInput(
            f"the cluster repo {cluster.root} has no SSH CA",
            [
                Problem(
                    str(ssh_ca.public_key(cluster.root)),
                    "not found",
                    "create one: k8s-install access ca init, then k8s-install access push",
                )
            ],
        )


def _commit(cluster: Cluster, message: str) -> str:
    """Commit ssh-ca/ (public keys, vaulted private keys, revocations); '' outside Git."""
    root = cluster.root
    if not git_repo.is_repo(root):
        return ""
    git_repo.git(root, "add", "--all", "--", ssh_ca.DIRNAME)
    staged = git_repo.git(root, "diff", "--cached", "--name-only", "--", ssh_ca.DIRNAME)
    if not staged.strip():
        return ""
    git_repo.git(root, "commit", "--quiet", "-m", message, "--", ssh_ca.DIRNAME)
    return git_repo.head(root)


def _trusted(cluster: Cluster) -> list[str]:
    return [ssh_ca.fingerprint(key) for key in ssh_ca.trusted_keys(cluster.root)]


def _push(cluster: Cluster, command: str) -> runner.RunResult:
    """The ssh_ca_push run, recorded in runs/."""
    request = actions.request(cluster, "ssh_ca_push", command)
    with runs.recording(cluster, command, applied=False) as rec:
        rec.result = runner.run_playbook(request)
    return rec.result


def _run_document(result: runner.RunResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {**result.as_dict(), "nodes": host_results(result)}


def _report_run(result: runner.RunResult, title: str) -> None:
    out = output()
    if out.json_mode:
        return
    report = host_results(result)
    out.table(
        f"{title}: {coloured_result(result.status)} (run {escaped(result.run_id)})",
        ["node", "result", "message"],
        [[name, r["status"], escaped(r["message"])] for name, r in sorted(report.items())],
    )


@click.group()
def access() -> None:
    """SSH access to the nodes: a certificate authority instead of one long-lived key.

    With a CA in the cluster repo (ssh-ca/), every Ansible run signs in with an
    ephemeral key and a certificate valid for the run's expected length plus
    access.ssh_ca.margin_minutes, whose key id names the run
    (k8s-install:CLUSTER:RUN-ID), so the nodes' auth log ties each login to a
    run record. docs/security.md has the threat model.

    \b
    Examples:
      k8s-install access ca init
      k8s-install access push
      k8s-install access retire-key
      k8s-install access revoke 20261205T091500Z-1a2b3c
      k8s-install access ca rotate
      k8s-install access ca rotate --finish   # when the old CA's certificates expired
    """


@access.group()
def ca() -> None:
    """Create and rotate the cluster repo's SSH certificate authority.

    \b
    Examples:
      k8s-install access ca init
      k8s-install access ca rotate
      k8s-install access ca rotate --finish
    """


@ca.command("init")
@config_option
@json_option
def ca_init(config_path: Path) -> None:
    """Create the SSH CA in ssh-ca/ and commit it.

    The private key is encrypted with ansible-vault, with the password in the
    file K8S_INSTALL_VAULT_PASSWORD_FILE names; only the ciphertext and the
    public key reach Git. Nothing on the nodes changes: the next run (still
    logging in with the static key, which stays as a fallback) installs the
    CA, or run `access push`. Exit 2 when the repo already has a CA or the
    vault password file is missing.

    \b
    Examples:
      export K8S_INSTALL_VAULT_PASSWORD_FILE=~/.k8s-install/vault-password
      k8s-install access ca init
      k8s-install access ca init -c clusters/prod/cluster.yaml --json
    """
    out = output()
    cluster = load_cluster(config_path)
    if ssh_ca.exists(cluster.root):
        raise InvalidInput(
            f"the cluster repo {cluster.root} already has an SSH CA",
            [
                Problem(
                    str(ssh_ca.public_key(cluster.root)),
                    "exists",
                    "replace it with `k8s-install access ca rotate`",
                )
            ],
        )
    password = ssh_ca.vault_password("access ca init")
    line = ssh_ca.create(cluster.root, ssh_ca.CURRENT, cluster.name, password)
    commit = _commit(cluster, f"access ca init: the SSH CA of {cluster.name}")
    document = {
        "public_key": str(ssh_ca.public_key(cluster.root)),
        "private_key": str(ssh_ca.private_key(cluster.root)),
        "fingerprint": ssh_ca.fingerprint(line),
        "trusted": _trusted(cluster),
        "commit": commit,
    }
    if out.json_mode:
        out.emit(document)
        return
    out.info(
        f"SSH CA {document['fingerprint']} created in {escaped(ssh_ca.directory(cluster.root))}"
    )
    out.info(f"private key (ansible-vault encrypted): {escaped(document['private_key'])}")
    out.info("next: `k8s-install access push` (or the next `up`) installs it on the nodes")


@ca.command("rotate")
@click.option(
    "--finish",
    is_flag=True,
    help="End the overlap: the nodes stop trusting the previous CA.",
)
@config_option
@json_option
def ca_rotate(finish: bool, config_path: Path) -> None:
    """Replace the SSH CA, with an overlap where the nodes trust both.

    Without --finish: a new CA is made, every node is told to trust the
    current and the new one (over a login signed by the current CA), then the
    new CA signs the runs. With --finish: the previous CA is dropped from
    every node, so its certificates stop working. Exit 2 when a rotation is
    already under way (or none is, for --finish); the run's exit code when the
    push fails (the repo then keeps the CA it had, and rotate can be re-run).

    \b
    Examples:
      k8s-install access ca rotate
      k8s-install access ca rotate --finish --json   # after the overlap
    """
    out = output()
    cluster = load_cluster(config_path)
    _require_ca(cluster)
    root = cluster.root
    retiring = ssh_ca.public_key(root, ssh_ca.RETIRING)
    if finish:
        if not retiring.is_file():
            raise InvalidInput(
                "no SSH CA rotation is under way",
                [Problem(str(retiring), "not found", "start one: k8s-install access ca rotate")],
            )
        kept = retiring.read_text()
        ssh_ca.drop_retiring(root)
        result = _push(cluster, "access ca rotate")
        if result.exit_code != ExitCode.OK:
            retiring.write_text(kept)
            ssh_ca.write_krl(root)
            _fail_run(result, "the nodes still trust both CAs; fix the failures and re-run it")
        phase = "finished"
    else:
        if retiring.is_file():
            raise InvalidInput(
                "an SSH CA rotation is already under way",
                [
                    Problem(
                        str(retiring),
                        "the previous CA is still trusted",
                        "end the overlap first: k8s-install access ca rotate --finish",
                    )
                ],
            )
        if not ssh_ca.public_key(root, ssh_ca.NEXT).is_file():
            password = ssh_ca.vault_password("access ca rotate")
            ssh_ca.create(root, ssh_ca.NEXT, cluster.name, password)
        result = _push(cluster, "access ca rotate")
        if result.exit_code != ExitCode.OK:
            _commit(cluster, f"access ca rotate: the next SSH CA of {cluster.name}")
            _fail_run(result, "the new CA waits in ssh-ca/next.*; re-run `access ca rotate`")
        ssh_ca.promote(root)
        phase = "overlap"
    commit = _commit(cluster, f"access ca rotate: {phase} (run {result.run_id})")
    trusted = _trusted(cluster)
    document: dict[str, Any] = {
        "phase": phase,
        "current": ssh_ca.fingerprint(ssh_ca.trusted_keys(root)[0]),
        "trusted": trusted,
        "commit": commit,
        "run": _run_document(result),
    }
    if out.json_mode:
        out.emit(document)
        return
    _report_run(result, "push")
    if phase == "overlap":
        out.info(
            f"the nodes trust {', '.join(trusted)}; runs are signed by "
            f"{document['current']}. End the overlap: k8s-install access ca rotate --finish"
        )
    else:
        out.info(f"the nodes trust only {document['current']}")


def _fail_run(result: runner.RunResult, fix: str) -> NoReturn:
    failed = sorted(h for h, s in result.hosts.items() if s.failures or s.unreachable)
    raise InvalidInput(
        f"the run {result.run_id} {result.status}" + (f" on {', '.join(failed)}" if failed else ""),
        [
            Problem(f"node {f['host']}", f"{f['task']}: {f['message']}"[:300], fix)
            for f in result.failures
        ],
        fix=fix,
    ).with_code(result.exit_code)


@access.command()
@config_option
@json_option
def push(config_path: Path) -> None:
    """Install the CA keys, principals and revocation list (KRL) on every node.

    sshd's drop-in (TrustedUserCAKeys, AuthorizedPrincipalsFile, RevokedKeys,
    LogLevel VERBOSE) is checked with `sshd -t` before sshd reloads. `up`,
    scale and upgrade do the same in their node baseline. Exit codes: 0 all
    nodes done, 1 a node failed, 3 unreachable, 2 no CA or vault password.

    \b
    Examples:
      k8s-install access push
      k8s-install access push --json
    """
    out = output()
    cluster = load_cluster(config_path)
    _require_ca(cluster)
    result = _push(cluster, "access push")
    document = {
        **(_run_document(result) or {}),
        "trusted": _trusted(cluster),
        "revoked": ssh_ca.revoked(cluster.root),
    }
    if out.json_mode:
        out.emit(document)
    else:
        _report_run(result, "access push")
    raise click.exceptions.Exit(int(result.exit_code))


def _key_id(cluster: Cluster, ref: str) -> str:
    if ref.startswith(f"{ssh_ca.KEY_ID_PREFIX}:"):
        return ref
    if RUN_ID.match(ref):
        return ssh_ca.key_id(cluster.name, ref)
    raise InvalidInput(
        f"{ref!r} is neither a run id nor a certificate key id",
        [
            Problem(
                "RUN|KEY-ID",
                f"{ref!r} matches neither YYYYMMDDTHHMMSSZ-xxxxxx nor k8s-install:CLUSTER:RUN-ID",
                "see the run ids with `k8s-install history`, or the key id in the node's auth log",
            )
        ],
    )


@access.command()
@click.argument("ref", metavar="RUN|KEY-ID")
@click.option(
    "--push/--no-push",
    "do_push",
    default=True,
    show_default=True,
    help="Push the new KRL to the nodes now.",
)
@config_option
@json_option
def revoke(ref: str, do_push: bool, config_path: Path) -> None:
    """Revoke the certificate of a run (its run id) or any key id.

    The key id goes into ssh-ca/revoked.txt, the KRL ssh-ca/revoked.krl is
    rebuilt for every trusted CA and committed, and (unless --no-push) pushed
    to every node, where sshd refuses the certificate from then on.

    \b
    Examples:
      k8s-install access revoke 20261205T091500Z-1a2b3c
      k8s-install access revoke k8s-install:prod:20261205T091500Z-1a2b3c --no-push
      k8s-install access revoke 20261205T091500Z-1a2b3c --json
    """
    out = output()
    cluster = load_cluster(config_path)
    _require_ca(cluster)
    key_id = _key_id(cluster, ref)
    added = ssh_ca.revoke(cluster.root, key_id)
    commit = _commit(cluster, f"access revoke: {key_id}")
    result = _push(cluster, "access revoke") if do_push else None
    document = {
        "key_id": key_id,
        "added": added,
        "revoked": ssh_ca.revoked(cluster.root),
        "commit": commit,
        "run": _run_document(result),
    }
    if out.json_mode:
        out.emit(document)
    else:
        out.info(f"{escaped(key_id)} {'revoked' if added else 'was already revoked'}")
        if result is not None:
            _report_run(result, "KRL pushed")
        else:
            out.info("not pushed: `k8s-install access push` sends the KRL to the nodes")
    raise click.exceptions.Exit(int(result.exit_code) if result else 0)


def _static_public_key(cluster: Cluster, given: Path | None) -> str:
    """The static key's public line: --public-key, <access.ssh_key>.pub, or derived from the key."""
    access_section = cluster.section("access")
    key = access_section.get("ssh_key")
    candidates: list[Path] = [given] if given else []
    if not given and key:
        path = Path(str(key)).expanduser()
        path = path if path.is_absolute() else cluster.root / path
        candidates = [path.with_name(path.name + ".pub"), path]
    for path in candidates:
        if not path.is_file():
            continue
        if path.suffix == ".pub" or given:
            line = path.read_text().strip()
        else:
            derived = subprocess.run(
                ["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=False
            )
            line = derived.stdout.strip() if derived.returncode == 0 else ""
        if PUBLIC_KEY.match(line):
            return " ".join(line.split()[:2])
    raise InvalidInput(
        "no static public key to retire",
        [
            Problem(
                "--public-key" if given else "access.ssh_key",
                f"{given} is not a public key file" if given else "no key file or <key>.pub found",
                "name the public key: k8s-install access retire-key --public-key KEY.pub",
            )
        ],
    )


@access.command("retire-key")
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The static public key to remove (default: access.ssh_key + .pub).",
)
@config_option
@json_option
def retire_key(public_key: Path | None, config_path: Path) -> None:
    """Remove the static key from authorized_keys on every node.

    First, a login with the run's certificate alone (no other key, no agent)
    and become to root must work on every node; if any node fails, nothing is
    removed anywhere (exit 1, or 3 for unreachable nodes). Then the key leaves
    the SSH user's and root's authorized_keys, over certificate-only logins.
    Keep the key file until you are sure: `access.ssh_key` is then only a
    fallback the nodes refuse.

    \b
    Examples:
      k8s-install access retire-key
      k8s-install access retire-key --public-key ~/.ssh/cluster.pub --json
    """
    out = output()
    cluster = load_cluster(config_path)
    _require_ca(cluster)
    line = _static_public_key(cluster, public_key)
    check = runner.run_playbook(actions.request(cluster, "ssh_ca_check", "access retire-key"))
    report = host_results(check)
    for node in cluster.nodes:
        report.setdefault(node.name, {"status": "unreachable", "message": "no result"})
    failing = sorted(name for name, r in report.items() if r["status"] != "ok")
    if failing:
        raise InvalidInput(
            f"refused: a certificate-only login failed on {', '.join(failing)}; "
            "nothing was removed",
            [
                Problem(
                    f"node {name}",
                    f"{report[name]['status']}: {report[name]['message']}"[:300],
                    "install the CA there: k8s-install access push, then retry",
                )
                for name in failing
            ],
        ).with_code(check.exit_code if check.exit_code != ExitCode.OK else ExitCode.RUN_FAILED)
    request = actions.request(
        cluster,
        "ssh_ca_retire",
        "access retire-key",
        extravars={"ssh_ca_retire_key": line},
    )
    with runs.recording(cluster, "access retire-key", applied=False) as rec:
        rec.result = runner.run_playbook(request)
    result = rec.result
    document = {
        "public_key": ssh_ca.fingerprint(line),
        "check": _run_document(check),
        "run": _run_document(result),
    }
    if out.json_mode:
        out.emit(document)
    else:
        _report_run(check, "certificate-only login")
        _report_run(result, "static key removed")
    raise click.exceptions.Exit(int(result.exit_code))


COMMANDS: list[click.Command] = [access]
