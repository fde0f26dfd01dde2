"""Restore a backup: verify every byte first, refuse to overwrite data unless told, run the
whole restore in one transaction, then check the row counts against the manifest.

A restore either commits completely or leaves the target as it was (a database created
for it is dropped again)."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from psycopg import sql

from . import catalog, keys, pg, pgtools, pipeline
from .config import Settings
from .errors import ConfigError, IntegrityError, NotFound, SandstoneError, TargetNotEmpty
from .manifest import NAME as MANIFEST_NAME, Manifest
from .repository import Repository
from .storage.local import LocalStorage

log = logging.getLogger("sandstone")
MODES = ("full", "schema", "table")
CUSTOM_MAGIC = b"PGDMP"


@dataclass
class RestoreRequest:
    mode: str
    source: str  # a backup id, 'latest', a backup folder or a dump file
    tables: List[str] = field(default_factory=list)
    force: bool = False
    dry_run: bool = False


@dataclass
class Source:
    """Where the bytes to restore are, and what the manifest (if any) says about them."""

    storage: Any
    key: str
    record: Optional[pipeline.FileRecord]
    manifest: Optional[Manifest]
    label: str


def resolve_source(repo: Repository, request: RestoreRequest,
                   others: Sequence[Repository] = ()) -> Source:
    """``others`` are further repositories (the S3 copy) searched when ``repo`` lacks the
    backup, e.g. after the local folder was lost; 'latest' is the newest of all."""
    text = request.source
    if os.path.isdir(text) and os.path.exists(os.path.join(text, MANIFEST_NAME)):
        storage = LocalStorage(text)
        manifest = Manifest.from_json(storage.read_bytes(MANIFEST_NAME), storage.location(MANIFEST_NAME))
        return Source(storage, manifest.files[0].name, manifest.files[0], manifest, text)
    if os.path.isfile(text):
        # A dump file without a manifest, e.g. the original shell scripts' .sql.gz.
        path = os.path.abspath(text)
        return Source(LocalStorage(os.path.dirname(path)), os.path.basename(path), None, None, path)
    if os.sep in text or text.endswith((".gz", ".zst", ".sql", ".dump")):
        raise NotFound(f"{text} does not exist", "check the path")
    kinds = {"full": ("full",), "schema": ("schema", "full"), "table": ("data", "full")}[request.mode]
    repo, manifest = _find(text, kinds, [repo, *others])
    if manifest.type not in kinds:
        raise ConfigError(f"backup {manifest.id} is a {manifest.type} backup and cannot be used "
                          f"for a {request.mode} restore", f"use a {' or '.join(kinds)} backup")
    record = manifest.files[0]
    return Source(repo.storage, f"{manifest.type}/{manifest.id}/{record.name}", record,
                  manifest, manifest.id)


def _find(backup_id: str, kinds, repos: List[Repository]):
    """The first repository holding the backup (for 'latest': the newest across all)."""
    found, missing, trouble = [], None, None
    for each in repos:
        try:
            found.append((each, each.find(backup_id, kinds)))
        except NotFound as exc:
            missing = missing or exc
        except SandstoneError as exc:
            if each is repos[0]:
                raise
            # An unreachable copy must not block a restore from the local repository.
            log.warning("could not look in %s: %s", each.storage.location(), exc.one_line())
            trouble = trouble or exc
        if found and backup_id not in ("latest", "newest"):
            break
    if not found:
        raise trouble or missing  # type: ignore[misc]
    if len(found) > 1:
        found.sort(key=lambda pair: (pair[1].started_at, pair[1].id))
    repo, manifest = found[-1]
    if len(repos) > 1 and repo is not repos[0]:
        log.info("backup %s is not in %s; reading it from %s", manifest.id,
                 repos[0].storage.location(), repo.storage.location())
    return repo, manifest


def _validate(request: RestoreRequest) -> None:
    if request.mode not in MODES:
        raise ConfigError(f"restore mode {request.mode!r} is not one of {', '.join(MODES)}",
                          "use full, schema or table")
    if request.mode == "table" and not request.tables:
        raise ConfigError("a table restore needs the table name", "e.g. restore table ID public.orders")


def _target_state(target: pg.ConnSpec, request: RestoreRequest,
                  tables: List[catalog.TableRef]) -> Dict[str, Any]:
    state: Dict[str, Any] = {"exists": pg.database_exists(target, target.dbname), "objects": 0,
                             "tables": {}}
    if not state["exists"]:
        state["tables"] = {t.qualified: {"exists": False, "rows": 0} for t in tables}
        return state
    with pg.connect(target) as conn:
        state["major"] = pg.server_major(conn)
        empty, state["objects"] = catalog.is_empty(conn)
        for table in tables:
            present = catalog.table_exists(conn, table)
            rows = catalog.count_rows(conn, table) if present else 0
            state["tables"][table.qualified] = {
                "exists": present, "rows": rows,
                "referenced_by": catalog.referencing_tables(conn, table) if present else []}
    return state


def _check_overwrite(request: RestoreRequest, target: pg.ConnSpec, state: Dict[str, Any]) -> None:
    if not state["exists"]:
        return
    if request.mode in ("full", "schema") and state["objects"] and not request.force:
        raise TargetNotEmpty(f"target database {target.dbname!r} is not empty "
                             f"({state['objects']} relations)",
                             "restore into a new database, or pass --force to overwrite it")
    restored = set(state["tables"])
    for name, info in state["tables"].items():
        others = [t for t in info.get("referenced_by", []) if t not in restored]
        if info["rows"] and request.force and others:
            raise TargetNotEmpty(f"table {name} is referenced by foreign keys from "
                                 f"{', '.join(others)}, so its rows cannot be replaced alone",
                                 f"restore them together: restore table ID "
                                 f"{','.join([name] + others)} --force")
    if request.force:
        return
    for name, info in state["tables"].items():
        if info["rows"]:
            raise TargetNotEmpty(f"table {name} in {target.dbname!r} holds {info['rows']} rows",
                                 "pass --force to replace them with the backup's rows")


def _table_refs(source: Source, request: RestoreRequest) -> List[catalog.TableRef]:
    refs = []
    for text in request.tables:
        schema, name = catalog.parse_table_name(text)
        if schema is None:
            schema = "public"
        ref = catalog.TableRef(schema, name)
        if source.manifest and source.manifest.tables is not None and source.manifest.type != "schema":
            listed = {(t["schema"], t["name"]) for t in source.manifest.tables}
            if (schema, name) not in listed:
                raise NotFound(f"table {ref.qualified} is not in backup {source.label}",
                               "list its tables with 'sandstone-backup restore list --json'")
        refs.append(ref)
    return refs


def _stages(request: RestoreRequest, custom: bool, refs: List[catalog.TableRef],
            state: Dict[str, Any], target: pg.ConnSpec, restore_tool, psql_tool) -> List[tuple]:
    psql = [psql_tool.path, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1",
            "--single-transaction", f"--dbname={target.conninfo()}"]
    if not custom:
        return [("psql", psql + ["-f", "-"])]
    opts = ["-f", "-"]
    if request.mode == "schema":
        opts.append("--schema-only")
    if request.mode in ("full", "schema") and request.force and state["objects"]:
        opts += ["--clean", "--if-exists"]
    if request.mode == "table":
        present = [state["tables"][r.qualified]["exists"] for r in refs]
        if any(present) and not all(present):
            raise ConfigError("some of the tables exist in the target and some do not",
                              "restore them in two runs: existing tables, then missing ones")
        for ref in refs:
            opts += [f"--schema={ref.schema}", f"--table={ref.name}"]
        if any(state["tables"][r.qualified]["rows"] for r in refs):
            # One statement, so tables that reference each other can be emptied together.
            psql += ["-c", sql.SQL("TRUNCATE ONLY {}").format(
                sql.SQL(", ").join(r.ident() for r in refs)).as_string(None)]
        if all(present):
            opts.append("--data-only")
    return [("pg_restore", [restore_tool.path, *opts]), ("psql", psql + ["-f", "-"])]


def run_restore(settings: Settings, repo: Repository, target: pg.ConnSpec,
                request: RestoreRequest, others: Sequence[Repository] = ()) -> Dict[str, Any]:
    _validate(request)
    source = resolve_source(repo, request, others)
    if source.manifest is not None and source.manifest.profile == "supabase":
        from . import supabase_restore  # a folder of separate files, restored in its own order
        prefix = source.key[:-len(source.manifest.files[0].name)]
        return supabase_restore.run_restore(settings, source.storage, prefix, source.manifest,
                                            target, request)
    from .supabase_conn import refuse_plain_into_supabase
    refuse_plain_into_supabase(settings.get("PROFILE"), target.host, request.mode, source.label)
    refs = _table_refs(source, request) if request.mode == "table" else []
    clock = time.monotonic()
    keyring = keys.keyring_from_settings(settings)
    # 1. Every byte is checked (and decrypted) before the target is touched.
    checked = pipeline.verify(source.storage, source.key, source.record, keyring)
    custom = checked["head"].startswith(CUSTOM_MAGIC)
    if request.mode != "full" and not custom:
        raise ConfigError(f"{source.label} is a plain SQL dump; only a full restore can use it",
                          "restore it with 'restore full'")
    # 2. What the target holds decides what we may do.
    state = _target_state(target, request, refs)
    _check_overwrite(request, target, state)
    plan = {"mode": request.mode, "backup": source.label, "target": target.describe(),
            "verified_bytes": checked["plain_size"], "create_database": not state["exists"],
            "overwrite": bool(request.force and (state["objects"] or any(
                t["rows"] for t in state["tables"].values()))),
            "tables": [t.qualified for t in refs] if refs else
            [f"{t['schema']}.{t['name']}" for t in (source.manifest.tables if source.manifest else [])]}
    plan["source_location"] = source.storage.location(source.key)
    if request.dry_run:
        return {"changed": True, "dry_run": True, "plan": plan}
    # 3. Restore in one transaction.
    major = state.get("major")
    if major is None:
        with pg.maintenance_connection(target, target.dbname) as conn:
            major = pg.server_major(conn)
    restore_tool = pgtools.find_tool("pg_restore", major, settings.get("PG_BIN_DIR"))
    psql_tool = pgtools.find_tool("psql", major, settings.get("PG_BIN_DIR"))
    created = False
    if not state["exists"]:
        pg.create_database(target, target.dbname)
        created = True
    stages = _stages(request, custom, refs, state, target, restore_tool, psql_tool)
    log.info("restore %s of %s into %s started", request.mode, source.label, target.describe())
    try:
        with pg.libpq_env(target) as env:
            pgtools.stream_into(stages, env, pipeline.read_plain(source.storage, source.key,
                                                                 source.record, keyring))
    except SandstoneError as exc:
        if created:
            pg.drop_database(target, target.dbname)
            where = f"the database {target.dbname!r} created for it was dropped again"
        else:
            where = f"{target.dbname!r} is unchanged (the restore ran in one transaction)"
        log.error("restore failed: %s; %s", exc.one_line(), where)
        exc.hint = f"{where}; {exc.hint}" if exc.hint else where
        raise
    # 4. The restored rows must match the manifest.
    checks = _verify_rows(target, source, refs, request)
    result = {"changed": True, "plan": plan, "database_created": created,
              "duration_seconds": round(time.monotonic() - clock, 3), "tables": checks}
    bad = [c for c in checks if c["restored"] != c["expected"]]
    if bad:
        first = bad[0]
        raise IntegrityError(f"restored {first['table']} has {first['restored']} rows, the backup "
                             f"recorded {first['expected']}",
                             "the restore committed; investigate before switching traffic")
    if refs and custom and request.mode == "table":
        missing = [r.qualified for r in refs if not state["tables"].get(r.qualified, {}).get("exists")]
        if missing:
            result["warnings"] = [f"{name} was recreated without its indexes, constraints, "
                                  f"triggers and policies; restore the schema to bring them back"
                                  for name in missing]
    log.info("restore %s of %s finished in %.1fs", request.mode, source.label,
             result["duration_seconds"])
    return result


def _verify_rows(target: pg.ConnSpec, source: Source, refs, request) -> List[Dict[str, Any]]:
    if request.mode == "schema" or source.manifest is None:
        return []
    wanted = {r.qualified for r in refs}
    checks = []
    with pg.connect(target) as conn:
        for table in source.manifest.tables:
            ref = catalog.TableRef(table["schema"], table["name"])
            if wanted and ref.qualified not in wanted:
                continue
            checks.append({"table": ref.qualified, "expected": table["rows"],
                           "restored": catalog.count_rows(conn, ref)})
    return checks
