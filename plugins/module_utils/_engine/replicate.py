"""Copy a published backup to another repository (S3): data files first, each verified
while it streams, the manifest last, so the copy counts as a backup only once every byte
is there. The bytes are copied as stored (compressed, and encrypted when encryption is
on), so replication needs to know nothing about either."""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Dict

from .errors import IntegrityError, SandstoneError
from .manifest import NAME as MANIFEST, Manifest
from .repository import Repository

log = logging.getLogger("sandstone")


def replicate(manifest: Manifest, source: Repository, target: Repository) -> Dict[str, Any]:
    """Copy one backup. On failure everything written to ``target`` for it is removed
    (best effort; the next run's leftover cleanup removes the rest) and the error raised."""
    folder = f"{manifest.type}/{manifest.id}"
    clock = time.monotonic()
    copied = []
    log.info("copying %s to %s", folder, target.storage.location(folder))
    try:
        for record in manifest.files:
            key = Repository.key(manifest.type, manifest.id, record.name)
            digest, size = hashlib.sha256(), 0
            with target.storage.writer(key) as writer:
                for block in source.storage.iter_chunks(key, 1 << 20):
                    digest.update(block)
                    size += len(block)
                    writer.write(block)
                if size != record.size or digest.hexdigest() != record.sha256:
                    # The local file changed since it was written: never publish such a copy.
                    raise IntegrityError(f"{source.storage.location(key)} no longer matches its "
                                         f"manifest ({size} bytes, expected {record.size})",
                                         "the local backup is damaged; take a new one")
                writer.commit()
            copied.append({"name": record.name, "size": size, "sha256": record.sha256,
                           "location": target.storage.location(key),
                           "verified_by": getattr(writer, "verified_by", "")})
        target.publish(manifest)  # the manifest object last
    except BaseException:
        try:
            target.remove_folder(folder)
        except SandstoneError as cleanup:
            log.warning("could not remove the partial copy %s (%s); the next run removes it",
                        target.storage.location(folder), cleanup.one_line())
        raise
    seconds = round(time.monotonic() - clock, 3)
    log.info("copied %s to %s: %d bytes in %.1fs", folder, target.storage.location(folder),
             manifest.size, seconds)
    return {"location": target.storage.location(folder), "files": copied,
            "manifest": target.storage.location(
                Repository.key(manifest.type, manifest.id, MANIFEST)),
            "duration_seconds": seconds}
