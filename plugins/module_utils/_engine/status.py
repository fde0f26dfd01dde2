"""What the repository holds: per type the newest backup, its age and size, the totals,
and leftovers of interrupted runs."""
from __future__ import annotations

from typing import Any, Dict

from .repository import TYPES, Repository, parse_iso, utcnow


def repository_status(repo: Repository) -> Dict[str, Any]:
    now = utcnow()
    backups = repo.list()
    per_type: Dict[str, Any] = {}
    for kind in TYPES:
        of_kind = [m for m in backups if m.type == kind]
        if not of_kind:
            per_type[kind] = {"count": 0, "newest": None}
            continue
        newest = of_kind[-1]
        age = (now - parse_iso(newest.finished_at)).total_seconds()
        per_type[kind] = {"count": len(of_kind), "newest": newest.summary(),
                          "age_seconds": int(age), "bytes": sum(m.size for m in of_kind)}
    return {"location": repo.storage.location(), "backups": len(backups),
            "total_bytes": sum(m.size for m in backups), "types": per_type,
            "incomplete": repo.incomplete()}


def list_backups(repo: Repository, kind=None):
    return [m.summary() for m in repo.list(kind)]
