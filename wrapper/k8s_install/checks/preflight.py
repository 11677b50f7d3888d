"""Preflight: run the read-only checks and turn the role's results into one table.

The role reports each host's results in its "Report the preflight results" task; they are read
back from the run's job events. Hosts the run never reached get a row of their own.
Exit codes: 3 when a host was unreachable (its checks could not run), else 2 when any check
is an error, else 0 (warnings alone pass).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_install.ansible.runner import RunResult
from k8s_install.base.errors import ExitCode
from k8s_install.model.config import Cluster

REPORT_TASK = "Report the preflight results"
RESULTS_VAR = "preflight__results"
STATUSES = ("error", "warning", "ok")


@dataclass(frozen=True)
class Check:
    host: str
    check: str
    status: str  # error, warning, ok
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "host": self.host,
            "check": self.check,
            "status": self.status,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.status == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warning"]

    @property
    def exit_code(self) -> ExitCode:
        if self.unreachable:
            return ExitCode.UNREACHABLE
        if self.errors:
            return ExitCode.INVALID_INPUT
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": int(self.exit_code),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "unreachable": self.unreachable,
            "checks": [c.as_dict() for c in self.checks],
        }


def _events(artifacts: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted((artifacts / "job_events").glob("*.json")):
        try:
            events.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return events


def reported(artifacts: Path) -> dict[str, list[dict[str, str]]]:
    """host -> the role's result rows, from the run's job events."""
    results: dict[str, list[dict[str, str]]] = {}
    for event in _events(artifacts):
        data = event.get("event_data") or {}
        if event.get("event") != "runner_on_ok" or data.get("task") != REPORT_TASK:
            continue
        rows = (data.get("res") or {}).get(RESULTS_VAR)
        if isinstance(rows, list):
            results[str(data.get("host"))] = [dict(r) for r in rows if isinstance(r, dict)]
    return results


def report(cluster: Cluster, result: RunResult, limit: str | None = None) -> Report:
    """One table for all hosts: reported checks, then rows for hosts without results.

    With a limit, nodes the run never saw were left out on purpose and get no row.
    """
    rows = reported(result.artifacts)
    failures: dict[str, str] = {}
    for failure in result.failures:
        failures.setdefault(failure["host"], f"{failure['task']}: {failure['message']}".strip())
    out = Report()
    for node in cluster.nodes:
        stats = result.hosts.get(node.name)
        if limit and stats is None and node.name not in rows:
            continue
        if node.name in rows:
            for row in rows[node.name]:
                status = row.get("status", "error")
                out.checks.append(
                    Check(
                        node.name,
                        row.get("check", "?"),
                        status if status in STATUSES else "error",
                        row.get("message", ""),
                        row.get("fix", ""),
                    )
                )
        elif stats is None or stats.unreachable:
            out.unreachable.append(node.name)
            out.checks.append(
                Check(
                    node.name,
                    "ssh",
                    "error",
                    f"unreachable at {node.address}:{node.ssh_port} as {node.ssh_user}"
                    + (f" ({failures[node.name]})" if node.name in failures else ""),
                    "check the address, that sshd runs, the key (access.ssh_key or the agent) "
                    "and known_hosts; `k8s-install ping` shows the SSH error",
                )
            )
        else:
            out.checks.append(
                Check(
                    node.name,
                    "preflight",
                    "error",
                    failures.get(node.name, "the checks did not finish"),
                    "see the run's log under .k8s-install/artifacts/" + result.run_id,
                )
            )
    return out
