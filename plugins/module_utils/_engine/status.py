"""What the repository holds, at a glance: per type the newest backup, its age, size, the
locations that have it and whether it verified; the last success and last failure of every
job (from the audit log); storage used per location; leftovers of interrupted runs; runs
holding a lock now. Read only: status never changes or locks anything."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from . import audit
from . import lock as lock_mod
from .errors import SandstoneError
from .manifest import Manifest
from .repository import TYPES, Repository, iso, parse_iso, utcnow
from .verify import folders

log = logging.getLogger("sandstone")


def _manifests(repo: Repository) -> Tuple[List[Manifest], List[Dict[str, str]]]:
    """Readable manifests oldest first, and the folders whose manifest cannot be read
    (status reports a damaged backup instead of failing on it)."""
    good, damaged = [], []
    for kind, backup_id in folders(repo):
        try:
            good.append(repo.load(kind, backup_id))
        except SandstoneError as exc:
            damaged.append({"folder": f"{kind}/{backup_id}", "error": exc.message})
    good.sort(key=lambda m: (m.started_at, m.id))
    return good, damaged


def _age(text: Optional[str], now) -> Optional[int]:
    try:
        return int((now - parse_iso(text)).total_seconds()) if text else None
    except ValueError:
        return None


def verified_state(copies: Dict[str, Manifest], now) -> Dict[str, Any]:
    """The last verification of each copy: 'ok' when every copy passed, 'failed' when any
    failed, 'partial' when some copies were never verified, 'never' when none was."""
    per_location: Dict[str, Any] = {}
    for name, manifest in copies.items():
        last = manifest.verify[-1] if manifest.verify else None
        per_location[name] = None if last is None else {
            "ok": bool(last.get("ok")), "at": last.get("at"), "error": last.get("error"),
            "age_seconds": _age(last.get("at"), now)}
    results = [v for v in per_location.values() if v is not None]
    if any(not v["ok"] for v in results):
        state = "failed"
    elif results and len(results) == len(per_location):
        state = "ok"
    elif results:
        state = "partial"
    else:
        state = "never"
    newest = max(results, key=lambda v: v["at"] or "", default=None)
    failed = next((f"{n}: {v['error']}" for n, v in per_location.items() if v and not v["ok"]), None)
    return {"state": state, "at": newest["at"] if newest else None,
            "age_seconds": newest["age_seconds"] if newest else None, "error": failed,
            "locations": per_location}


def job_history(records: List[Dict[str, Any]], now) -> Dict[str, Any]:
    """operation -> last success and last failure (dry runs are never audited)."""
    jobs: Dict[str, Any] = {}
    for record in records:  # oldest first: later records overwrite earlier ones
        name = record.get("operation")
        if not name:
            continue
        job = jobs.setdefault(name, {"runs": 0, "last_success": None, "last_failure": None})
        job["runs"] += 1
        at = record.get("finished_at") or record.get("started_at")
        entry = {"at": at, "age_seconds": _age(at, now), "database": record.get("database"),
                 "duration_seconds": record.get("duration_seconds")}
        if record.get("backup_id"):
            entry["backup_id"] = record["backup_id"]
        if record.get("outcome") == "success":
            job["last_success"] = entry
            job["last_outcome"] = "success"
        else:
            entry["error"] = record.get("error")
            entry["exit_code"] = record.get("exit_code")
            job["last_failure"] = entry
            job["last_outcome"] = "failure"
    return dict(sorted(jobs.items()))


def status(locations: List[Repository], log_dir: Optional[str] = None,
           backup_dir: Optional[str] = None) -> Dict[str, Any]:
    now = utcnow()
    per_location = []
    copies: Dict[str, Dict[str, Manifest]] = {}  # "type/id" -> location name -> manifest
    for index, repo in enumerate(locations):
        name = repo.storage.name
        try:
            manifests, damaged = _manifests(repo)
        except SandstoneError as exc:
            if index == 0:
                raise
            # an unreachable copy must not hide what the primary holds: say it instead
            per_location.append({"name": name, "location": repo.storage.location(), "backups": 0,
                                 "bytes": 0, "incomplete": [], "damaged": [],
                                 "error": exc.one_line()})
            continue
        for m in manifests:
            copies.setdefault(f"{m.type}/{m.id}", {})[name] = m
        per_location.append({"name": name, "location": repo.storage.location(),
                             "backups": len(manifests), "bytes": sum(m.size for m in manifests),
                             "incomplete": repo.incomplete(), "damaged": damaged})
    types: Dict[str, Any] = {}
    for kind in TYPES:
        refs = sorted((ref for ref in copies if ref.startswith(kind + "/")),
                      key=lambda r: (next(iter(copies[r].values())).started_at, r))
        if not refs:
            types[kind] = {"count": 0, "newest": None}
            continue
        newest_copies = copies[refs[-1]]
        newest = next(iter(newest_copies.values()))
        types[kind] = {"count": len(refs), "newest": newest.summary(),
                       "age_seconds": _age(newest.finished_at, now),
                       "bytes": sum(next(iter(copies[r].values())).size for r in refs),
                       "locations": list(newest_copies),
                       "verified": verified_state(newest_copies, now)}
    primary = per_location[0] if per_location else {"location": None, "incomplete": []}
    incomplete = list(primary["incomplete"])
    for other in per_location[1:]:
        incomplete += [f"{other['name']}:{folder}" for folder in other["incomplete"]]
    return {"generated_at": iso(now), "location": primary["location"],
            "backups": len(copies), "total_bytes": sum(l["bytes"] for l in per_location),
            "types": types, "locations": per_location, "incomplete": incomplete,
            "damaged": [dict(d, location=l["name"]) for l in per_location for d in l["damaged"]],
            "jobs": job_history(audit.read(log_dir), now),
            "running": lock_mod.holders(backup_dir) if backup_dir else []}


def repository_status(repo: Repository) -> Dict[str, Any]:
    """One location only (kept for callers of the first version)."""
    return status([repo])


def list_backups(repo: Repository, kind=None):
    return [m.summary() for m in repo.list(kind)]


def all_backups(locations: List[Repository], kind: Optional[str] = None) -> List[Dict[str, Any]]:
    """Every backup in any location, oldest first, with where it is kept and its verify
    state (for pg_backup_info and scripts)."""
    now = utcnow()
    copies: Dict[str, Dict[str, Manifest]] = {}
    for index, repo in enumerate(locations):
        try:
            manifests = repo.list(kind)
        except SandstoneError as exc:
            if index == 0:
                raise
            log.warning("could not list %s: %s", repo.storage.location(), exc.one_line())
            continue
        for m in manifests:
            copies.setdefault(f"{m.type}/{m.id}", {})[repo.storage.name] = m
    rows = []
    for ref, where in copies.items():
        first = next(iter(where.values()))
        rows.append(dict(first.summary(), locations=list(where),
                         verified=verified_state(where, now)["state"]))
    return sorted(rows, key=lambda r: (r["started_at"], r["id"]))
