"""Backup, restore and preflight plumbing on the control machine (no hosts needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from k8s_install.ansible import inventory, security
from k8s_install.ansible.events import HostStats
from k8s_install.ansible.runner import RunResult
from k8s_install.base.errors import ExitCode, InvalidInput
from k8s_install.base.resources import sample_cluster
from k8s_install.checks import preflight
from k8s_install.cli import cli
from k8s_install.lifecycle import backup
from k8s_install.model import config


def _cluster(tmp_path: Path, **sections: object) -> config.Cluster:
    data = yaml.safe_load(sample_cluster().read_text())
    data.update(sections)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return config.load(path)


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    for stamp in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        (tmp_path / f"c-etcd-{stamp}.db").write_bytes(b"x")
    (tmp_path / "other-etcd-20240101T000000Z.db").write_bytes(b"x")
    removed = backup.prune(tmp_path, "c-etcd", 2)
    assert [p.name for p in removed] == ["c-etcd-20250101T000000Z.db"]
    assert (tmp_path / "other-etcd-20240101T000000Z.db").exists()


def test_verify_local_rejects_a_corrupt_copy(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"data")
    snap = backup.Snapshot("cp1", "s.db", "/remote/s.db", "0" * 64, 4, 2, 7)
    with pytest.raises(Exception, match="does not match"):
        backup.verify_local(snap, tmp_path)
    assert (tmp_path / "s.db.corrupt").exists()
    (tmp_path / "t.db").write_bytes(b"data")
    good = backup.Snapshot("cp1", "t.db", "/r", backup.sha256(tmp_path / "t.db"), 4, 2, 7)
    assert backup.verify_local(good, tmp_path).local_path == tmp_path / "t.db"


def test_schedule_goes_to_the_inventory(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, backup={"schedule": {"enabled": True, "on_calendar": "hourly"}})
    rendered = yaml.safe_load(inventory.files(cluster)["group_vars/all/30-backup.yml"])
    assert rendered["etcd_backup_schedule_enabled"] is True
    assert rendered["etcd_backup_schedule_on_calendar"] == "hourly"


def test_restore_refuses_without_a_terminal_and_touches_nothing(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    snap = tmp_path / "backups" / "snap.db"
    snap.parent.mkdir()
    snap.write_bytes(b"\0" * 8192)
    result = CliRunner().invoke(cli, ["restore", "snap.db", "-c", str(cluster.path)])
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "--yes" in result.output
    assert not (tmp_path / ".k8s-install").exists()  # no run was started


def test_restore_rejects_a_missing_or_tiny_snapshot(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    with pytest.raises(InvalidInput, match="not found"):
        backup.snapshot_file(cluster, Path("nope.db"))
    (tmp_path / "tiny.db").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="too small"):
        backup.snapshot_file(cluster, tmp_path / "tiny.db")


def test_vaulted_become_needs_the_vault_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(security.VAULT_PASSWORD_ENV, raising=False)
    cluster = _cluster(
        tmp_path,
        access={"user": "ops", "become_password_vault_file": "become.vault.yml"},
    )
    with pytest.raises(InvalidInput, match=security.VAULT_PASSWORD_ENV):
        security.vault_password_file(cluster)
    rendered = yaml.safe_load(inventory.files(cluster)["group_vars/all/10-security.yml"])
    assert rendered["k8s_install_become_vault_file"].endswith("/become.vault.yml")
    result = CliRunner().invoke(cli, ["preflight", "-c", str(cluster.path)])
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert not (tmp_path / ".k8s-install").exists()


def _result(
    tmp_path: Path, hosts: dict[str, HostStats], events: list[dict[str, object]]
) -> RunResult:
    artifacts = tmp_path / "artifacts"
    (artifacts / "job_events").mkdir(parents=True)
    for index, event in enumerate(events):
        (artifacts / "job_events" / f"{index}.json").write_text(json.dumps(event))
    return RunResult(
        "id", "preflight", "preflight.yml", "successful", 0, "", "", artifacts, hosts, [], []
    )


def _report_event(host: str, status: str) -> dict[str, object]:
    row = {"check": "swap", "status": status, "message": "m", "fix": "f"}
    return {
        "event": "runner_on_ok",
        "event_data": {
            "task": preflight.REPORT_TASK,
            "host": host,
            "res": {preflight.RESULTS_VAR: [row]},
        },
    }


def test_report_exit_codes(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    names = [n.name for n in cluster.nodes]
    ok = {n: HostStats(ok=1) for n in names}
    clean = preflight.report(
        cluster, _result(tmp_path / "a", ok, [_report_event(n, "warning") for n in names])
    )
    assert clean.exit_code == ExitCode.OK and len(clean.warnings) == len(names)
    bad = preflight.report(
        cluster,
        _result(
            tmp_path / "b",
            ok,
            [_report_event(n, "error" if n == names[0] else "ok") for n in names],
        ),
    )
    assert bad.exit_code == ExitCode.INVALID_INPUT and [c.host for c in bad.errors] == [names[0]]
    lost = dict(ok, **{names[1]: HostStats(unreachable=1)})
    gone = preflight.report(
        cluster,
        _result(tmp_path / "c", lost, [_report_event(n, "error") for n in names if n != names[1]]),
    )
    assert gone.exit_code == ExitCode.UNREACHABLE and gone.unreachable == [names[1]]
    limited = preflight.report(
        cluster,
        _result(tmp_path / "d", {names[0]: HostStats(ok=1)}, [_report_event(names[0], "ok")]),
        limit=names[0],
    )
    assert {c.host for c in limited.checks} == {names[0]}
