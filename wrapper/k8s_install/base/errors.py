"""Exit codes and the errors that carry them."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

# How much of a value from the user's files a message may quote.
SHOWN_CHARS = 80
# A message never grows past this, whatever it quotes (a last guard against echoing files).
MAX_MESSAGE_CHARS = 600

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 2, 4, 4


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """value as it may appear in a message: one line, cut to `limit` characters with '…'.

    A string is shown without quotes (callers quote it); anything else as a short repr, built
    without ever forming the repr of a large value.
    """
    text = (value if isinstance(value, str) else _REPR.repr(value))[: limit + 1]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ExitCode(IntEnum):
    """Stable, documented exit codes (see README)."""

    OK = 0
    RUN_FAILED = 1
    INVALID_INPUT = 2
    UNREACHABLE = 3
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM, as CI runners cancel a job (128 + 15)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: every run stops the same clean way."""


def interrupt_code(exc: BaseException) -> ExitCode:
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is, what is wrong, how to fix it."""

    path: str
    message: str
    fix: str = ""
    severity: str = "error"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _cut(self.path, MAX_MESSAGE_CHARS))
        object.__setattr__(self, "message", _cut(self.message, MAX_MESSAGE_CHARS))
        object.__setattr__(self, "fix", _cut(self.fix, MAX_MESSAGE_CHARS))

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

    def with_code(self, code: ExitCode) -> K8sInstallError:
        """The same error with another exit code (a refusal that follows a failed run)."""
        self.code = ExitCode(code)
        return self


class InvalidInput(K8sInstallError):
    """Bad input: nothing on any host has been touched."""

    code = ExitCode.INVALID_INPUT

    def __init__(
        self, message: str, problems: list[Problem] | None = None, *, fix: str = ""
    ) -> None:
        super().__init__(message, fix=fix)
        self.problems = problems or []
