"""Warnings that need a person before a failure does: the newest full backup is older than
expected, a verification failed, a replication slot holds back too much WAL.

`sandstone-backup check` runs these under a timer; it notifies through the same channels
as the operations (outcome "warning") and exits 1 when anything is wrong. A check that
cannot look (repository unreadable, database unreachable) is a warning too: silence must
mean all is well, never "could not tell".
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from . import audit, pg
from .errors import SandstoneError
from .metrics import is_verify
from .repository import Repository, iso, parse_iso, utcnow


@dataclass
class Finding:
    code: str  # backup_age | no_backup | verify_failed | slot_lag | slot_lost | cannot_check
    message: str
    hint: str
    details: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def backup_age(repos: List[Repository], max_hours: int, now: dt.datetime) -> List[Finding]:
    """The newest full backup in every location must be younger than ``max_hours``
    (0 turns the check off). A location that fell behind (a broken upload) counts too."""
    if not max_hours or max_hours <= 0:
        return []
    found: List[Finding] = []
    for repo in repos:
        where = repo.storage.location()
        try:
            fulls = repo.list("full")
        except SandstoneError as exc:
            found.append(Finding("cannot_check", f"cannot list the backups in {where}: "
                                 f"{exc.message}", exc.hint, {"location": where}))
            continue
        if not fulls:
            found.append(Finding("no_backup", f"no full backup in {where}",
                                 "take one with 'sandstone-backup full' and check that the "
                                 "scheduled backup runs", {"location": where}))
            continue
        newest = fulls[-1]
        age = (now - parse_iso(newest.finished_at)).total_seconds()
        if age > max_hours * 3600:
            found.append(Finding(
                "backup_age", f"the newest full backup in {where} ({newest.id}) is "
                f"{_hours(age)} old, more than MAX_BACKUP_AGE_HOURS={max_hours}",
                "check that the scheduled full backup runs (its timer and the log in LOG_DIR), "
                "then take one with 'sandstone-backup full'",
                {"location": where, "backup_id": newest.id, "age_seconds": int(age)}))
    return found


def _latest_verify(entries: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    entries = [e for e in entries if isinstance(e, dict) and "ok" in e]
    return max(entries, key=lambda e: str(e.get("at", ""))) if entries else None


def verification(repos: List[Repository], log_dir: Optional[str]) -> List[Finding]:
    """A backup whose newest verification failed is damaged until a later one passes; a
    verify run that failed without reaching a manifest shows in the audit log only."""
    found: List[Finding] = []
    warned = set()
    for repo in repos:
        try:
            backups = repo.list()
        except SandstoneError:
            continue  # already reported by backup_age
        for manifest in backups:
            latest = _latest_verify(manifest.verify)
            if latest is None or latest.get("ok"):
                continue
            warned.add(manifest.id)
            found.append(Finding(
                "verify_failed", f"verification of {manifest.type} backup {manifest.id} in "
                f"{repo.storage.location()} failed at {latest.get('at')}: "
                f"{latest.get('error') or 'no reason recorded'}",
                f"run 'sandstone-backup verify' again; if it fails again, do not rely on "
                f"{manifest.id}: take a new full backup",
                {"backup_id": manifest.id, "location": latest.get("location")
                 or repo.storage.location(), "at": latest.get("at")}))
    runs = [r for r in audit.read(log_dir) if is_verify(str(r.get("operation", "")))
            and r.get("outcome") in ("success", "failure") and not r.get("dry_run")]
    if runs and runs[-1].get("outcome") == "failure" and runs[-1].get("backup_id") not in warned:
        last = runs[-1]
        found.append(Finding(
            "verify_failed", f"the last verification ({last.get('operation')} at "
            f"{last.get('finished_at')}) failed: {last.get('error')}",
            last.get("hint") or "run 'sandstone-backup verify' again and read the log",
            {"backup_id": last.get("backup_id"), "at": last.get("finished_at")}))
    return found


SLOTS_SQL = """
SELECT s.slot_name, s.slot_type, s.plugin, s.database, s.active,
       to_jsonb(s) ->> 'wal_status' AS wal_status,
       pg_wal_lsn_diff(cur.lsn, s.restart_lsn)::bigint AS lag_bytes,
       pg_wal_lsn_diff(cur.lsn, s.confirmed_flush_lsn)::bigint AS unconfirmed_bytes
FROM pg_replication_slots s,
     (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                  ELSE pg_current_wal_lsn() END AS lsn) cur
WHERE s.database IS NULL OR s.database = current_database()
ORDER BY s.slot_name
"""


def replication_slots(spec: pg.ConnSpec, warn_bytes: int) -> Tuple[List[Dict[str, Any]], List[Finding]]:
    """Physical slots and the logical slots of the configured database. ``lag_bytes`` is
    the WAL a slot keeps on the server's disk (current position minus restart_lsn): the
    number that fills a disk when a consumer stops."""
    try:
        with pg.connect(spec) as conn:
            cursor = conn.execute(SLOTS_SQL)
            names = [c.name for c in cursor.description]
            slots = [dict(zip(names, row)) for row in cursor.fetchall()]
    except SandstoneError as exc:
        return [], [Finding("cannot_check", f"cannot check replication slots: {exc.message}",
                            exc.hint, {"database": spec.describe()})]
    except Exception as exc:  # a permission or version problem: say so, do not crash
        return [], [Finding("cannot_check", f"cannot read pg_replication_slots on "
                            f"{spec.describe()}: {str(exc).strip().splitlines()[0]}",
                            "connect as a role that can read pg_replication_slots",
                            {"database": spec.describe()})]
    found: List[Finding] = []
    for slot in slots:
        name = slot["slot_name"]
        if slot.get("wal_status") == "lost":
            found.append(Finding("slot_lost", f"replication slot {name} has lost required WAL "
                                 "(wal_status=lost); its consumer cannot continue",
                                 f"drop and re-create slot {name} and re-synchronise its consumer",
                                 {"slot": name}))
            continue
        lag = slot.get("lag_bytes")
        if warn_bytes and warn_bytes > 0 and lag is not None and lag > warn_bytes:
            consumer = "a consumer is connected" if slot.get("active") else "no consumer is connected"
            found.append(Finding(
                "slot_lag", f"replication slot {name} holds back {lag} bytes of WAL, more than "
                f"SLOT_LAG_WARN_BYTES={warn_bytes}; {consumer}",
                f"start or fix the consumer of slot {name}; if the slot is no longer used, drop "
                f"it (SELECT pg_drop_replication_slot('{name}')) before the disk fills",
                {"slot": name, "lag_bytes": lag}))
    return slots, found


def run_checks(settings, repos: List[Repository], spec: pg.ConnSpec,
               now: Optional[dt.datetime] = None) -> Dict[str, Any]:
    now = now or utcnow()
    findings = backup_age(repos, settings.get("MAX_BACKUP_AGE_HOURS"), now)
    findings += verification(repos, settings.get("LOG_DIR"))
    slots, slot_findings = replication_slots(spec, settings.get("SLOT_LAG_WARN_BYTES") or 0)
    findings += slot_findings
    return {"checked_at": iso(now), "ok": not findings,
            "warnings": [f.as_dict() for f in findings], "slots": slots,
            "locations": [r.storage.location() for r in repos]}
