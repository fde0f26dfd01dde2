"""Every operation runs inside ``operation()``: it times the work, records the outcome in
the audit log and calls the monitoring hooks (notifications, metrics) on success and on
failure, without ever hiding the original error or failing because a hook failed."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Dict, Iterator, List

from . import audit
from .errors import SandstoneError
from .repository import iso, utcnow

log = logging.getLogger("sandstone")

# Hooks get (settings, record) after the outcome is known. Registered by the modules that
# provide them (notifications, metrics); each is called even if another one failed.
HOOKS: List[Callable[[Any, Dict[str, Any]], None]] = []


@contextlib.contextmanager
def operation(settings, name: str, database: str = "", dry_run: bool = False,
              **details: Any) -> Iterator[Dict[str, Any]]:
    """``name`` is e.g. 'backup.full', 'restore.table', 'cleanup'. The caller may add
    result fields (backup_id, size, location ...) to the yielded record."""
    record: Dict[str, Any] = {"operation": name, "database": database, "who": audit.who(),
                              "started_at": iso(utcnow()), "dry_run": dry_run, **details}
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
    record["outcome"] = "success"
    _finish(settings, record, clock)


def _finish(settings, record: Dict[str, Any], clock: float) -> None:
    record["finished_at"] = iso(utcnow())
    record["duration_seconds"] = round(time.monotonic() - clock, 3)
    if record.get("dry_run"):
        return  # a dry run changes nothing and is not an operation worth recording
    audit.append(settings.get("LOG_DIR"), record)
    for hook in HOOKS:
        try:
            hook(settings, record)
        except Exception as exc:  # a monitoring problem never fails the backup
            log.warning("monitoring hook %s failed: %s", getattr(hook, "__name__", hook), exc)
