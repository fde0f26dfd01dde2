"""A full backup of a Supabase project: one folder (type full, profile supabase) holding,
separately, the custom roles (no passwords), the schema of the user's schemas, the data of
the user's tables plus auth.users, auth.identities, storage.buckets and storage.objects, and
the user's own objects on platform tables. Everything comes from ONE exported snapshot;
each file goes through the same pipeline (sha256, compression, manifest record).

Runs as the project's non-superuser ``postgres``: nothing here needs more."""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List

from . import __version__, catalog, crypto, pg, pgtools, pipeline, supabase
from .catalog import TableRef
from .compression import SUFFIX
from .errors import OperationFailed, SandstoneError
from .manifest import Manifest
from .repository import Repository, iso, utcnow
from .supabase_conn import check_for_dump

log = logging.getLogger("sandstone")

ROLES, SCHEMA, DATA, PLATFORM = "roles", "schema", "data", "platform"


def _pattern(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_dump_args(schemas: List[str], extensions: List[Dict[str, str]]) -> List[str]:
    """pg_dump of the user's schemas only: platform schemas' DDL stays out, and so do
    publications (supabase_realtime exists in every project) and event triggers."""
    args = ["--schema-only", "--format=custom", "--compress=0", "--no-password",
            "--no-publications", "--no-subscriptions"]
    args += [f"--schema={_pattern(s)}" for s in schemas]
    # extensions installed INTO a user schema belong with it (-n alone leaves them out)
    args += [f"--extension={_pattern(e['name'])}" for e in extensions if e["schema"] in schemas]
    return args


def data_dump_args(schemas: List[str], platform: List[TableRef]) -> List[str]:
    args = ["--data-only", "--format=custom", "--compress=0", "--no-password",
            "--no-publications", "--no-subscriptions"]
    args += [f"--table={_pattern(s)}.*" for s in schemas]
    args += [f"--table={t.quoted()}" for t in platform]
    return args


def run_backup(settings, spec: pg.ConnSpec, repo: Repository, request) -> Dict[str, Any]:
    if request.kind != "full":
        raise OperationFailed("the supabase profile is used for full backups only",
                              "call this for full backups")
    check_for_dump(spec.params.get("host", ""), spec.params.get("port", ""), spec.user, "backups")
    conn = pg.connect(spec)
    try:
        major = pg.server_major(conn)
        server_version = pg.server_version_text(conn)
        dump = pgtools.find_tool("pg_dump", major, settings.get("PG_BIN_DIR"))
        if request.dry_run:
            return _plan(conn, spec, repo, request, dump, server_version)
    finally:
        conn.close()
    return _take(spec, repo, request, dump, server_version)


def _plan(conn, spec, repo, request, dump, server_version) -> Dict[str, Any]:
    schemas = supabase.user_schemas(conn)
    platform = supabase.existing_platform_tables(conn)
    roles = supabase.custom_roles(conn)
    listed = [t for t in catalog.user_tables(conn) if t["schema"] in schemas
              or TableRef(t["schema"], t["name"]) in platform]
    return {"changed": True, "dry_run": True, "type": "full", "profile": "supabase",
            "database": spec.dbname, "server_version": server_version, "pg_dump": dump.path,
            "destination": repo.storage.location("full"), "compression": request.compression,
            "user_schemas": schemas, "roles": [r["rolname"] for r in roles],
            "platform_tables": [t.qualified for t in platform], "tables": listed,
            "estimated_bytes": sum(t["bytes"] for t in listed)}


def _store_bytes(repo, folder, name, part, content, data: bytes, level,
                 key=None) -> pipeline.FileRecord:
    record = pipeline.FileRecord(name=name, content=content, compression=part[1],
                                 extra={"part": part[0]})
    return pipeline.store(iter([data]), repo.storage, f"{folder}/{name}", record, level, key)


def _dump(dump, args, snapshot, spec, repo, folder, name, part, level,
          key=None) -> pipeline.FileRecord:
    record = pipeline.FileRecord(name=name, content="pg_custom", compression=part[1],
                                 extra={"part": part[0]})
    argv = [dump.path, *args, f"--snapshot={snapshot}", f"--dbname={spec.conninfo()}"]
    with pg.libpq_env(spec) as env:
        stderr = pgtools.stream_from(
            "pg_dump", argv, env,
            lambda chunks: pipeline.store(chunks, repo.storage, f"{folder}/{name}", record, level,
                                          key))
    for line in stderr.splitlines():
        log.warning("pg_dump (%s): %s", part[0], line)
    return record


def _take(spec, repo, request, dump, server_version) -> Dict[str, Any]:
    started = utcnow()
    clock = time.monotonic()
    backup_id = repo.new_id("full", started)
    folder = f"full/{backup_id}"
    algo, level, key = request.compression, request.level, request.encrypt_with
    # the .enc suffix is for people only: readers go by the manifest and magic bytes
    suffix = SUFFIX[algo] + (crypto.SUFFIX if key is not None else "")
    log.info("backup full (profile supabase) of %s started -> %s", spec.describe(),
             repo.storage.location(folder))
    snap = pg.connect(spec, autocommit=False)
    try:
        snapshot, lsn = pg.export_snapshot(snap)
        supabase.catalog_session(snap)
        schemas = supabase.user_schemas(snap)
        platform = supabase.existing_platform_tables(snap)
        if not platform:
            log.warning("%s has none of auth.users, auth.identities, storage.buckets, "
                        "storage.objects: is it a Supabase project?", spec.describe())
        roles = supabase.custom_roles(snap)
        statements = supabase.role_statements(
            roles, supabase.memberships(snap, [r["rolname"] for r in roles]))
        facts = supabase.facts(snap, schemas)
        files = [
            _store_bytes(repo, folder, f"roles.sql{suffix}", (ROLES, algo), "sql",
                         supabase.roles_sql(statements), level, key),
            _dump(dump, schema_dump_args(schemas, facts["extensions"]), snapshot, spec, repo,
                  folder, f"schema.dump{suffix}", (SCHEMA, algo), level, key),
            _dump(dump, data_dump_args(schemas, platform), snapshot, spec, repo, folder,
                  f"data.dump{suffix}", (DATA, algo), level, key),
            _store_bytes(repo, folder, f"platform.sql{suffix}", (PLATFORM, algo), "sql",
                         supabase.platform_sql(facts["platform_triggers"],
                                               facts["platform_policies"],
                                               facts["realtime_tables"]), level, key),
        ]
        counted = [{"schema": t.schema, "name": t.name, "rows": catalog.count_rows(snap, t)}
                   for t in supabase.user_tables(snap, schemas) + platform]
        snap.rollback()
        finished = utcnow()
        manifest = Manifest(
            id=backup_id, type="full", database=spec.dbname, host=spec.host,
            started_at=iso(started), finished_at=iso(finished),
            duration_seconds=round(time.monotonic() - clock, 3), server_version=server_version,
            pg_dump_version=dump.version, lsn=lsn, files=files, tables=counted,
            options={"supabase": {**facts, "platform_tables": [t.qualified for t in platform],
                                  "roles": [r["rolname"] for r in roles]}},
            tool_version=__version__, profile="supabase", encryption=files[0].encryption)
        repo.publish(manifest)
    except BaseException as exc:
        removed = repo.remove_folder(folder)
        if isinstance(exc, SandstoneError):
            log.error("backup full (profile supabase) failed: %s (removed %d partial files)",
                      exc.one_line(), removed)
        raise
    finally:
        snap.close()
    log.info("backup full (profile supabase) %s finished: %d bytes in %.1fs", backup_id,
             manifest.size, manifest.duration_seconds)
    warnings = [f"event trigger {name} is not in the backup: only a superuser can create event "
                f"triggers, which a Supabase project's postgres is not" for name in
                facts["event_triggers"]]
    for warning in warnings:
        log.warning("backup: %s", warning)
    return {"changed": True, "backup_id": backup_id, "profile": "supabase", "warnings": warnings,
            "location": repo.storage.location(folder), "manifest": manifest.summary(),
            "files": [f.to_dict() for f in manifest.files], "tables": counted,
            "roles": [r["rolname"] for r in roles], "user_schemas": schemas}
