"""bridge_network's refusal path (converge asserts the message): nothing written first."""

from __future__ import annotations

from typing import Any

import helpers


def test_refusal_changed_nothing(host: Any) -> None:
    assert helpers.files_changed_since_prepare(host) == []
    assert not host.file("/etc/cni/net.d/10-k8s-install-bridge.conflist").exists
    assert not host.file("/etc/k8s-install/pod-routes").exists
