"""post_checks' refusal path (converge asserts the message and the time): kubectl never ran."""

from __future__ import annotations

from typing import Any

import helpers


def test_refusal_changed_nothing_and_never_ran_kubectl(host: Any) -> None:
    assert helpers.files_changed_since_prepare(host) == []
    # The planted kubectl only sleeps: had the role run it, it would still be there.
    assert host.run("pgrep -f '^sleep 3600$'").rc == 1
