"""Typed errors: each carries a one-line message, what to do next, and a CLI exit code.

Only the adapters (CLI, Ansible modules) turn these into exits or ``fail_json``.
"""
from __future__ import annotations


class SandstoneError(Exception):
    """Base error. ``exit_code`` follows DESIGN.md: 1 failed, 2 usage/config, 3 connect, 4 integrity."""

    exit_code = 1
    details = None  # the full result, for errors that have one (verify, restore verify)

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the next step on one line, as operators read it in a log."""
        return f"{self.message}: {self.hint}" if self.hint else self.message


class OperationFailed(SandstoneError):
    exit_code = 1


class ConfigError(SandstoneError):
    exit_code = 2


class ConnectError(SandstoneError):
    exit_code = 3


class IntegrityError(SandstoneError):
    exit_code = 4


class NotFound(OperationFailed):
    """A backup, table or file that was asked for does not exist."""


class TargetNotEmpty(OperationFailed):
    """A restore would overwrite data and was not told it may."""


class ToolError(OperationFailed):
    """pg_dump, pg_restore or psql failed or is unusable."""
