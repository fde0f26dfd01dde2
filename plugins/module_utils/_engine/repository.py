"""The backup repository layout: <type>/<id>/ files plus manifest.json, the same on every
storage. Listing sees only backups whose manifest exists."""
from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional

from .errors import NotFound
from .manifest import NAME as MANIFEST, Manifest
from .storage.base import Storage

TYPES = ("full", "schema", "data")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


class Repository:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def key(kind: str, backup_id: str, name: str) -> str:
        return f"{kind}/{backup_id}/{name}"

    def new_id(self, kind: str, moment: dt.datetime) -> str:
        """Ids sort by time (20260126T020000Z); a second backup in the same second gets -2."""
        base = moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        candidate, n = base, 1
        while self.storage.list(f"{kind}/{candidate}"):
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def publish(self, manifest: Manifest) -> None:
        """Write the manifest last: from this moment on the backup exists."""
        self.storage.put_bytes(self.key(manifest.type, manifest.id, MANIFEST), manifest.to_json())

    def load(self, kind: str, backup_id: str) -> Manifest:
        key = self.key(kind, backup_id, MANIFEST)
        return Manifest.from_json(self.storage.read_bytes(key), self.storage.location(key))

    def _ids(self, kind: str) -> Dict[str, List[str]]:
        """backup id -> keys under it, for every folder of this type."""
        folders: Dict[str, List[str]] = {}
        for key in self.storage.list(kind):
            parts = key.split("/")
            if len(parts) >= 3:
                folders.setdefault(parts[1], []).append(key)
        return folders

    def list(self, kind: Optional[str] = None) -> List[Manifest]:
        """Complete backups, oldest first."""
        found = []
        for each in ([kind] if kind else TYPES):
            for backup_id, keys in sorted(self._ids(each).items()):
                if self.key(each, backup_id, MANIFEST) in keys:
                    found.append(self.load(each, backup_id))
        return sorted(found, key=lambda m: (m.started_at, m.id))

    def incomplete(self, kind: Optional[str] = None) -> List[str]:
        """Folders without a manifest: leftovers of an interrupted run."""
        left = []
        for each in ([kind] if kind else TYPES):
            for backup_id, keys in sorted(self._ids(each).items()):
                if self.key(each, backup_id, MANIFEST) not in keys:
                    left.append(f"{each}/{backup_id}")
        return left

    def find(self, backup_id: str, kinds=TYPES) -> Manifest:
        if backup_id in ("latest", "newest"):
            backups = [m for m in self.list() if m.type in kinds]
            if not backups:
                raise NotFound(f"no {'/'.join(kinds)} backup in {self.storage.location()}",
                               "take one with 'sandstone-backup full'")
            return backups[-1]
        for kind in kinds:
            if self.storage.exists(self.key(kind, backup_id, MANIFEST)):
                return self.load(kind, backup_id)
        raise NotFound(f"backup {backup_id} not found in {self.storage.location()}",
                       "list backups with 'sandstone-backup restore list'")

    def remove_folder(self, folder: str) -> int:
        """Delete a backup folder's files, manifest first so it stops counting at once."""
        keys = self.storage.list(folder)
        keys.sort(key=lambda k: not k.endswith("/" + MANIFEST))
        for key in keys:
            self.storage.delete(key)
        return len(keys)
