"""Restore a profile-supabase backup into a fresh Supabase project, as its non-superuser
``postgres``, in the order that works there:

1. roles: each statement alone; roles that exist are skipped, refused statements reported;
2. schema: the user's schemas (pg_restore --no-owner, a filtered TOC), then the user's objects
   on platform tables, then the privileges the source had revoked revoked again - all in ONE
   transaction;
3. data: one transaction in ``session_replication_role = replica`` (what a non-superuser may
   SET on Supabase), so neither handle_new_user nor FK checks nor storage's delete guard fire;
4. verification: row counts, RLS flags, pg_policies, realtime publication, triggers on
   platform tables and privileges equal to what the backup recorded.

The target's own settings (app.settings.jwt_secret ...) are never touched: database-level
settings are not in the backup. A failure says which steps committed."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional

import psycopg

from . import catalog, keys, pg, pgtools, pipeline, supabase
from .catalog import TableRef
from .errors import ConfigError, IntegrityError, OperationFailed, SandstoneError, TargetNotEmpty, \
    ToolError
from .manifest import Manifest
from .supabase_conn import check_for_dump

log = logging.getLogger("sandstone")

# TOC entries of the schema archive a fresh project already has or a non-superuser cannot
# restore: the public schema itself (its comment and ACL belong to the platform).
SKIP_TOC = (re.compile(r"^\d+; \d+ \d+ SCHEMA - public "),
            re.compile(r"^\d+; \d+ \d+ COMMENT - SCHEMA public "),
            re.compile(r"^\d+; \d+ \d+ ACL - SCHEMA public "))
DEFAULT_ACL = re.compile(r"^\d+; \d+ \d+ DEFAULT ACL .* (\S+)$")


def _files(manifest: Manifest) -> Dict[str, pipeline.FileRecord]:
    parts = {f.extra.get("part"): f for f in manifest.files}
    missing = [p for p in ("roles", "schema", "data", "platform") if p not in parts]
    if missing:
        raise IntegrityError(f"backup {manifest.id} lacks its {', '.join(missing)} file(s)",
                             "the backup is incomplete; use another one")
    return parts


def _read(storage, prefix: str, record: pipeline.FileRecord, keyring) -> bytes:
    return b"".join(pipeline.read_plain(storage, prefix + record.name, record, keyring))


def _state(conn: psycopg.Connection) -> Dict[str, Any]:
    state = supabase.target_summary(conn)
    state["user"] = conn.execute("SELECT current_user").fetchone()[0]
    state["superuser"] = conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    return state


def _preflight(target: pg.ConnSpec, request, state: Dict[str, Any]) -> None:
    """Everything that can be refused is refused before anything changes."""
    if not state["supabase"]:
        raise ConfigError(f"{target.describe()} has no auth.users table: it is not a Supabase "
                          f"project", "restore a supabase-profile backup into a Supabase "
                          "project (or create the auth and storage schemas first)")
    rows = {k: v for k, v in state["platform_rows"].items() if v}
    if (state["objects"] or rows) and not request.force:
        held = [f"{state['objects']} relations in {', '.join(state['user_schemas'])}"] \
            if state["objects"] else []
        held += [f"{n} rows in {t}" for t, n in rows.items()]
        raise TargetNotEmpty(f"target project {target.describe()} is not empty "
                             f"({'; '.join(held)})",
                             "restore into a fresh project, or pass --force to replace the "
                             "user's schemas and the auth and storage rows")
    with pg.connect(target, autocommit=False) as conn:
        try:
            conn.execute("SET LOCAL session_replication_role = replica")
        except psycopg.Error as exc:
            raise OperationFailed(
                f"{state['user']} may not SET session_replication_role on {target.describe()} "
                f"({pg._first_line(exc)})",
                "connect as the project's postgres role (Supabase allows it that setting)") \
                from None
        finally:
            conn.rollback()


def _restore_roles(target: pg.ConnSpec, text: str) -> Dict[str, List]:
    """Each statement alone, so one refused grant does not lose the others."""
    report: Dict[str, List] = {"created": [], "existing": [], "applied": [], "refused": []}
    skip: set = set()
    with pg.connect(target) as conn:
        present = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
        for stmt in supabase.parse_roles_sql(text):
            if stmt.kind == "create" and stmt.role in present:
                report["existing"].append(stmt.role)
                skip.add(stmt.role)
                continue
            if stmt.kind in ("attribute", "setting") and stmt.role in skip:
                continue
            try:
                conn.execute(stmt.sql)
            except psycopg.Error as exc:
                report["refused"].append({"statement": stmt.sql, "error": pg._first_line(exc)})
                log.warning("roles: %s refused: %s", stmt.sql, pg._first_line(exc))
                continue
            if stmt.kind == "create":
                report["created"].append(stmt.role)
            else:
                report["applied"].append(stmt.sql)
    return report


def _toc(restore_tool, archive: str, env, user: str) -> Dict[str, Any]:
    proc = subprocess.run([restore_tool.path, "-l", archive], capture_output=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise ToolError(f"pg_restore -l failed: {proc.stderr.decode(errors='replace').strip()}",
                        "the schema archive is unreadable; use another backup")
    keep, warnings = [], []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if any(p.match(line) for p in SKIP_TOC):
            continue
        acl = DEFAULT_ACL.match(line)
        if acl and acl.group(1) != user:
            warnings.append(f"default privileges of role {acl.group(1)} not restored "
                            f"(only that role may set them): {line.split(' ', 3)[-1]}")
            continue
        keep.append(line)
    return {"list": "\n".join(keep) + "\n", "warnings": warnings}


def _owners(conn: psycopg.Connection, wanted: List[List[str]], user: str):
    """The owners a non-superuser can give objects to: existing, non-superuser, custom roles.
    The rest stay owned by ``user``, said in a warning per owner."""
    roles = {r[0]: r[1] for r in conn.execute("SELECT rolname, rolsuper FROM pg_roles")}
    doable, skipped = [], {}
    for kind, name, owner in wanted:
        if owner == user:
            continue
        if owner in roles and not roles[owner] and not supabase.is_reserved_role(owner):
            doable.append([kind, name, owner])
        else:
            skipped[owner] = skipped.get(owner, 0) + 1
    warnings = [f"{count} object(s) owned by {owner} in the source are owned by {user} now "
                f"({'a platform or superuser role' if owner in roles else 'no such role'}; a "
                f"non-superuser cannot give objects to it)" for owner, count in sorted(skipped.items())]
    return doable, warnings


def _pre_sql(facts: Dict[str, Any], force: bool) -> str:
    lines = ["SET search_path = pg_catalog;"]
    for ext in facts.get("extensions", []):
        if ext["schema"] not in facts["user_schemas"]:
            lines.append(f"CREATE EXTENSION IF NOT EXISTS {supabase.q(ext['name'])} "
                         f"WITH SCHEMA {supabase.q(ext['schema'])};")
    if force:
        lines += supabase.drop_platform_objects_sql(facts["platform_policies"])
    lines.append("RESET search_path;")
    return "\n".join(lines) + "\n"


def _psql(psql_tool, target: pg.ConnSpec) -> List[str]:
    return [psql_tool.path, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1",
            "--single-transaction", f"--dbname={target.conninfo()}"]


def _restore_schema(tmp, parts_bytes, facts, target, tools, force, user, env,
                    owners: List[List[str]]) -> List[str]:
    archive = os.path.join(tmp, "schema.dump")
    with open(archive, "wb") as handle:
        handle.write(parts_bytes["schema"])
    toc = _toc(tools["pg_restore"], archive, env, user)
    listing = os.path.join(tmp, "schema.list")
    with open(listing, "w", encoding="utf-8") as handle:
        handle.write(toc["list"])
    script = os.path.join(tmp, "schema.sql")
    argv = [tools["pg_restore"].path, "--no-owner", "-L", listing, "-f", script]
    if force:
        argv += ["--clean", "--if-exists"]
    pgtools.Process("pg_restore", argv + [archive], env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL).finish()
    if force:
        with open(script, encoding="utf-8") as handle:
            text = supabase.keep_trigger_functions(handle.read(), facts["platform_triggers"])
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(text)
    files = {"pre.sql": _pre_sql(facts, force), "platform.sql": parts_bytes["platform"].decode(),
             "owners.sql": supabase.set_owners_sql(owners),
             "acl.sql": supabase.revoke_extra_privileges_sql(facts["acl"])}
    for name, text in files.items():
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    argv = _psql(tools["psql"], target)
    for name in ("pre.sql", "schema.sql", "platform.sql", "owners.sql", "acl.sql"):
        argv += ["-f", os.path.join(tmp, name)]
    pgtools.Process("psql", argv, env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL).finish()
    return toc["warnings"]


def _restore_data(storage, prefix, record, facts, target, tools, force, env, keyring) -> None:
    psql = _psql(tools["psql"], target) + [
        "-c", "SET session_replication_role = replica",
        "-c", "SET storage.allow_delete_query = 'true'"]
    if force:  # user tables were recreated empty by the schema step; platform rows go here
        for table in reversed(facts.get("platform_tables", [])):
            schema, name = table.split(".", 1)
            psql += ["-c", f"DELETE FROM {supabase.q(schema)}.{supabase.q(name)}"]
    stages = [("pg_restore", [tools["pg_restore"].path, "--data-only", "--no-owner", "-f", "-"]),
              ("psql", psql + ["-f", "-"])]
    chunks = pipeline.read_plain(storage, prefix + record.name, record, keyring)
    pgtools.stream_into(stages, env, chunks)


def _verify(target: pg.ConnSpec, manifest: Manifest, facts: Dict[str, Any],
            owners: List[List[str]]) -> Dict[str, Any]:
    schemas = facts["user_schemas"]
    with pg.connect(target) as conn:
        supabase.catalog_session(conn)
        tables = [{"table": f"{t['schema']}.{t['name']}", "expected": t["rows"],
                   "restored": catalog.count_rows(conn, TableRef(t["schema"], t["name"]))}
                  for t in manifest.tables]
        now = {"rls": supabase.rls_flags(conn, schemas),
               "policies": supabase.policies(conn, schemas),
               "realtime_tables": [m for m in supabase.publication_tables(conn)
                                   if m["schema"] in schemas],
               "platform_triggers": supabase.platform_triggers(conn, schemas),
               "acl": {k: v for k, v in supabase.acls(conn, schemas).items() if k in facts["acl"]},
               "owners": [o for o in supabase.owners(conn, schemas)
                          if [o[0], o[1]] in [[w[0], w[1]] for w in owners]]}
    wanted = {"rls": facts["rls"], "policies": facts["policies"],
              "realtime_tables": [m for m in facts["realtime_tables"] if m["schema"] in schemas],
              "platform_triggers": facts["platform_triggers"], "acl": facts["acl"],
              "owners": owners}
    differences = []
    for name, expected in wanted.items():
        if now[name] != expected:
            differences.append(_difference(name, expected, now[name]))
    differences += [f"{t['table']} has {t['restored']} rows, the backup recorded {t['expected']}"
                    for t in tables if t["restored"] != t["expected"]]
    return {"tables": tables, "differences": differences,
            "checked": sorted(wanted) + ["row_counts"]}


def _difference(name: str, expected, actual) -> str:
    if isinstance(expected, dict):
        keys = sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))
        return f"{name} differs for {', '.join(keys[:5])}"
    exp = {json.dumps(e, sort_keys=True) for e in expected}
    act = {json.dumps(a, sort_keys=True) for a in actual}
    missing, extra = sorted(exp - act), sorted(act - exp)
    text = f"{name} differs: {len(missing)} missing in the target"
    if missing:
        text += f" (first: {missing[0]})"
    text += f", {len(extra)} not in the source"
    if extra:
        text += f" (first: {extra[0]})"
    return text


def run_restore(settings, storage, prefix: str, manifest: Manifest, target: pg.ConnSpec,
                request) -> Dict[str, Any]:
    """``storage`` + ``prefix`` locate the backup's files (full/<id>/ in a repository, or
    nothing when a backup folder was given as the source)."""
    if request.mode != "full":
        raise ConfigError(f"backup {manifest.id} was taken with the supabase profile; it is "
                          f"restored whole", f"use 'restore full {manifest.id}'")
    check_for_dump(target.params.get("host", ""), target.params.get("port", ""), target.user,
                   "restores")
    clock = time.monotonic()
    parts = _files(manifest)
    facts = manifest.options.get("supabase", {})
    keyring = keys.keyring_from_settings(settings)
    # 1. Every byte of every file is checked before the target is touched.
    verified = sum(pipeline.verify(storage, prefix + r.name, r, keyring)["plain_size"]
                   for r in parts.values())
    # Connect to the project's database itself (no maintenance database: the pooler may not
    # route to template1); a missing database is reported by pg.connect.
    with pg.connect(target) as conn:
        state = _state(conn)
        major = pg.server_major(conn)
    _preflight(target, request, state)
    plan = {"mode": "full", "profile": "supabase", "backup": manifest.id,
            "target": target.describe(), "verified_bytes": verified, "create_database": False,
            "overwrite": bool(request.force and (state["objects"] or any(
                state["platform_rows"].values()))),
            "roles": facts.get("roles", []), "user_schemas": facts.get("user_schemas", []),
            "tables": [f"{t['schema']}.{t['name']}" for t in manifest.tables],
            "steps": ["roles", "schema", "data", "verify"]}
    if request.dry_run:
        return {"changed": True, "dry_run": True, "plan": plan}
    tools = {name: pgtools.find_tool(name, major, settings.get("PG_BIN_DIR"))
             for name in ("pg_restore", "psql")}
    small = {p: _read(storage, prefix, parts[p], keyring) for p in ("roles", "schema", "platform")}
    done: List[str] = []
    result: Dict[str, Any] = {"changed": True, "plan": plan, "profile": "supabase",
                              "warnings": []}
    log.info("restore full (profile supabase) of %s into %s started", manifest.id,
             target.describe())
    try:
        roles = _restore_roles(target, small["roles"].decode("utf-8"))
        result["roles"] = roles
        done.append("roles")
        with pg.connect(target) as conn:  # after the roles step: owners may be new roles
            owners, owner_warnings = _owners(conn, facts.get("owners", []), state["user"])
        result["warnings"] += owner_warnings
        with pg.libpq_env(target) as env, tempfile.TemporaryDirectory(
                prefix="sandstone-supabase-") as tmp:
            result["warnings"] += _restore_schema(tmp, small, facts, target, tools,
                                                  request.force, state["user"], env, owners)
            done.append("schema")
            _restore_data(storage, prefix, parts["data"], facts, target, tools, request.force,
                          env, keyring)
            done.append("data")
    except SandstoneError as exc:
        where = _where(done, result.get("roles"))
        log.error("restore (profile supabase) failed: %s; %s", exc.one_line(), where)
        exc.hint = f"{where}; {exc.hint}" if exc.hint else where
        raise
    for stmt in result["roles"]["refused"]:
        result["warnings"].append(f"role statement refused: {stmt['statement']} "
                                  f"({stmt['error']}); run it in the SQL editor if it matters")
    for role in result["roles"]["existing"]:
        result["warnings"].append(f"role {role} already existed in the target; left as it was")
    logins = [line for line in small["roles"].decode().splitlines()
              if line.startswith("CREATE ROLE") and " LOGIN " in line]
    if logins:
        result["warnings"].append(f"{len(logins)} restored login role(s) have no password "
                                  f"(backups never hold them); set one with ALTER ROLE ... PASSWORD")
    checks = _verify(target, manifest, facts, owners)
    result.update(tables=checks["tables"], verified=checks["checked"],
                  duration_seconds=round(time.monotonic() - clock, 3), steps=done + ["verify"])
    for warning in result["warnings"]:
        log.warning("restore: %s", warning)
    if checks["differences"]:
        raise IntegrityError(f"the restored project differs from the backup: "
                             f"{'; '.join(checks['differences'])}",
                             "roles, schema and data committed; investigate before switching "
                             "traffic")
    log.info("restore full (profile supabase) of %s finished in %.1fs", manifest.id,
             result["duration_seconds"])
    return result


def _where(done: List[str], roles: Optional[Dict[str, List]]) -> str:
    created = ", ".join(roles["created"]) if roles and roles["created"] else "none"
    if not done:
        return "the target is unchanged (failed in the roles step; roles created: " + created + ")"
    if done == ["roles"]:
        return (f"the roles step committed (roles created: {created}); the schema step rolled "
                f"back, so the user's schemas and the data were not restored")
    return (f"the roles and schema steps committed (roles created: {created}); the data step "
            f"rolled back, so the tables exist but are empty and auth/storage rows were not "
            f"loaded; fix the cause and restore again with --force")
