"""Short, plain text for people; --json gives the same data for scripts."""
from __future__ import annotations

from typing import Any, Dict


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def human_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _backup(result: Dict[str, Any]) -> str:
    if result.get("dry_run"):
        tables = result.get("tables", [])
        return (f"dry run: would take a {result['type']} backup of {result['database']} "
                f"(PostgreSQL {result['server_version']}, {len(tables)} tables, about "
                f"{human_bytes(result['estimated_bytes'])}) into {result['destination']} "
                f"with {result['compression']}")
    m = result["manifest"]
    return (f"{m['type']} backup {m['id']} of {m['database']}: {m['tables']} tables, "
            f"{m['rows']} rows, {human_bytes(m['size'])} in {m['duration_seconds']:.1f}s "
            f"-> {result['location']}")


def _restore(result: Dict[str, Any]) -> str:
    plan = result["plan"]
    if result.get("dry_run"):
        lines = [f"dry run: would restore ({plan['mode']}) {plan['backup']} into {plan['target']}",
                 f"  backup verified: {human_bytes(plan['verified_bytes'])} read, checksums match",
                 f"  create database: {'yes' if plan['create_database'] else 'no'}",
                 f"  overwrite existing data: {'yes' if plan['overwrite'] else 'no'}",
                 f"  tables: {len(plan['tables'])}"]
        return "\n".join(lines)
    lines = [f"restored ({plan['mode']}) {plan['backup']} into {plan['target']} in "
             f"{result['duration_seconds']:.1f}s"]
    if result["tables"]:
        rows = sum(t["restored"] for t in result["tables"])
        lines.append(f"  verified: {len(result['tables'])} tables, {rows} rows match the backup")
    for warning in result.get("warnings", []):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def _list(result: Dict[str, Any]) -> str:
    rows = result["backups"]
    if not rows:
        return "no backups"
    lines = [f"{'ID':<20} {'TYPE':<7} {'DATABASE':<16} {'SIZE':>10} {'TABLES':>6} {'ROWS':>10}"]
    for m in rows:
        lines.append(f"{m['id']:<20} {m['type']:<7} {m['database']:<16} "
                     f"{human_bytes(m['size']):>10} {m['tables']:>6} {m['rows']:>10}")
    return "\n".join(lines)


def _status(result: Dict[str, Any]) -> str:
    lines = [f"repository {result['location']}: {result['backups']} backups, "
             f"{human_bytes(result['total_bytes'])}"]
    for kind, info in result["types"].items():
        if not info["newest"]:
            lines.append(f"  {kind:<7} none")
            continue
        newest = info["newest"]
        lines.append(f"  {kind:<7} newest {newest['id']} ({human_age(info['age_seconds'])} ago, "
                     f"{human_bytes(newest['size'])}), {info['count']} kept")
    for folder in result["incomplete"]:
        lines.append(f"  incomplete (interrupted run, not a backup): {folder}")
    return "\n".join(lines)


def _operation_line(op: Dict[str, Any]) -> str:
    line = (f"{op.get('finished_at') or '?':<20} {op.get('operation') or '?':<16} "
            f"{op.get('outcome') or '?':<8} {op.get('database') or '-':<16} "
            f"{op.get('backup_id') or '-':<20} {float(op.get('duration_seconds') or 0):>7.1f}s "
            f"{op.get('who') or ''}")
    if op.get("error"):
        line += f"\n    error: {op['error']}" + (f"\n    next step: {op['hint']}" if op.get("hint") else "")
    return line


def _recent_operations(result: Dict[str, Any]) -> str:
    """The status block of recent operations (audit.recent(), newest first)."""
    ops = result.get("recent_operations")
    if not ops:
        return ""
    return "\nrecent operations:\n" + "\n".join(
        "  " + line for op in ops for line in _operation_line(op).splitlines())


def _log(result: Dict[str, Any]) -> str:
    ops = result["operations"]
    if not ops:
        return f"no operations recorded in {result['log_dir']}"
    return "\n".join(_operation_line(op) for op in ops)


def _check(result: Dict[str, Any]) -> str:
    lines = []
    for warning in result["warnings"]:
        lines.append(f"WARNING {warning['message']}")
        if warning.get("hint"):
            lines.append(f"  next step: {warning['hint']}")
    for slot in result["slots"]:
        lines.append(f"slot {slot['slot_name']} ({slot['slot_type']}, "
                     f"{'active' if slot['active'] else 'inactive'}): "
                     f"{human_bytes(slot['lag_bytes'] or 0)} of WAL held back")
    if not result["warnings"]:
        lines.insert(0, f"all is well ({', '.join(result['locations'])})")
    return "\n".join(lines)


def render(args, result: Dict[str, Any]) -> str:
    verb = args.verb
    if verb == "check":
        return _check(result)
    if verb == "log":
        return _log(result)
    if verb in ("full", "schema", "data"):
        return _backup(result)
    if verb == "status":
        return _status(result) + _recent_operations(result)
    if verb == "restore":
        return _list(result) if args.action == "list" else _restore(result)
    if verb == "config":
        if args.action == "generate":
            return result["text"]
        return "configuration is valid\n" + "\n".join(
            f"  {k}={v!r} ({result['sources'][k]})" for k, v in result["settings"].items()
            if v is not None)
    return str(result)
