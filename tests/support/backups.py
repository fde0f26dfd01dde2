"""Helpers for tests that need backups of many dates: a real backup folder copied under a
new id with its manifest's times rewritten (the bytes stay those of a real backup, so
verify and restore still work on the copies)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

UTC = dt.timezone.utc


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backup_id(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def read_manifest(storage: Path, kind: str, ident: str) -> dict:
    return json.loads((storage / kind / ident / "manifest.json").read_text())


def write_manifest(storage: Path, kind: str, ident: str, data: dict) -> None:
    (storage / kind / ident / "manifest.json").write_text(json.dumps(data, indent=2))


def clone(storage: Path, kind: str, source_id: str, moment: dt.datetime,
          verify: list = None) -> str:
    """Copy backup ``kind/source_id`` to the id of ``moment``; return the new id."""
    new_id = backup_id(moment)
    shutil.copytree(storage / kind / source_id, storage / kind / new_id)
    data = read_manifest(storage, kind, new_id)
    data.update(id=new_id, started_at=stamp(moment),
                finished_at=stamp(moment + dt.timedelta(seconds=5)),
                verify=list(verify or []))
    write_manifest(storage, kind, new_id, data)
    return new_id


def folders(storage: Path, kind: str) -> list:
    """Backup ids of a type that have a manifest, sorted."""
    return sorted(p.parent.name for p in (storage / kind).glob("*/manifest.json"))


def flip_byte(path: Path, offset: int = None) -> None:
    """Change one byte in the middle of a file (same size)."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
