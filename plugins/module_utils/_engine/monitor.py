"""Every operation runs inside ``operation()``: it times the work, records the outcome in
the audit log and calls the monitoring hooks (notifications, metrics) on success and on
failure, without ever hiding the original error or failing because a hook failed."""
from __future__ import annotations

import contextlib
import logging
import socket
import time
from typing import Any, Callable, Dict, Iterator, List

from . import audit
from .errors import SandstoneError
from .repository import iso, utcnow

log = logging.getLogger("sandstone")

# Hooks get (settings, record) after the outcome is known and the record is in the audit
# log. Registered by the modules that provide them (notify.py, metrics.py, imported by
# api.py); each is called even if another one failed, in the order they registered.
HOOKS: List[Callable[[Any, Dict[str, Any]], None]] = []

# Outcomes a record can have: the body may set "warning" (e.g. `check` found something
# that needs a person); otherwise it is "success", or "failure" when the body raised.
OUTCOMES = ("success", "warning", "failure")


@contextlib.contextmanager
def operation(settings, name: str, database: str = "", dry_run: bool = False,
              **details: Any) -> Iterator[Dict[str, Any]]:
    """``name`` is e.g. 'backup.full', 'restore.table', 'cleanup'. The caller may add
    result fields (backup_id, size, location ...) to the yielded record."""
    record: Dict[str, Any] = {"operation": name, "database": database, "who": audit.who(),
                              "host": socket.gethostname(), "started_at": iso(utcnow()),
                              "dry_run": dry_run, "backup_id": None, "error": None, **details}
    clock = time.monotonic()
    try:
        yield record
    except BaseException as exc:
        record["outcome"] = "failure"
        if isinstance(exc, SandstoneError):
            record["error"], record["hint"] = exc.message, exc.hint
            record["exit_code"] = exc.exit_code
        else:
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["exit_code"] = 1
        _finish(settings, record, clock)
        raise
    if record.get("outcome") not in OUTCOMES[:2]:
        record["outcome"] = "success"
    _finish(settings, record, clock)


def _finish(settings, record: Dict[str, Any], clock: float) -> None:
    record["finished_at"] = iso(utcnow())
    record["duration_seconds"] = round(time.monotonic() - clock, 3)
    if record.get("dry_run"):
        return  # a dry run changes nothing and is not an operation worth recording
    report(settings, record)


def report(settings, record: Dict[str, Any]) -> None:
    """Record an outcome in the audit log and hand it to every hook."""
    audit.append(settings.get("LOG_DIR"), record)
    for hook in HOOKS:
        try:
            hook(settings, record)
        except Exception as exc:  # a monitoring problem never fails the backup
            log.warning("monitoring hook %s failed: %s", getattr(hook, "__name__", hook), exc)
