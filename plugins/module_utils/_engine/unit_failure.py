"""Failures the engine could not report itself: a timer's run that was killed, timed out or
died before Python started. systemd's OnFailure= unit (and cron's wrapper) call
``sandstone-backup notify --event failure --unit UNIT``, which notifies through the same
channels, unless the run already reported this failure itself (no double alert at 3 a.m.)."""
from __future__ import annotations

import datetime as dt
import socket
from typing import Any, Dict, Optional

from . import audit, monitor
from .repository import iso, parse_iso, utcnow

# sandstone-backup-<job>.service -> the operation name that job records in the audit log
JOB_OPERATIONS = {"full": "backup.full", "schema": "backup.schema", "data": "backup.data",
                  "incremental": "backup.incremental", "cleanup": "cleanup", "verify": "verify",
                  "check": "check"}
ALREADY_REPORTED = dt.timedelta(minutes=30)


def job_of(unit: str) -> str:
    name = unit[:-len(".service")] if unit.endswith(".service") else unit
    return name[len("sandstone-backup-"):] if name.startswith("sandstone-backup-") else name


def _reported_by_the_run(log_dir: Optional[str], operation: Optional[str],
                         now: dt.datetime) -> Optional[Dict[str, Any]]:
    """The run's own failure record, when it wrote one in the last half hour."""
    if not operation:
        return None
    for record in reversed(audit.read(log_dir)):
        if record.get("operation") != operation:
            continue
        finished = record.get("finished_at")
        if record.get("outcome") == "failure" and finished and \
                now - parse_iso(finished) <= ALREADY_REPORTED:
            return record
        return None
    return None


def report(settings, unit: str) -> Dict[str, Any]:
    now = utcnow()
    job = job_of(unit)
    operation = JOB_OPERATIONS.get(job)
    own = _reported_by_the_run(settings.get("LOG_DIR"), operation, now)
    if own is not None:
        return {"changed": False, "unit": unit, "notified": False,
                "reason": f"the run reported its own failure at {own['finished_at']}: "
                          f"{own.get('error')}"}
    host = socket.gethostname()
    record = {"operation": operation or f"unit {unit}", "database": "", "who": audit.who(),
              "host": host, "started_at": iso(now), "finished_at": iso(now),
              "duration_seconds": 0, "dry_run": False, "outcome": "failure", "unit": unit,
              "backup_id": None,
              "error": f"{unit} failed on {host} without reporting why (killed, timed out, or "
                       f"stopped before it could start)",
              "hint": f"read 'journalctl -u {unit}' on {host}, then run the job by hand"}
    monitor.report(settings, record)
    return {"changed": True, "unit": unit, "notified": True, "operation": record["operation"]}
