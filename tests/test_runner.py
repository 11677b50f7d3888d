"""The runner driver against real small playbooks on localhost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k8s_install.ansible.progress import execute
from k8s_install.ansible.runner import RunRequest, run_playbook
from k8s_install.base.errors import ExitCode
from k8s_install.base.output import Output

PLAYBOOKS = Path(__file__).parent / "fixtures" / "playbooks"


def request(tmp_path: Path, inventory: Path, playbook: str, **kwargs: object) -> RunRequest:
    return RunRequest(
        playbook=PLAYBOOKS / playbook,
        inventory=inventory,
        private_dir=tmp_path / ".k8s-install",
        command="test",
        **kwargs,
    )  # type: ignore[arg-type]


def test_success_counts_and_timings(tmp_path: Path, localhost_inventory: Path) -> None:
    result = run_playbook(request(tmp_path, localhost_inventory, "mixed.yml"))
    assert result.status == "successful"
    assert result.exit_code == ExitCode.OK
    stats = result.hosts["localhost"]
    assert (stats.changed, stats.failures) == (1, 0)
    assert stats.ok == 3
    moment = [t for t in result.slowest if t.task == "Take a moment"]
    assert moment and moment[0].seconds >= 0.3
    assert [t.seconds for t in result.slowest] == sorted(
        (t.seconds for t in result.slowest), reverse=True
    )
    assert result.changed_tasks == [
        {"host": "localhost", "task": "Report changed", "play": "Mixed results"}
    ]


def test_failure_exits_1_and_names_task(tmp_path: Path, localhost_inventory: Path) -> None:
    result = run_playbook(
        request(tmp_path, localhost_inventory, "mixed.yml", extravars={"fail_on_purpose": True})
    )
    assert result.status == "failed"
    assert result.exit_code == ExitCode.RUN_FAILED
    assert result.failures[0]["task"] == "Fail on purpose"
    assert result.failures[0]["message"] == "planted failure"


def test_unreachable_exits_3(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    gone:\n      ansible_host: 127.0.0.1\n"
        "      ansible_port: 1\n      ansible_user: nobody\n"
    )
    result = run_playbook(request(tmp_path, inventory, "mixed.yml"))
    assert result.status == "unreachable"
    assert result.exit_code == ExitCode.UNREACHABLE
    assert result.hosts["gone"].unreachable == 1


def test_json_mode_emits_event_lines(
    tmp_path: Path, localhost_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    execute(request(tmp_path, localhost_inventory, "mixed.yml"), Output(json_mode=True))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [line.get("kind") for line in lines if line["type"] == "event"]
    assert kinds[:2] == ["play", "task"]
    assert "changed" in kinds
    assert lines[-1]["type"] == "result"
    assert lines[-1]["hosts"]["localhost"]["changed"] == 1


def test_environment_is_an_allowlist(
    tmp_path: Path, localhost_inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-env-7f3a9c"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD", canary)
    result = run_playbook(request(tmp_path, localhost_inventory, "mixed.yml"))
    assert result.status == "successful"
    for path in (tmp_path / ".k8s-install").rglob("*"):
        if path.is_file():
            assert canary not in path.read_text(errors="replace"), path
    command = json.loads((result.artifacts / "command").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in command["env"]
    assert not (tmp_path / ".k8s-install" / "runs" / result.run_id / "env").exists()


def _default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM as a terminal gives them, whatever this
    process inherited (a background job of a non-interactive shell ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("sent", "code", "name"),
    [
        (signal.SIGINT, ExitCode.INTERRUPTED, "SIGINT"),
        (signal.SIGTERM, ExitCode.TERMINATED, "SIGTERM"),
    ],
)
def test_a_signal_stops_the_run_cleanly_and_says_where(
    tmp_path: Path, localhost_inventory: Path, sent: signal.Signals, code: ExitCode, name: str
) -> None:
    """Ctrl-C (SIGINT) and a CI runner's cancel (SIGTERM) stop the run the same clean way;
    exit 130 and 143. The child runs the CLI's own signal set-up."""
    script = (
        "import json, signal, sys\n"
        "from pathlib import Path\n"
        "from k8s_install import cli\n"
        "from k8s_install.base.output import Output\n"
        "from k8s_install.ansible.progress import execute\n"
        "from k8s_install.ansible.runner import RunRequest\n"
        "signal.signal(signal.SIGTERM, cli._terminate)\n"
        f"r = RunRequest(playbook=Path({str(PLAYBOOKS / 'slow.yml')!r}),"
        f" inventory=Path({str(localhost_inventory)!r}),"
        f" private_dir=Path({str(tmp_path / '.k8s-install')!r}), command='test')\n"
        "result = execute(r, Output())\n"
        "print('SIGNAL', result.as_dict()['signal'])\n"
        "sys.exit(result.exit_code)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 60
    events = tmp_path / ".k8s-install" / "artifacts"
    while time.monotonic() < deadline:
        started = [
            p
            for p in events.rglob("job_events/*.json")
            if "Wait for a long time" in p.read_text(errors="replace")
        ]
        if started:
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(sent)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert "interrupted" in output
    assert f"SIGNAL {name}" in output
    assert "stopped at play 'Slow play', task 'Wait for a long time'" in output
    assert "Never reached" not in output


def test_markup_in_task_output_is_shown_verbatim(
    tmp_path: Path, localhost_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure message with rich markup in it ('[/x]') is printed as text, not parsed."""
    playbook = tmp_path / "markup.yml"
    playbook.write_text(
        "- name: Markup [bold]play\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Fail with [/x] in the message\n"
        "      ansible.builtin.fail:\n        msg: 'broken [/x] [red]text'\n"
    )
    result = execute(
        RunRequest(
            playbook=playbook,
            inventory=localhost_inventory,
            private_dir=tmp_path / ".k8s-install",
            command="test",
        ),
        Output(),
    )
    assert result.exit_code == ExitCode.RUN_FAILED
    out = capsys.readouterr().out
    assert "broken [/x] [red]text" in out
    assert "Markup [bold]play" in out
