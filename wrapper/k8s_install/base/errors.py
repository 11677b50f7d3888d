"""Exit codes and the errors that carry them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Stable, documented exit codes (see README)."""

    OK = 0
    RUN_FAILED = 1
    INVALID_INPUT = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what is wrong, how to fix it."""

    path: str
    message: str
    fix: str = ""
    severity: str = "error"

    def as_dict(self) -> dict[str, str]:
        return {
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class K8sInstallError(Exception):
    """An error the CLI reports without a traceback, exiting with `code`."""

    code: ExitCode = ExitCode.RUN_FAILED

    def __init__(self, message: str, *, fix: str = "", code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        if code is not None:
            self.code = code


class InvalidInput(K8sInstallError):
    """Bad input: nothing on any host has been touched."""

    code = ExitCode.INVALID_INPUT

    def __init__(
        self, message: str, problems: list[Problem] | None = None, *, fix: str = ""
    ) -> None:
        super().__init__(message, fix=fix)
        self.problems = problems or []
