"""The last steps of a disaster recovery: put a verified restored database in the live
one's place (the live one is kept under another name, never dropped), or drop a scratch
database after a drill. Both refuse to touch the live database by mistake."""
from __future__ import annotations

from typing import Any, Dict

import psycopg
from psycopg import sql

from . import pg
from .errors import ConfigError, NotFound, OperationFailed

TERMINATE = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()")


def _exists(spec: pg.ConnSpec, name: str) -> bool:
    return pg.database_exists(spec, name)


def switch(spec: pg.ConnSpec, restored: str, live: str, keep_as: str,
           dry_run: bool = False) -> Dict[str, Any]:
    """Rename live -> keep_as, then restored -> live. Sessions on both are ended first."""
    if len({restored, live, keep_as}) != 3:
        raise ConfigError("the restored, live and keep_as database names must all differ",
                          "pick a keep_as name such as app_before_restore")
    if not _exists(spec, restored):
        raise NotFound(f"restored database {restored!r} does not exist", "restore it first")
    if _exists(spec, keep_as):
        raise ConfigError(f"database {keep_as!r} already exists", "choose another keep_as name")
    live_exists = _exists(spec, live)
    plan = {"restored": restored, "live": live, "keep_as": keep_as if live_exists else None,
            "live_exists": live_exists}
    if dry_run:
        return {"changed": True, "dry_run": True, "plan": plan}
    with pg.maintenance_connection(spec, live) as conn:
        if conn.info.dbname in (restored, keep_as):
            raise ConfigError("the maintenance connection uses a database being renamed",
                              "connect through the postgres database")
        try:
            conn.execute(TERMINATE, ([live, restored],))
            if live_exists:
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(live), sql.Identifier(keep_as)))
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(restored), sql.Identifier(live)))
        except psycopg.Error as exc:
            raise OperationFailed(f"switch failed: {str(exc).strip().splitlines()[0]}",
                                  "check the database names with \\l; nothing is dropped") from None
    return {"changed": True, "plan": plan}


def drop(spec: pg.ConnSpec, name: str, live: str, dry_run: bool = False) -> Dict[str, Any]:
    """Drop a scratch database; never the live one."""
    if name == live:
        raise ConfigError(f"refusing to drop {name!r}: it is the configured (live) database",
                          "drop only scratch or restored databases")
    exists = _exists(spec, name)
    if dry_run or not exists:
        return {"changed": exists, "dry_run": dry_run, "plan": {"drop": name, "exists": exists}}
    with pg.maintenance_connection(spec, name) as conn:
        conn.execute(TERMINATE, ([name],))
    pg.drop_database(spec, name)
    return {"changed": True, "plan": {"drop": name, "exists": True}}
