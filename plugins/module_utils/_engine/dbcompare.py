"""Compare a restored database with a reference (the live source, or another restore):
tables, exact row counts, row-level security and pg_policies. The restore runbook and the
recovery drill call this before anyone switches traffic to a restored database."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import live_check, pg


def _read(spec: pg.ConnSpec) -> Dict[str, Any]:
    with pg.connect(spec) as conn:
        tables, rows, policies = live_check.read_state(conn)
        version = pg.server_version_text(conn)
    for table in tables:
        table["rows"] = rows[f"{table['schema']}.{table['name']}"]
    return {"spec": spec, "version": version, "tables": tables, "rows": rows,
            "policies": policies}


def describe(state: Dict[str, Any]) -> Dict[str, Any]:
    """What a database holds that a restore must bring back, for people and playbooks."""
    tables = [{"table": f"{t['schema']}.{t['name']}", "rls": bool(t["rls"]), "rows": t["rows"]}
              for t in state["tables"]]
    policies = [{"table": f"{p['schema']}.{p['table']}", "policy": p["policy"], "cmd": p["cmd"],
                 "roles": sorted(p["roles"]), "qual": p["qual"], "with_check": p["with_check"]}
                for p in state["policies"]]
    return {"database": state["spec"].dbname, "server_version": state["version"],
            "tables": tables, "rows": sum(t["rows"] for t in tables),
            "rls_tables": sorted(t["table"] for t in tables if t["rls"]), "policies": policies}


def differences(reference: Dict[str, Any], restored: Dict[str, Any]) -> List[str]:
    """One readable line per difference; empty when the restore matches (the same rules as
    'restore verify' against a manifest, with the reference database as the expectation)."""
    found = live_check.compare_state(reference["tables"], reference["policies"],
                                     restored["tables"], restored["rows"], restored["policies"],
                                     "the reference")
    return [d["message"] for d in found]


def compare(target: pg.ConnSpec, reference: Optional[pg.ConnSpec]) -> Dict[str, Any]:
    restored = _read(target)
    result: Dict[str, Any] = {"changed": False, "target": describe(restored), "reference": None,
                              "differences": [], "matches": None}
    if reference is not None:
        expected = _read(reference)
        result["reference"] = describe(expected)
        result["differences"] = differences(expected, restored)
        result["matches"] = not result["differences"]
    return result
