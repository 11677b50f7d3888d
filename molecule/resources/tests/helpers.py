"""Shared testinfra helpers for the molecule scenarios (imported as `helpers`).

molecule/.config base config puts this directory on PYTHONPATH for the verifier, so a
scenario's tests/test_<role>.py does `import helpers`.
"""

from __future__ import annotations

import json
from typing import Any

# Written by molecule/resources/mark.yml at the end of prepare: converge runs after it.
MARKER = "/run/molecule-prepared"
# Where a role could leave something behind. Not /tmp and not ~/.ansible (Ansible's own temp
# files), nor what systemd, chrony and sudo record by themselves.
WATCHED = "/etc /usr /opt /root /home /srv /var/lib /var/backups"
IGNORED = (
    "*/.ansible/*",
    "/var/lib/chrony/*",
    "/var/lib/systemd/*",
    "/var/lib/private/*",
)


def variables(host: Any) -> dict[str, Any]:
    return dict(host.ansible.get_variables())


def address(host: Any) -> str:
    """The host's sandbox address (the inventory's ansible_host)."""
    return str(variables(host)["ansible_host"])


def files_changed_since_prepare(host: Any) -> list[str]:
    """Files written under WATCHED after prepare: a role that promises to change nothing,
    or to refuse before changing anything, must leave this empty."""
    assert host.file(MARKER).exists, f"{MARKER} is missing: prepare must import mark.yml"
    skip = " ".join(f"-not -path '{p}'" for p in IGNORED)
    # Files only: directories change mtime when Ansible's temp directories come and go.
    found = host.run(
        f"find {WATCHED} -xdev -type f -newer {MARKER} {skip} "
        "-not -name .sudo_as_admin_successful -print"
    )
    assert found.rc == 0, found.stderr
    return sorted(found.stdout.split())


def curl(host: Any, url: str, *args: str) -> Any:
    """curl on the host: fails on HTTP errors, never follows redirects, 10 s at most."""
    return host.run(
        "curl --silent --show-error --fail --max-time 10" + " %s" * len(args) + " %s", *args, url
    )


def etcdctl_json(host: Any, *args: str) -> dict[str, Any]:
    """etcdctl (API v3) on the host, with --write-out json."""
    result = host.run("env ETCDCTL_API=3 etcdctl" + " %s" * len(args) + " --write-out json", *args)
    assert result.rc == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data
