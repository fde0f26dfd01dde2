"""Remove what interrupted runs left behind, at the start of each backup run, and say so.

Leftovers: backup folders without a manifest and ``.partial`` files (local), unfinished
multipart uploads and backup prefixes without a manifest object (S3).

The rule, so a run never removes what another run is writing right now:
- a leftover is removed when its newest byte is older than GRACE_SECONDS (1 hour; no
  backup run stays silent that long: every write refreshes the modification time), or
- at once, when no other backup run on this host is alive (inflight markers: a marker
  whose process is gone is a dead writer). On S3 this fast path applies only to backups
  this host made (their id exists in the local repository), since another host may share
  the bucket and be uploading right now.
Nothing is ever removed from a folder that has a manifest, except stray ``.partial`` files."""
from __future__ import annotations

import logging
import time
from typing import List, Optional

from . import inflight
from .errors import SandstoneError
from .manifest import NAME as MANIFEST
from .repository import TYPES, Repository

log = logging.getLogger("sandstone")
GRACE_SECONDS = 3600


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
    alone = not inflight.other_live_runs(local.storage.location())
    cleaned: List[str] = []
    own_ids = _local_ids(local)

    def stale(storage, keys: List[str]) -> bool:
        return now - _newest(storage, keys) > GRACE_SECONDS

    for folder in local.incomplete():
        keys = local.storage.list(folder)
        if alone or stale(local.storage, keys):
            local.remove_folder(folder)
            cleaned.append(f"{local.storage.location(folder)} ({len(keys)} files, no manifest)")
    for kind in TYPES:
        for key in local.storage.list(kind):
            if key.endswith(".partial") and (alone or stale(local.storage, [key])):
                local.storage.delete(key)
                cleaned.append(f"{local.storage.location(key)} (unfinished file)")
    if remote is not None:
        try:
            cleaned += _clean_remote(remote, own_ids, alone, now)
        except SandstoneError as exc:
            # S3 trouble must not stop the local backup; the upload reports it loudly.
            log.warning("could not check %s for leftovers: %s", remote.storage.location(),
                        exc.one_line())
    for line in cleaned:
        log.warning("removed leftover of an interrupted run: %s", line)
    return cleaned


def _clean_remote(remote: Repository, own_ids: set, alone: bool, now: float) -> List[str]:
    storage = remote.storage
    cleaned = []
    for upload in storage.unfinished_uploads():
        folder = "/".join(upload["key"].split("/")[:2])
        if (alone and folder in own_ids) or now - upload["started"] > GRACE_SECONDS:
            storage.abort_upload(upload["key"], upload["upload_id"])
            cleaned.append(f"{storage.location(upload['key'])} (unfinished multipart upload)")
    for folder in remote.incomplete():
        keys = storage.list(folder)
        if (alone and folder in own_ids) or now - _newest(storage, keys) > GRACE_SECONDS:
            remote.remove_folder(folder)
            cleaned.append(f"{storage.location(folder)} ({len(keys)} objects, no manifest)")
    return cleaned
