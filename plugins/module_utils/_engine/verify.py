"""Verify the repository: every kept backup in every location is read back end to end
through the pipeline (stored SHA-256, decrypt, decompress, plain SHA-256), its manifest
is checked against the files, and a pg_dump archive's table of contents is read by
``pg_restore --list`` in the same pass. The result goes into the manifest's ``verify``
list (the manifest is rewritten atomically) and a failure names the backup."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import __version__, pgtools, pipeline
from .config import Settings
from .errors import IntegrityError, NotFound, SandstoneError, ToolError
from .manifest import NAME as MANIFEST, Manifest
from .repository import TYPES, Repository, iso, utcnow

log = logging.getLogger("sandstone")
HISTORY = 20  # verify records kept per manifest
MAJOR_RE = re.compile(r"^\s*(\d+)")


@dataclass
class VerifyRequest:
    backup_ids: List[str] = field(default_factory=list)  # empty: every backup
    record: bool = True  # write the result into each manifest (False in check mode)
    keys: Any = None  # decryption keys for encrypted backups, handed to the pipeline


def plain_chunks(storage, key: str, record: pipeline.FileRecord, keys: Any) -> Iterator[bytes]:
    """The one place verify reads a stored file: the same pipeline call a restore uses
    (hashes checked, decrypted with ``keys`` when the backup is encrypted)."""
    return pipeline.read_plain(storage, key, record, keys=keys)


def folders(repo: Repository, kinds=TYPES) -> List[Tuple[str, str]]:
    """(type, id) of every folder holding a manifest, even an unreadable one (verify must
    report a damaged manifest, where listing would stop at it)."""
    found = []
    for kind in kinds:
        for key in repo.storage.list(kind):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == MANIFEST:
                found.append((kind, parts[1]))
    return sorted(found, key=lambda f: (f[1], f[0]))


class _Drain(threading.Thread):
    """Collect a child's stdout so it never blocks on a full pipe."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.data = b""

    def run(self) -> None:
        parts = []
        for block in iter(lambda: self.stream.read(65536), b""):
            parts.append(block)
        self.data = b"".join(parts)
        self.stream.close()


def _read_with_toc(chunks: Iterator[bytes], tool: pgtools.Tool) -> Tuple[int, str]:
    """Feed the plain stream to ``pg_restore --list`` and read all of it (pg_restore may stop
    after the table of contents; the hashes are only checked at the end of the stream)."""
    proc = pgtools.Process("pg_restore", [tool.path, "--list"], dict(os.environ),
                           stdin=subprocess.PIPE)
    drain = _Drain(proc.popen.stdout)
    drain.start()
    sink, total = proc.popen.stdin, 0
    try:
        for block in chunks:
            total += len(block)
            if sink is not None:
                try:
                    sink.write(block)
                except BrokenPipeError:
                    sink = None  # pg_restore has what it needs; keep reading for the hashes
    except BaseException:
        proc.kill()
        drain.join()
        proc.stderr.text()
        raise
    finally:
        try:
            proc.popen.stdin.close()
        except BrokenPipeError:
            pass
    drain.join()
    try:
        proc.finish()
    except ToolError as exc:  # pg_restore ran and rejected the archive: a verdict on it
        raise IntegrityError(f"the archive's table of contents does not read ({exc.message})",
                             "use another backup") from None
    return total, drain.data.decode("utf-8", "replace")


def _missing_from_toc(manifest: Manifest, toc: str) -> List[str]:
    """Tables the manifest counted rows for must have their data in the archive."""
    if manifest.type == "schema":
        return []
    lines = toc.splitlines()
    missing = []
    for table in manifest.tables:
        needle = f" TABLE DATA {table['schema']} {table['name']} "
        if not any(needle in line + " " for line in lines):
            missing.append(f"{table['schema']}.{table['name']}")
    return missing


class _Tools:
    """pg_restore for the archive's pg_dump major, found once per major."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.found: Dict[int, pgtools.Tool] = {}

    def pg_restore(self, manifest: Manifest) -> pgtools.Tool:
        match = MAJOR_RE.match(manifest.pg_dump_version or manifest.server_version or "")
        major = int(match.group(1)) if match else 0
        if major not in self.found:
            self.found[major] = pgtools.find_tool("pg_restore", major,
                                                  self.settings.get("PG_BIN_DIR"))
        return self.found[major]


def check_backup(repo: Repository, folder: str, manifest: Manifest, tools: _Tools,
                 keys: Any = None) -> Dict[str, Any]:
    """Check one backup; return {ok, error, bytes, files}. Integrity problems are results,
    not exceptions; a missing pg_restore is an exception (the backup may be fine)."""
    storage = repo.storage
    checked: List[Dict[str, Any]] = []
    tocs: List[str] = []
    stored = 0
    try:
        if f"{manifest.type}/{manifest.id}" != folder:
            raise IntegrityError(f"its manifest describes {manifest.type}/{manifest.id}")
        if not manifest.files:
            raise IntegrityError(f"manifest of {folder} lists no files")
        for record in manifest.files:
            key = f"{folder}/{record.name}"
            if not storage.exists(key):
                raise IntegrityError(f"{record.name} is missing")
            size = storage.size(key)
            if size != record.size:
                raise IntegrityError(f"{record.name} is {size} bytes, its manifest says "
                                     f"{record.size}")
            chunks = plain_chunks(storage, key, record, keys)
            if record.content == "pg_custom":
                plain, toc = _read_with_toc(chunks, tools.pg_restore(manifest))
                tocs.append(toc)
                entries = sum(1 for line in toc.splitlines() if line and not line.startswith(";"))
            else:
                plain = sum(len(block) for block in chunks)
                entries = None
            stored += size
            checked.append({"name": record.name, "size": size, "plain_size": plain,
                            "toc_entries": entries})
        # A backup may split schema and data over several archives (the supabase profile):
        # every counted table must have its data in one of them.
        missing = _missing_from_toc(manifest, "\n".join(tocs)) if tocs else []
        if missing:
            raise IntegrityError(f"no archive of {folder} holds data for {', '.join(missing)}")
    except ToolError:
        raise  # pg_restore cannot be found or started: not a verdict on the backup
    except SandstoneError as exc:
        return {"ok": False, "error": _short(exc.message, storage.location(folder)),
                "bytes": stored, "files": checked}
    return {"ok": True, "error": None, "bytes": stored, "files": checked}


def _short(message: str, where: str) -> str:
    """Messages from the pipeline start with the full path; the caller names the backup."""
    return message.replace(where + "/", "")


def _record(repo: Repository, manifest: Manifest, entry: Dict[str, Any]) -> None:
    manifest.verify = (manifest.verify + [entry])[-HISTORY:]
    repo.publish(manifest)  # temp file + rename (S3: one PUT): never half a manifest


def run_verify(settings: Settings, locations: List[Repository],
               request: Optional[VerifyRequest] = None) -> Dict[str, Any]:
    request = request or VerifyRequest()
    tools = _Tools(settings)
    results: List[Dict[str, Any]] = []
    wanted = set(request.backup_ids)
    for repo in locations:
        where = repo.storage.location()
        for kind, backup_id in folders(repo):
            if wanted and backup_id not in wanted:
                continue
            ref = f"{kind}/{backup_id}"
            at = iso(utcnow())
            try:
                manifest = repo.load(kind, backup_id)
            except SandstoneError as exc:
                results.append({"ref": ref, "id": backup_id, "type": kind, "location": where,
                                "storage": repo.storage.name, "at": at, "ok": False,
                                "error": f"manifest unreadable: {exc.message}",
                                "bytes": 0, "recorded": False})
                continue
            log.info("verify %s in %s", ref, where)
            outcome = check_backup(repo, ref, manifest, tools, request.keys)
            entry = {"at": at, "location": where, "ok": outcome["ok"],
                     "error": outcome["error"], "bytes": outcome["bytes"],
                     "tool_version": __version__}
            # A manifest naming another folder would be published there: never record it.
            recorded = request.record and f"{manifest.type}/{manifest.id}" == ref
            if recorded:
                _record(repo, manifest, entry)
            if not outcome["ok"]:
                log.error("verify %s in %s failed: %s", ref, where, outcome["error"])
            results.append(dict(entry, ref=ref, id=backup_id, type=kind,
                                storage=repo.storage.name, files=outcome["files"],
                                recorded=recorded))
    missing = sorted(wanted - {r["id"] for r in results})
    if missing:
        raise NotFound(f"backup {', '.join(missing)} not found in any location",
                       "list backups with 'sandstone-backup restore list'")
    failed = [r for r in results if not r["ok"]]
    summary = {"changed": False, "checked": len(results), "failures": len(failed),
               "bytes": sum(r["bytes"] for r in results), "backups": results,
               "locations": [repo.storage.location() for repo in locations]}
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        error = IntegrityError(f"verify failed for {len(failed)} of {len(results)} backups: "
                               f"{first['ref']} in {first['location']}: {first['error']}{more}",
                               "do not rely on the failed backups; take a new backup and "
                               "investigate the storage")
        error.details = summary
        raise error
    return summary
