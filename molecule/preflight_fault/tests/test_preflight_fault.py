"""preflight with a planted fault (converge asserts it was named): it left the fault alone
and changed nothing."""

from __future__ import annotations

from typing import Any

import helpers


def test_fault_left_alone_and_nothing_changed(host: Any) -> None:
    assert host.service("molecule-busy-port").is_running
    assert host.socket("tcp://0.0.0.0:10250").is_listening
    assert helpers.files_changed_since_prepare(host) == []
