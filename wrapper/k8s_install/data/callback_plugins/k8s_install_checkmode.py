"""Ansible callback for `k8s-install drift`: why tasks were skipped, which ran for real, handlers.

ansible-runner's events carry no result for a skipped task, so a task skipped because it cannot
run in check mode looks the same as one skipped by `when:`. This callback writes one JSON line
per such result to the file named by K8S_INSTALL_CHECKMODE_LOG.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]

ENV = "K8S_INSTALL_CHECKMODE_LOG"


def _items(res: dict[str, Any]) -> list[Any]:
    raw = res.get("results")
    return raw if isinstance(raw, list) else []


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "k8s_install_checkmode"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get(ENV, "")

    def _write(self, kind: str, result: Any) -> None:
        if not self._path:
            return
        task = result._task
        res = result._result if isinstance(result._result, dict) else {}
        items = _items(res)
        entry = {
            "kind": kind,
            "host": result._host.get_name(),
            "task": task.get_name(),
            "action": task.action,
            "uuid": str(task._uuid),
            "check_mode": task.check_mode,
            "handler": type(task).__name__ == "Handler",
            "changed": bool(res.get("changed")),
            "reason": str(res.get("skip_reason") or res.get("msg") or ""),
            "items": [
                {
                    "item": str(item.get("_ansible_item_label", item.get("item", ""))),
                    "skipped": bool(item.get("skipped")),
                    "changed": bool(item.get("changed")),
                    "reason": str(item.get("skip_reason") or item.get("msg") or ""),
                }
                for item in items
                if isinstance(item, dict)
            ],
        }
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._write("skipped", result)

    def v2_runner_on_ok(self, result: Any) -> None:
        res = result._result if isinstance(result._result, dict) else {}
        items = _items(res)
        some_skipped = any(isinstance(i, dict) and i.get("skipped") for i in items)
        handler = type(result._task).__name__ == "Handler"
        if result._task.check_mode is False or some_skipped or handler:
            self._write("ok", result)
