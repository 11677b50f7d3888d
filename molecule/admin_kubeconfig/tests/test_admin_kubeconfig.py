"""admin_kubeconfig: the control machine holds the node's admin kubeconfig, mode 0600, with the
API server's cluster address in place of loopback, and the node's credentials unchanged."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import helpers
import yaml

WRITTEN = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "kubeconfig" / "admin.conf"


def test_the_kubeconfig_is_on_the_control_machine_for_its_owner_alone(host: Any) -> None:
    assert WRITTEN.stat().st_mode & 0o777 == 0o600
    assert WRITTEN.parent.stat().st_mode & 0o777 == 0o700


def test_it_names_the_node_address_and_keeps_the_credentials(host: Any) -> None:
    config = yaml.safe_load(WRITTEN.read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://{helpers.address(host)}:6443"
    user = config["users"][0]["user"]
    assert base64.b64decode(user["client-key-data"]) == b"molecule-key-canary"
    assert config["current-context"] == "kubernetes-admin@cluster.local"


def test_the_node_kept_its_own(host: Any) -> None:
    assert host.file("/etc/kubernetes/admin.conf").mode == 0o600
    assert "127.0.0.1:6443" in host.file("/etc/kubernetes/admin.conf").content_string
    assert helpers.files_changed_since_prepare(host) == []
