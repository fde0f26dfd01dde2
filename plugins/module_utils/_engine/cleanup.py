"""Apply the retention policy to every location (local and remote alike): decide with
retention.plan, then delete what it does not keep, each backup's manifest first. A dry run
(check mode) returns the same decisions and deletes nothing.

Folders without a manifest (leftovers of an interrupted run) are removed too: cleanup runs
under the repository lock, so no backup is writing them."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, List, Optional

from . import retention
from .config import Settings
from .errors import IntegrityError
from .manifest import Manifest
from .repository import Repository, parse_iso, utcnow
from .verify import folders

log = logging.getLogger("sandstone")


def policy_from_settings(settings: Settings, days: Optional[int] = None,
                         keep_last: Optional[int] = None, keep_daily: Optional[int] = None,
                         keep_weekly: Optional[int] = None,
                         keep_monthly: Optional[int] = None) -> retention.Policy:
    """Explicit values (flags, module options) win over the configuration."""
    def pick(value, key):
        return value if value is not None else settings.get(key)
    return retention.Policy(days=pick(days, "RETENTION_DAYS"),
                            keep_last=pick(keep_last, "KEEP_LAST"),
                            keep_daily=pick(keep_daily, "KEEP_DAILY"),
                            keep_weekly=pick(keep_weekly, "KEEP_WEEKLY"),
                            keep_monthly=pick(keep_monthly, "KEEP_MONTHLY")).validate()


def last_verify(manifest: Manifest) -> Optional[bool]:
    """The result of the newest verification recorded in this copy's manifest."""
    if not manifest.verify:
        return None
    return bool(manifest.verify[-1].get("ok"))


def item_of(manifest: Manifest) -> retention.Item:
    return retention.Item(id=manifest.id, type=manifest.type,
                          time=parse_iso(manifest.started_at), verified=last_verify(manifest),
                          depends_on=list(manifest.depends_on))


def _manifests(repo: Repository) -> Dict[str, Manifest]:
    """Folder -> manifest. Any doubt stops the cleanup: an unreadable manifest raises, and
    so does a manifest naming another folder (a copied folder: deleting by its id would
    delete the original)."""
    found = {}
    for kind, backup_id in folders(repo):
        ref = f"{kind}/{backup_id}"
        manifest = repo.load(kind, backup_id)
        if f"{manifest.type}/{manifest.id}" != ref:
            raise IntegrityError(f"{repo.storage.location(ref)} holds the manifest of "
                                 f"{manifest.type}/{manifest.id}",
                                 "a copied or moved folder: fix its manifest or move it out of "
                                 "the repository, then run cleanup again")
        found[ref] = manifest
    return found


def _location_plan(repo: Repository, policy: retention.Policy,
                   now: dt.datetime) -> Dict[str, Any]:
    manifests = _manifests(repo)
    decisions = retention.plan([item_of(m) for m in manifests.values()], policy, now)
    kept: List[Dict[str, Any]] = []
    gone: List[Dict[str, Any]] = []
    for decision in decisions:
        entry = dict(decision.to_dict(), size=manifests[decision.ref].size)
        (kept if decision.keep else gone).append(entry)
    return {"name": repo.storage.name, "location": repo.storage.location(), "kept": kept,
            "delete": gone, "leftovers": repo.incomplete(),
            "freed_bytes": sum(e["size"] for e in gone)}


def _apply(repo: Repository, plan: Dict[str, Any]) -> None:
    # Newest first: a backup is deleted before anything it depends on.
    for entry in plan["delete"]:
        files = repo.remove_folder(entry["ref"])
        log.info("cleanup: deleted %s from %s (%d files; %s)", entry["ref"],
                 repo.storage.location(), files, "; ".join(entry["reasons"]))
    for folder in plan["leftovers"]:
        repo.remove_folder(folder)
        log.info("cleanup: removed %s from %s (leftover of an interrupted run)", folder,
                 repo.storage.location())


def run_cleanup(locations: List[Repository], policy: retention.Policy, dry_run: bool = False,
                now: Optional[dt.datetime] = None) -> Dict[str, Any]:
    """Every location is planned before any is changed, so a damaged manifest anywhere stops
    the whole cleanup before it deletes a thing."""
    now = now or utcnow()
    plans = [_location_plan(repo, policy, now) for repo in locations]
    results = []
    for repo, plan in zip(locations, plans):
        if not dry_run:
            _apply(repo, plan)
        gone, leftovers = plan.pop("delete"), plan.pop("leftovers")
        if dry_run:
            plan.update(would_delete=gone, would_remove_leftovers=leftovers)
        else:
            plan.update(deleted=gone, removed_leftovers=leftovers)
        results.append(plan)
    changed = any(p.get("would_delete" if dry_run else "deleted") or
                  p.get("would_remove_leftovers" if dry_run else "removed_leftovers")
                  for p in results)
    return {"changed": changed, "dry_run": dry_run, "policy": policy.rules(),
            "policy_text": policy.describe(), "locations": results}
