"""Compare a restored database with a reference (the live source, or another restore):
tables, exact row counts, row-level security and pg_policies. The restore runbook and the
recovery drill call this before anyone switches traffic to a restored database."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import catalog, pg


def describe(spec: pg.ConnSpec) -> Dict[str, Any]:
    """What a database holds that a restore must bring back."""
    with pg.connect(spec) as conn:
        tables = []
        for table in catalog.user_tables(conn):
            ref = catalog.TableRef(table["schema"], table["name"])
            tables.append({"table": ref.qualified, "rls": bool(table["rls"]),
                           "rows": catalog.count_rows(conn, ref)})
        policies = [{"table": f"{p['schema']}.{p['table']}", "policy": p["policy"], "cmd": p["cmd"],
                     "roles": sorted(p["roles"]), "qual": p["qual"], "with_check": p["with_check"]}
                    for p in catalog.policies(conn)]
        return {"database": spec.dbname, "server_version": pg.server_version_text(conn),
                "tables": tables, "rows": sum(t["rows"] for t in tables),
                "rls_tables": sorted(t["table"] for t in tables if t["rls"]),
                "policies": policies}


def _policy_key(policy: Dict[str, Any]) -> tuple:
    return (policy["table"], policy["policy"])


def differences(reference: Dict[str, Any], restored: Dict[str, Any]) -> List[str]:
    """One readable line per difference; empty when the restore matches."""
    found: List[str] = []
    ref_tables = {t["table"]: t for t in reference["tables"]}
    new_tables = {t["table"]: t for t in restored["tables"]}
    for name in sorted(set(ref_tables) - set(new_tables)):
        found.append(f"table {name} is missing from the restored database")
    for name in sorted(set(new_tables) - set(ref_tables)):
        found.append(f"table {name} is in the restored database but not in the reference")
    for name in sorted(set(ref_tables) & set(new_tables)):
        want, got = ref_tables[name], new_tables[name]
        if want["rows"] != got["rows"]:
            found.append(f"table {name} has {got['rows']} rows, the reference has {want['rows']}")
        if want["rls"] != got["rls"]:
            found.append(f"row-level security on {name} is {'on' if got['rls'] else 'off'}, "
                         f"the reference has it {'on' if want['rls'] else 'off'}")
    ref_policies = {_policy_key(p): p for p in reference["policies"]}
    new_policies = {_policy_key(p): p for p in restored["policies"]}
    for table, name in sorted(set(ref_policies) - set(new_policies)):
        found.append(f"policy {name} on {table} is missing from the restored database")
    for table, name in sorted(set(new_policies) - set(ref_policies)):
        found.append(f"policy {name} on {table} is not in the reference")
    for k in sorted(set(ref_policies) & set(new_policies)):
        if ref_policies[k] != new_policies[k]:
            found.append(f"policy {k[1]} on {k[0]} differs from the reference")
    return found


def compare(target: pg.ConnSpec, reference: Optional[pg.ConnSpec]) -> Dict[str, Any]:
    restored = describe(target)
    result: Dict[str, Any] = {"changed": False, "target": restored, "reference": None,
                              "differences": [], "matches": None}
    if reference is not None:
        result["reference"] = describe(reference)
        result["differences"] = differences(result["reference"], restored)
        result["matches"] = not result["differences"]
    return result
