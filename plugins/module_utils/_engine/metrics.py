"""Metrics for Prometheus node_exporter's textfile collector, rewritten after every
operation (a monitor hook) and by `check`.

Each run is a separate process, so the state comes from the audit log: the newest record
of each kind wins. The file is replaced atomically (prometheus_client writes a temp file
beside it and renames it), so node_exporter never reads half a file. prometheus_client is
imported only when METRICS_FILE is set, so hosts that do not export metrics need not have it.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Optional

from . import audit, monitor
from .repository import parse_iso

log = logging.getLogger("sandstone")

PREFIX = "sandstone"


def _epoch(text: Optional[str]) -> Optional[float]:
    try:
        return parse_iso(text).timestamp() if text else None
    except ValueError:
        return None


def is_verify(operation: str) -> bool:
    return operation == "verify" or operation.startswith("verify.") or operation.endswith(".verify")


def state(records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """The newest facts per metric, from audit records oldest first (plain data, so it can
    be tested and shown without prometheus_client)."""
    backups: Dict[str, Dict[str, Any]] = {}  # type -> newest successful backup record
    last_success: Dict[str, float] = {}  # operation -> time
    last_failure: Dict[str, float] = {}  # operation -> time
    verify: Optional[Dict[str, Any]] = None
    check: Optional[Dict[str, Any]] = None
    for record in records:
        operation = str(record.get("operation") or "")
        outcome = record.get("outcome")
        finished = _epoch(record.get("finished_at"))
        if not operation or finished is None or record.get("dry_run"):
            continue
        if outcome == "success":
            last_success[operation] = finished
            if operation.startswith("backup."):
                backups[operation.split(".", 1)[1]] = record
        elif outcome == "failure":
            last_failure[operation] = finished
        if is_verify(operation) and outcome in ("success", "failure"):
            verify = record
        if operation == "check":
            check = record
    return {"backups": backups, "last_success": last_success, "last_failure": last_failure,
            "verify": verify, "check": check}


def registry_for(facts: Dict[str, Any]):
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry()

    def gauge(name: str, text: str, labels=()):
        return Gauge(f"{PREFIX}_{name}", text, list(labels), registry=registry)

    success = gauge("backup_last_success_timestamp_seconds",
                    "Unix time the newest successful backup of this type finished.", ["type"])
    duration = gauge("backup_last_duration_seconds",
                     "Duration of the newest successful backup of this type.", ["type"])
    size = gauge("backup_last_size_bytes",
                 "Stored size of the newest successful backup of this type.", ["type"])
    for kind, record in sorted(facts["backups"].items()):
        success.labels(type=kind).set(_epoch(record["finished_at"]) or 0)
        duration.labels(type=kind).set(float(record.get("duration_seconds") or 0))
        if record.get("size") is not None:
            size.labels(type=kind).set(float(record["size"]))

    ok_at = gauge("backup_operation_last_success_timestamp_seconds",
                  "Unix time this operation last succeeded.", ["operation"])
    for operation, moment in sorted(facts["last_success"].items()):
        ok_at.labels(operation=operation).set(moment)
    failed_at = gauge("backup_last_failure_timestamp_seconds",
                      "Unix time this operation last failed.", ["operation"])
    for operation, moment in sorted(facts["last_failure"].items()):
        failed_at.labels(operation=operation).set(moment)

    verify = facts["verify"]
    if verify is not None:
        gauge("backup_last_verify_ok", "1 if the newest verification passed, 0 if it failed."
              ).set(1 if verify.get("outcome") == "success" else 0)
        gauge("backup_last_verify_timestamp_seconds", "Unix time of the newest verification."
              ).set(_epoch(verify.get("finished_at")) or 0)

    check = facts["check"]
    if check is not None:
        gauge("backup_last_check_timestamp_seconds", "Unix time `check` last ran."
              ).set(_epoch(check.get("finished_at")) or 0)
        gauge("backup_check_warnings", "Warnings found by the newest `check` (-1: it failed)."
              ).set(-1 if check.get("outcome") == "failure" else len(check.get("warnings") or []))
        lag = gauge("replication_slot_lag_bytes", "WAL held back by the replication slot "
                    "(current WAL position minus the slot's restart_lsn), at the newest `check`.",
                    ["slot"])
        for slot in check.get("slots") or []:
            if slot.get("lag_bytes") is not None:
                lag.labels(slot=slot["slot_name"]).set(float(slot["lag_bytes"]))
    return registry


def write(settings, extra: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Rewrite METRICS_FILE from the audit log (plus ``extra``, the record just finished,
    in case the audit log could not be written). Returns the path written, or None."""
    path = settings.get("METRICS_FILE")
    if not path:
        return None
    try:
        from prometheus_client import write_to_textfile
    except ImportError:
        log.warning("METRICS_FILE is set but prometheus_client is not installed; "
                    "install it with 'pip install prometheus-client'")
        return None
    records = audit.read(settings.get("LOG_DIR"))
    if extra is not None:
        records.append(extra)  # the newest wins, so a duplicate changes nothing
    try:
        write_to_textfile(path, registry_for(state(records)))
    except OSError as exc:
        log.warning("cannot write the metrics file %s (%s)", path, exc.strerror or exc)
        return None
    return path


def metrics_hook(settings, record: Dict[str, Any]) -> None:
    write(settings, record)


monitor.HOOKS.append(metrics_hook)
