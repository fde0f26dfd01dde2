"""The audit log: one JSON object per line under LOG_DIR (audit.jsonl) for every
operation: who, what, which database and backup, when, result. Appending never fails the
operation it records; a write problem is logged instead."""
from __future__ import annotations

import getpass
import json
import logging
import os
import socket
from typing import Any, Dict, List, Optional

log = logging.getLogger("sandstone")
FILE = "audit.jsonl"


def who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def append(log_dir: Optional[str], record: Dict[str, Any]) -> bool:
    if not log_dir:
        return False
    try:
        os.makedirs(log_dir, mode=0o700, exist_ok=True)
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        fd = os.open(os.path.join(log_dir, FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)  # one write per line: concurrent appends do not interleave
        return True
    except OSError as exc:
        log.warning("cannot write the audit log in %s (%s)", log_dir, exc.strerror)
        return False


def read(log_dir: Optional[str], limit: Optional[int] = None) -> List[Dict[str, Any]]:
    """Records oldest first; a damaged line is skipped, not fatal."""
    if not log_dir:
        return []
    path = os.path.join(log_dir, FILE)
    records = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot read the audit log %s (%s)", path, exc.strerror)
        return []
    return records[-limit:] if limit else records


SUMMARY_FIELDS = ("finished_at", "operation", "outcome", "database", "backup_id",
                  "duration_seconds", "who", "error", "hint")


def recent(log_dir: Optional[str], limit: int = 10) -> List[Dict[str, Any]]:
    """The newest operations first, each reduced to what a person scans for (for `status`
    and `log`); the full records stay in the file."""
    records = read(log_dir, limit if limit and limit > 0 else None)
    return [{name: record.get(name) for name in SUMMARY_FIELDS} for record in reversed(records)]
