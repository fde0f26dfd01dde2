"""Take a backup: one consistent snapshot, pg_dump through the pipeline, row counts from the
same snapshot, manifest last. On any failure the partial folder is removed."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import __version__, catalog, crypto, keys, pg, pgtools, pipeline
from .compression import SUFFIX
from .config import Settings
from .errors import ConfigError, SandstoneError
from .manifest import Manifest
from .repository import Repository, iso, utcnow

log = logging.getLogger("sandstone")
KINDS = ("full", "schema", "data")


@dataclass
class BackupRequest:
    kind: str
    tables: List[str] = field(default_factory=list)
    compression: str = "gzip"
    level: Optional[int] = None
    dry_run: bool = False
    encrypt_with: Optional[keys.MasterKey] = field(default=None, repr=False)


def request_from_settings(settings: Settings, kind: str, tables=None, dry_run=False,
                          compression: Optional[str] = None,
                          encrypt: Optional[bool] = None) -> BackupRequest:
    algo = compression or (settings["COMPRESSION"] if settings["COMPRESS"] else "none")
    encrypt = settings.get("ENCRYPT", False) if encrypt is None else encrypt
    # Without a key, refuse now: before anything is dumped.
    key = keys.writing_key(settings) if encrypt else None
    return BackupRequest(kind=kind, tables=list(tables or []), compression=algo,
                         level=settings.get("COMPRESSION_LEVEL"), dry_run=dry_run,
                         encrypt_with=key)


def _validate(request: BackupRequest) -> None:
    if request.kind not in KINDS:
        raise ConfigError(f"backup type {request.kind!r} is not one of {', '.join(KINDS)}",
                          "use full, schema or data")
    if request.kind == "data" and not request.tables:
        raise ConfigError("a data backup needs the tables to back up",
                          "name them, e.g. sandstone-backup data public.orders,public.users")
    if request.kind != "data" and request.tables:
        raise ConfigError(f"a {request.kind} backup takes no table list",
                          "use the data type to back up chosen tables")
    if request.compression not in SUFFIX:
        raise ConfigError(f"compression {request.compression!r} is not gzip, zstd or none",
                          "set COMPRESSION to gzip or zstd")


def _dump_args(request: BackupRequest, tables: List[catalog.TableRef]) -> List[str]:
    args = ["--format=custom", "--compress=0", "--no-password"]
    if request.kind == "schema":
        args.append("--schema-only")
    for table in tables:
        args.append(f"--table={table.quoted()}")
    return args


def _tables_to_count(conn, request: BackupRequest, tables: List[catalog.TableRef]):
    if request.kind == "schema":
        return []
    if request.kind == "data":
        return tables
    return [catalog.TableRef(t["schema"], t["name"]) for t in catalog.user_tables(conn)]


def _security(snap, request: BackupRequest, counted: List[Dict[str, Any]]) -> List[Dict]:
    """Row-level security from the backup's snapshot: the RLS flag of each counted table
    (added to its entry) and the pg_policies rows, so 'restore verify' can compare a live
    database with what was backed up. A data backup records its tables' policies only."""
    rls = {(t["schema"], t["name"]): t["rls"] for t in catalog.user_tables(snap)}
    for table in counted:
        table["rls"] = rls.get((table["schema"], table["name"]), False)
    policies = catalog.policies(snap)
    if request.kind == "data":
        wanted = {(t["schema"], t["name"]) for t in counted}
        policies = [p for p in policies if (p["schema"], p["table"]) in wanted]
    return policies


def run_backup(settings: Settings, spec: pg.ConnSpec, repo: Repository,
               request: BackupRequest) -> Dict[str, Any]:
    _validate(request)
    from .supabase_conn import resolve_profile
    if request.kind == "full" and resolve_profile(settings.get("PROFILE"), spec.host) == "supabase":
        from . import supabase_backup
        return supabase_backup.run_backup(settings, spec, repo, request)
    conn = pg.connect(spec)
    try:
        major = pg.server_major(conn)
        server_version = pg.server_version_text(conn)
        dump = pgtools.find_tool("pg_dump", major, settings.get("PG_BIN_DIR"))
        tables = catalog.resolve_tables(conn, request.tables) if request.kind == "data" else []
        if request.dry_run:
            return _plan(conn, spec, repo, request, tables, dump, server_version)
    finally:
        conn.close()
    return _take(spec, repo, request, tables, dump, server_version)


def _plan(conn, spec, repo, request, tables, dump, server_version) -> Dict[str, Any]:
    listed = catalog.user_tables(conn)
    if request.kind == "data":
        wanted = {(t.schema, t.name) for t in tables}
        listed = [t for t in listed if (t["schema"], t["name"]) in wanted]
    return {"changed": True, "dry_run": True, "type": request.kind, "database": spec.dbname,
            "server_version": server_version, "pg_dump": dump.path,
            "destination": repo.storage.location(request.kind),
            "compression": request.compression,
            "encryption": crypto.describe(request.encrypt_with) if request.encrypt_with else None,
            "tables": [] if request.kind == "schema" else listed,
            "estimated_bytes": sum(t["bytes"] for t in listed)}


def _take(spec, repo, request, tables, dump, server_version) -> Dict[str, Any]:
    started = utcnow()
    clock = time.monotonic()
    backup_id = repo.new_id(request.kind, started)
    folder = f"{request.kind}/{backup_id}"
    name = f"{spec.dbname}.dump{SUFFIX[request.compression]}"
    if request.encrypt_with is not None:
        name += crypto.SUFFIX  # for people only: readers go by the manifest and magic bytes
    record = pipeline.FileRecord(name=name, content="pg_custom", compression=request.compression)
    log.info("backup %s of %s started -> %s", request.kind, spec.describe(),
             repo.storage.location(folder))
    # The snapshot connection stays idle in its transaction until pg_dump is done:
    # pg_dump and the row counts then see exactly the same data.
    snap = pg.connect(spec, autocommit=False)
    try:
        snapshot, lsn = pg.export_snapshot(snap)
        argv = [dump.path, *_dump_args(request, tables), f"--snapshot={snapshot}",
                f"--dbname={spec.conninfo()}"]
        with pg.libpq_env(spec) as env:
            stderr = pgtools.stream_from(
                "pg_dump", argv, env,
                lambda chunks: pipeline.store(chunks, repo.storage, f"{folder}/{name}", record,
                                              request.level, request.encrypt_with))
        for line in stderr.splitlines():
            log.warning("pg_dump: %s", line)
        counted = [{"schema": t.schema, "name": t.name, "rows": catalog.count_rows(snap, t)}
                   for t in _tables_to_count(snap, request, tables)]
        policies = _security(snap, request, counted)
        snap.rollback()
        finished = utcnow()
        manifest = Manifest(
            id=backup_id, type=request.kind, database=spec.dbname, host=spec.host,
            started_at=iso(started), finished_at=iso(finished),
            duration_seconds=round(time.monotonic() - clock, 3), server_version=server_version,
            pg_dump_version=dump.version, lsn=lsn, files=[record], tables=counted,
            options={"tables": [t.qualified for t in tables]}, tool_version=__version__,
            encryption=record.encryption, policies=policies)
        repo.publish(manifest)
    except BaseException as exc:
        removed = repo.remove_folder(folder)
        if isinstance(exc, SandstoneError):
            log.error("backup %s failed: %s (removed %d partial files)", request.kind,
                      exc.one_line(), removed)
        raise
    finally:
        snap.close()
    log.info("backup %s %s finished: %d bytes in %.1fs", request.kind, backup_id,
             manifest.size, manifest.duration_seconds)
    return {"changed": True, "backup_id": backup_id, "location": repo.storage.location(folder),
            "manifest": manifest.summary(), "files": [f.to_dict() for f in manifest.files],
            "tables": counted}
