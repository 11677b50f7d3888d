"""addons' refusal path (converge asserts the message): nothing was copied first."""

from __future__ import annotations

from typing import Any

import helpers


def test_refusal_copied_nothing(host: Any) -> None:
    assert helpers.files_changed_since_prepare(host) == []
    assert not host.file("/var/lib/k8s-install/addons").exists
    assert not host.file("/usr/local/bin/k8s-install-helm").exists
