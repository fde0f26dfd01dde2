"""Check a live database against the newest full backup's manifest: the same tables, the
same row counts, row-level security enabled on the same tables and the same pg_policies
rows. Used after a restore or a drill ('restore verify'), and to notice a policy that was
dropped by accident (the seed's troubleshooting checks pg_policies by hand)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from . import catalog, pg
from .errors import IntegrityError, NotFound
from .manifest import Manifest
from .repository import Repository

log = logging.getLogger("sandstone")
POLICY_FIELDS = ("cmd", "roles", "qual", "with_check")


def newest_full(locations: List[Repository], backup: str = "latest") -> Tuple[Manifest, Repository]:
    """The backup to compare with: from the first location that has it."""
    last: Optional[NotFound] = None
    for repo in locations:
        try:
            return repo.find(backup, ("full",)), repo
        except NotFound as exc:
            last = exc
    raise last or NotFound("no backup location configured", "set BACKUP_DIR")


def _difference(kind: str, table: str, message: str, **extra: Any) -> Dict[str, Any]:
    return {"kind": kind, "table": table, "message": message, **extra}


def compare(manifest: Manifest, live_tables: List[Dict[str, Any]], live_rows: Dict[str, int],
            live_policies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Differences between the manifest and what the database holds, each one sentence."""
    return compare_state(manifest.tables, manifest.policies, live_tables, live_rows,
                         live_policies, "the backup")


def compare_state(expected_tables: List[Dict[str, Any]],
                  expected_policies: Optional[List[Dict[str, Any]]],
                  live_tables: List[Dict[str, Any]], live_rows: Dict[str, int],
                  live_policies: List[Dict[str, Any]], what: str) -> List[Dict[str, Any]]:
    """Differences between what ``what`` (a backup's manifest, or a reference database)
    holds and a live database: tables, row counts, RLS flags, pg_policies rows."""
    found: List[Dict[str, Any]] = []
    live = {f"{t['schema']}.{t['name']}": t for t in live_tables}
    backed = {f"{t['schema']}.{t['name']}": t for t in expected_tables}
    for name, table in backed.items():
        if name not in live:
            found.append(_difference("missing_table", name, f"table {name} is missing "
                                     f"({what} has it with {table['rows']} rows)"))
            continue
        rows = live_rows[name]
        if rows != table["rows"]:
            delta = rows - table["rows"]
            found.append(_difference("row_count", name, f"table {name} has {rows} rows, "
                                     f"{what} {table['rows']} (differs by {delta:+d})",
                                     live=rows, backup=table["rows"], delta=delta))
        if "rls" in table and bool(live[name]["rls"]) != bool(table["rls"]):
            state = "enabled" if live[name]["rls"] else "disabled"
            found.append(_difference("rls", name, f"row-level security on {name} is {state}, "
                                     f"{what} had it {'enabled' if table['rls'] else 'disabled'}",
                                     live=bool(live[name]["rls"]), backup=bool(table["rls"])))
    for name in sorted(set(live) - set(backed)):
        found.append(_difference("extra_table", name, f"table {name} is not in {what}"))
    if expected_policies is not None:
        found.extend(_compare_policies(expected_policies, live_policies, what))
    return found


def read_state(conn) -> Tuple[List[Dict[str, Any]], Dict[str, int], List[Dict[str, Any]]]:
    """What a live database holds that a backup or a restore must match: its user tables
    (with RLS flags), their exact row counts, its pg_policies rows."""
    tables = catalog.user_tables(conn)
    rows = {f"{t['schema']}.{t['name']}":
            catalog.count_rows(conn, catalog.TableRef(t["schema"], t["name"])) for t in tables}
    return tables, rows, catalog.policies(conn)


def _policy_key(policy: Dict[str, Any]) -> Tuple[str, str, str]:
    return policy["schema"], policy["table"], policy["policy"]


def _compare_policies(backed: List[Dict[str, Any]], live: List[Dict[str, Any]],
                      what: str) -> List[Dict[str, Any]]:
    found = []
    now = {_policy_key(p): p for p in live}
    then = {_policy_key(p): p for p in backed}
    for key in sorted(then):
        table, name = f"{key[0]}.{key[1]}", key[2]
        if key not in now:
            found.append(_difference("policy_missing", table, f"policy {name} on {table} is "
                                     f"missing", policy=name))
            continue
        changed = [f for f in POLICY_FIELDS if _norm(now[key].get(f)) != _norm(then[key].get(f))]
        if changed:
            detail = "; ".join(f"{f} {then[key].get(f)!r} -> {now[key].get(f)!r}" for f in changed)
            found.append(_difference("policy_changed", table, f"policy {name} on {table} "
                                     f"changed: {detail}", policy=name, fields=changed))
    for key in sorted(set(now) - set(then)):
        table, name = f"{key[0]}.{key[1]}", key[2]
        found.append(_difference("policy_extra", table, f"policy {name} on {table} is not in "
                                 f"{what}", policy=name))
    return found


def _norm(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def run_live_check(locations: List[Repository], spec: pg.ConnSpec,
                   backup: str = "latest") -> Dict[str, Any]:
    manifest, repo = newest_full(locations, backup)
    with pg.connect(spec) as conn:
        live_tables, live_rows, live_policies = read_state(conn)
    differences = compare(manifest, live_tables, live_rows, live_policies)
    result = {"changed": False, "ok": not differences, "backup": manifest.id,
              "backup_location": repo.storage.location(f"full/{manifest.id}"),
              "backup_finished_at": manifest.finished_at, "database": spec.describe(),
              "tables_checked": len(manifest.tables),
              "rows_checked": sum(t["rows"] for t in manifest.tables),
              "policies_checked": None if manifest.policies is None else len(manifest.policies),
              "differences": differences}
    if manifest.policies is None:
        result["note"] = ("this backup recorded no row-level security; tables and row counts "
                          "were checked")
    for difference in differences:
        log.warning("%s", difference["message"])
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        error = IntegrityError(f"database {spec.describe()} differs from backup {manifest.id}: "
                               f"{differences[0]['message']}{more}",
                               "see the differences with --json; restore or fix before relying "
                               "on this database")
        error.details = result
        raise error
    return result
