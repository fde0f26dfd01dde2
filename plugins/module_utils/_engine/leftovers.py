"""Remove what interrupted runs left behind, at the start of each backup run, and say so.

Leftovers: backup folders without a manifest and ``.partial`` files (local), unfinished
multipart uploads and backup prefixes without a manifest object (S3).

The rule, so a run never removes what another run is writing right now:
- at once, when no other backup run on this host is alive (inflight markers: a marker
  whose process is gone is a dead writer). On S3 this applies only to backups this host
  made (their id exists in the local repository), since another host may share the
  bucket and be uploading right now;
- otherwise only when it is old: locally when its newest byte is older than GRACE_SECONDS
  (1 hour; a dump writes all the time, so a live writer's files are always fresh), on S3
  when its newest part (or object) was written more than REMOTE_GRACE_SECONDS ago
  (24 hours, generous: clocks of hosts sharing a bucket may differ, and a leftover in S3
  costs only storage until then).
Nothing is ever removed from a folder that has a manifest, except stray ``.partial`` files."""
from __future__ import annotations

import logging
import time
from typing import List, Optional

from . import inflight
from .errors import SandstoneError
from .repository import TYPES, Repository

log = logging.getLogger("sandstone")
GRACE_SECONDS = 3600
REMOTE_GRACE_SECONDS = 24 * 3600


def _newest(storage, keys: List[str]) -> float:
    return max((storage.modified(k) for k in keys), default=0.0)


def _local_ids(local: Repository) -> set:
    ids = set()
    for kind in TYPES:
        for key in local.storage.list(kind):
            parts = key.split("/")
            if len(parts) >= 3:
                ids.add(f"{parts[0]}/{parts[1]}")
    return ids


def clean(local: Repository, remote: Optional[Repository] = None,
          now: Optional[float] = None) -> List[str]:
    """Remove leftovers; return one line per removed leftover."""
    now = time.time() if now is None else now
    # Look first, then ask who is alive: a run writes its marker before its first byte, so
    # any leftover seen here belongs to a marker that the check below sees (or to a dead run).
    folders = {folder: local.storage.list(folder) for folder in local.incomplete()}
    partials = [key for kind in TYPES for key in local.storage.list(kind)
                if key.endswith(".partial") and "/".join(key.split("/")[:2]) not in folders]
    found_remote = None
    if remote is not None:
        try:
            found_remote = _look_remote(remote)
        except SandstoneError as exc:
            # S3 trouble must not stop the local backup; the upload reports it loudly.
            log.warning("could not check %s for leftovers: %s", remote.storage.location(),
                        exc.one_line())
    alone = not inflight.other_live_runs(local.storage.location())
    own_ids = _local_ids(local)
    cleaned: List[str] = []
    for folder, keys in folders.items():
        if alone or now - _newest(local.storage, keys) > GRACE_SECONDS:
            local.remove_folder(folder)
            cleaned.append(f"{local.storage.location(folder)} ({len(keys)} files, no manifest)")
    for key in partials:
        if alone or now - local.storage.modified(key) > GRACE_SECONDS:
            local.storage.delete(key)
            cleaned.append(f"{local.storage.location(key)} (unfinished file)")
    if found_remote is not None:
        try:
            cleaned += _clean_remote(remote, found_remote, own_ids | set(folders), alone, now)
        except SandstoneError as exc:
            log.warning("could not remove leftovers in %s: %s", remote.storage.location(),
                        exc.one_line())
    for line in cleaned:
        log.warning("removed leftover of an interrupted run: %s", line)
    return cleaned


def _look_remote(remote: Repository):
    storage = remote.storage
    uploads = storage.unfinished_uploads()
    folders = {folder: storage.list(folder) for folder in remote.incomplete()}
    return uploads, folders


def _clean_remote(remote: Repository, found, own_ids: set, alone: bool,
                  now: float) -> List[str]:
    storage = remote.storage
    uploads, folders = found
    cleaned = []
    for upload in uploads:
        folder = "/".join(upload["key"].split("/")[:2])
        if (alone and folder in own_ids) or now - upload["active"] > REMOTE_GRACE_SECONDS:
            storage.abort_upload(upload["key"], upload["upload_id"])
            cleaned.append(f"{storage.location(upload['key'])} (unfinished multipart upload)")
    for folder, keys in folders.items():
        if (alone and folder in own_ids) or now - _newest(storage, keys) > REMOTE_GRACE_SECONDS:
            remote.remove_folder(folder)
            cleaned.append(f"{storage.location(folder)} ({len(keys)} objects, no manifest)")
    return cleaned
