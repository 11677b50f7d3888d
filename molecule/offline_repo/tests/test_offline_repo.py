"""offline_repo: from the control machine, nginx serves the bundle's file over TLS and the
registry answers /v2/, both with the CA made for it (and not without it)."""

from __future__ import annotations

import os
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import helpers
import pytest

CA = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "tls" / "ca.crt"


def _get(url: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return int(response.status), bytes(response.read())


def test_file_served_over_tls(host: Any) -> None:
    url = f"https://{helpers.address(host)}:8080/molecule.txt"
    status, body = _get(url, ssl.create_default_context(cafile=str(CA)))
    assert (status, body) == (200, b"served by offline_repo\n")


def test_registry_answers_v2_with_the_ca(host: Any) -> None:
    url = f"https://{helpers.address(host)}:5000/v2/"
    status, _ = _get(url, ssl.create_default_context(cafile=str(CA)))
    assert status == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(url, ssl.create_default_context())


def test_registry_backend_only_on_loopback(host: Any) -> None:
    assert host.socket("tcp://127.0.0.1:5001").is_listening
    assert not host.socket("tcp://0.0.0.0:5001").is_listening
    assert host.service("docker-registry").is_enabled
    assert host.service("nginx").is_enabled
