"""The one ansible-runner driver every command uses.

ansible-runner runs in a thread and hands events to this thread through a queue (the model is
ansible-navigator's runner/command_async.py). Arguments are structured, never shell strings; the
environment is an explicit allowlist; runner writes no env files, so no secret reaches artifacts.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from k8s_install.ansible import ansible_cfg, inventory, ssh_ca
from k8s_install.ansible.events import Event, EventLog, HostStats, TaskTiming
from k8s_install.base import resources
from k8s_install.base.errors import ExitCode, K8sInstallError, Terminated
from k8s_install.model.config import Cluster

# Parent environment variables a run may see. Everything else (tokens, cloud keys, a user's
# ANSIBLE_* settings) is dropped, so runs are reproducible and artifacts hold no stray secret.
ENV_ALLOWLIST = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"}
)
AGENT_VARS = frozenset({"SSH_AUTH_SOCK"})


@dataclass
class RunRequest:
    """What to run. `extravars` carries only what the CLI itself decides, never user config."""

    playbook: str | Path
    inventory: Path
    private_dir: Path
    command: str = "run"
    limit: str | None = None
    tags: list[str] = field(default_factory=list)
    skip_tags: list[str] = field(default_factory=list)
    extravars: dict[str, Any] = field(default_factory=dict)
    check: bool = False
    diff: bool = False
    verbosity: int = 0
    node_count: int = 1
    roles_path: list[Path] = field(default_factory=list)
    settings: ansible_cfg.Settings = field(default_factory=ansible_cfg.Settings)
    use_agent: bool = False
    vault_password_file: Path | None = None
    envvars: dict[str, str] = field(default_factory=dict)
    # The run's SSH certificate, when the cluster repo has a CA (ansible/ssh_ca.py).
    certificate: ssh_ca.CertificateSpec | None = None


@dataclass
class RunResult:
    run_id: str
    command: str
    playbook: str
    status: str  # successful, failed, unreachable, interrupted
    rc: int
    started: str
    ended: str
    artifacts: Path
    hosts: dict[str, HostStats]
    slowest: list[TaskTiming]
    failures: list[dict[str, str]]
    stopped_at: str = ""
    changed_tasks: list[dict[str, str]] = field(default_factory=list)
    signal: str = ""  # SIGINT or SIGTERM, for an interrupted run

    @property
    def exit_code(self) -> ExitCode:
        if self.status == "interrupted" and self.signal == "SIGTERM":
            return ExitCode.TERMINATED
        return {
            "successful": ExitCode.OK,
            "unreachable": ExitCode.UNREACHABLE,
            "interrupted": ExitCode.INTERRUPTED,
        }.get(self.status, ExitCode.RUN_FAILED)

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    @property
    def failed(self) -> int:
        return sum(h.failures + h.unreachable for h in self.hosts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "playbook": self.playbook,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "rc": self.rc,
            "started": self.started,
            "ended": self.ended,
            "artifacts": str(self.artifacts),
            "stopped_at": self.stopped_at,
            "signal": self.signal,
            "hosts": {name: stats.as_dict() for name, stats in sorted(self.hosts.items())},
            "slowest_tasks": [t.as_dict() for t in self.slowest],
            "failures": self.failures,
            "changed_tasks": self.changed_tasks,
        }


# How long a run is expected to take when its action does not say (ansible/actions.py does).
EXPECTED_MINUTES = 60


def for_cluster(
    cluster: Cluster,
    playbook: str | Path,
    command: str,
    *,
    expected_minutes: int = EXPECTED_MINUTES,
    **options: Any,
) -> RunRequest:
    """A request against a cluster: its inventory is regenerated first, runs go under .k8s-install/.

    With a CA in the cluster repo, the run gets a certificate valid for `expected_minutes` plus
    access.ssh_ca.margin_minutes.
    """
    directory = cluster.root / inventory.DIRNAME
    inventory.write(cluster, directory)
    access = cluster.section("access")
    defaults: dict[str, Any] = {
        "playbook": playbook,
        "inventory": directory,
        "private_dir": cluster.root / ".k8s-install",
        "command": command,
        "node_count": len(cluster.nodes),
        "use_agent": bool(access.get("ssh_agent")),
        "settings": ansible_cfg.Settings(host_key_checking=bool(access.get("host_key_checking"))),
        "extravars": {"k8s_install_command": command},
        "certificate": (
            ssh_ca.spec_for(cluster, expected_minutes) if ssh_ca.exists(cluster.root) else None
        ),
    }
    defaults.update(options)
    return RunRequest(**defaults)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def timestamp() -> str:
    """Now in UTC, to the millisecond: run records sort by it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _playbook_path(playbook: str | Path) -> Path:
    path = Path(playbook)
    return path if path.is_absolute() else resources.playbook(str(playbook))


def playbook_options(request: RunRequest) -> list[str]:
    """ansible-playbook options ansible-runner has no keyword for, one list item per argument.

    They go into runner's argument list as they are. ansible-runner's `cmdline` would take them as
    one string and split it with shlex, so a path with a space or a quote would break apart.
    """
    args: list[str] = []
    if request.check:
        args.append("--check")
    if request.diff:
        args.append("--diff")
    if request.vault_password_file:
        args += ["--vault-password-file", str(request.vault_password_file)]
    return args


def _filtered_env(env: dict[str, str], ours: dict[str, str], use_agent: bool) -> dict[str, str]:
    """Keep what runner and we set, and only allowlisted variables from the parent."""
    allowed = ENV_ALLOWLIST | (AGENT_VARS if use_agent else frozenset())
    parent = os.environ
    return {
        key: value
        for key, value in env.items()
        if key in ours or key in allowed or (key not in parent and not key.startswith("K8S_"))
    }


def _prepare(request: RunRequest, run_id: str) -> tuple[Path, dict[str, str]]:
    private = request.private_dir
    run_dir = private / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    roles = [resources.data_dir("roles"), *request.roles_path]
    cfg = run_dir / "ansible.cfg"
    cfg.write_text(
        ansible_cfg.render(
            request.settings,
            node_count=request.node_count,
            roles_path=roles,
            fact_dir=private / "facts",
        )
    )
    ours = {
        # ansible-playbook sits beside the Python that runs k8s-install.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "ANSIBLE_CONFIG": str(cfg),
        "ANSIBLE_HOST_KEY_CHECKING": str(request.settings.host_key_checking),
        "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        **request.envvars,
    }
    Path(ansible_cfg.CONTROL_PATH_DIR).mkdir(mode=0o700, exist_ok=True)
    return run_dir, ours


def run_playbook(
    request: RunRequest,
    on_event: Callable[[Event], None] | None = None,
) -> RunResult:
    """Run one playbook and return its recap. Ctrl-C cancels the run cleanly.

    With a certificate, the run signs in with an ephemeral key and its certificate (removed
    when the run ends, however it ends), over SSH connections of its own: a connection another
    run opened would carry that run's key id into the nodes' auth log.
    """
    run_id = new_run_id()
    run_dir, ours = _prepare(request, run_id)
    if request.certificate is None:
        return _run(request, on_event, run_id, run_dir, ours)
    control_dir = Path(ansible_cfg.CONTROL_PATH_DIR) / run_id
    control_dir.mkdir(mode=0o700)
    ours["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control_dir)
    try:
        with ssh_ca.issued(request.certificate, run_id) as key:
            ours[ssh_ca.KEY_ENV] = str(key)
            return _run(request, on_event, run_id, run_dir, ours)
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)


def _run(
    request: RunRequest,
    on_event: Callable[[Event], None] | None,
    run_id: str,
    run_dir: Path,
    ours: dict[str, str],
) -> RunResult:
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    cancel = threading.Event()
    log = EventLog()
    started = timestamp()
    try:
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(run_dir),
            artifact_dir=str(request.private_dir / "artifacts"),
            ident=run_id,
            playbook=str(_playbook_path(request.playbook)),
            inventory=str(request.inventory),
            extravars=request.extravars or None,
            envvars=ours,
            limit=request.limit,
            tags=",".join(request.tags) or None,
            skip_tags=",".join(request.skip_tags) or None,
            verbosity=request.verbosity or None,
            quiet=True,
            suppress_env_files=True,
            event_handler=lambda event: _enqueue(events, event),
            cancel_callback=cancel.is_set,
            finished_callback=lambda _runner: events.put(None),
            fact_cache=str(request.private_dir / "facts"),
            fact_cache_type="jsonfile" if request.settings.fact_cache else None,
            timeout=None,
        )
    except Exception as exc:  # ansible_runner raises ConfigurationError and friends
        raise K8sInstallError(f"could not start ansible-runner: {exc}") from exc
    runner.config.env = _filtered_env(runner.config.env, ours, request.use_agent)
    command: list[str] = runner.config.command
    command[1:1] = playbook_options(request)  # after the ansible-playbook binary, structured
    thread = threading.Thread(target=runner.run, name=f"runner-{run_id}", daemon=True)
    thread.start()
    interrupted = ""  # the signal that stopped the run
    while True:
        try:
            item = events.get(timeout=0.2)
        except queue.Empty:
            if not thread.is_alive() and events.empty():
                break
            continue
        except KeyboardInterrupt as exc:
            interrupted = interrupted or _signal_name(exc)
            cancel.set()
            continue
        if item is None:
            break
        event = log.add(item)
        if on_event is not None and event is not None:
            on_event(event)
    while thread.is_alive():
        try:
            thread.join(timeout=0.5)
        except KeyboardInterrupt as exc:
            interrupted = interrupted or _signal_name(exc)
            cancel.set()
    while not events.empty():
        item = events.get()
        if item is not None:
            log.add(item)
    if runner.rc == 127:
        raise K8sInstallError(
            "ansible-playbook was not found beside this Python",
            fix="reinstall k8s-install with its dependencies: pip install k8s-install",
        )
    status = _status(str(runner.status), int(runner.rc or 0), log, bool(interrupted))
    return RunResult(
        run_id=run_id,
        command=request.command,
        playbook=str(request.playbook),
        status=status,
        rc=int(runner.rc or 0),
        started=started,
        ended=timestamp(),
        artifacts=request.private_dir / "artifacts" / run_id,
        hosts=log.stats(),
        slowest=log.slowest(10),
        failures=log.failures,
        stopped_at=log.position() if status == "interrupted" else "",
        changed_tasks=log.changed_tasks,
        signal=interrupted or ("SIGINT" if status == "interrupted" else ""),
    )


def _signal_name(exc: BaseException) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def _enqueue(events: queue.Queue[dict[str, Any] | None], event: dict[str, Any]) -> bool:
    events.put(event)
    return True  # keep the event in artifacts too


def _status(runner_status: str, rc: int, log: EventLog, interrupted: bool) -> str:
    if interrupted or runner_status == "canceled":
        return "interrupted"
    if runner_status == "successful" and rc == 0:
        return "successful"
    stats = log.stats().values()
    if any(s.unreachable for s in stats) and not any(s.failures for s in stats):
        return "unreachable"
    return "failed"
