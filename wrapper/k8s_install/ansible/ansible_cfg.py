"""The ansible.cfg each run uses: speed settings and safe defaults, generated per run.

Runs never read a user's ~/.ansible.cfg or ./ansible.cfg, so a cluster repo behaves the same on
every machine. bench/bench_ansible_settings.py measures each speed setting against the defaults.
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass, field
from pathlib import Path

MAX_FORKS = 50
# ControlPath must stay short: unix sockets are limited to 108 bytes.
CONTROL_PATH_DIR = "/tmp/k8s-install-cp"


@dataclass(frozen=True)
class Settings:
    """Speed settings; each can be switched off to measure it."""

    pipelining: bool = True
    control_persist: bool = True
    fact_cache: bool = True
    smart_gathering: bool = True
    forks: int | None = None  # None: scaled to the node count
    host_key_checking: bool = True
    extra: dict[str, dict[str, str]] = field(default_factory=dict)


def forks_for(node_count: int) -> int:
    """One fork per node up to MAX_FORKS; at least 5 (ansible's default)."""
    return max(5, min(MAX_FORKS, node_count))


def render(settings: Settings, *, node_count: int, roles_path: list[Path], fact_dir: Path) -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    defaults = {
        "forks": str(settings.forks or forks_for(node_count)),
        "roles_path": ":".join(str(p) for p in roles_path),
        "host_key_checking": str(settings.host_key_checking),
        "retry_files_enabled": "False",
        "interpreter_python": "auto_silent",
        "timeout": "30",
        "gathering": "smart" if settings.smart_gathering else "implicit",
        "callback_result_format": "yaml",
        "display_skipped_hosts": "False",
        "deprecation_warnings": "False",
        "any_errors_fatal": "False",
    }
    if settings.fact_cache:
        defaults.update(
            fact_caching="jsonfile",
            fact_caching_connection=str(fact_dir),
            fact_caching_timeout="86400",
        )
    ssh = {"pipelining": str(settings.pipelining)}
    if settings.control_persist:
        ssh["ssh_args"] = "-o ControlMaster=auto -o ControlPersist=60s"
        ssh["control_path_dir"] = CONTROL_PATH_DIR
    else:
        ssh["ssh_args"] = "-o ControlMaster=no"
    cfg["defaults"] = defaults
    cfg["ssh_connection"] = ssh
    cfg["privilege_escalation"] = {"become_method": "sudo"}
    for section, values in settings.extra.items():
        cfg[section] = {**(cfg[section] if cfg.has_section(section) else {}), **values}
    buffer = io.StringIO()
    cfg.write(buffer)
    return buffer.getvalue()
