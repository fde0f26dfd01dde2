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
    sealed = f", encrypted (key id {m['encryption_key_id']})" if m.get("encryption_key_id") else ""
    text = (f"{m['type']} backup {m['id']} of {m['database']}: {m['tables']} tables, "
            f"{m['rows']} rows, {human_bytes(m['size'])}{sealed} in {m['duration_seconds']:.1f}s "
            f"-> {result['location']}")
    return text + _s3_lines(result)


def _s3_lines(result: Dict[str, Any]) -> str:
    """Where the copy went and which leftovers of interrupted runs were removed."""
    lines = [f"\n  removed leftover of an interrupted run: {line}"
             for line in result.get("cleaned_leftovers", [])]
    if result.get("s3"):
        lines.append(f"\n  copied to {result['s3']['location']} (verified: "
                     f"{', '.join(sorted({f['verified_by'] for f in result['s3']['files']}))})")
    return "".join(lines)


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
    lines = [f"{'ID':<20} {'TYPE':<7} {'DATABASE':<16} {'SIZE':>10} {'TABLES':>6} {'ROWS':>10}"
             f"  WHERE"]
    for m in rows:
        lines.append(f"{m['id']:<20} {m['type']:<7} {m['database']:<16} "
                     f"{human_bytes(m['size']):>10} {m['tables']:>6} {m['rows']:>10}"
                     f"  {','.join(m.get('locations', []))}")
    return "\n".join(lines)


def _ago(seconds) -> str:
    return "?" if seconds is None else f"{human_age(seconds)} ago"


def _verified(info: Dict[str, Any]) -> str:
    verified = info.get("verified") or {}
    state = verified.get("state", "never")
    if state == "never":
        return "never verified"
    text = f"verified {state} {_ago(verified.get('age_seconds'))}"
    if state == "failed" and verified.get("error"):
        text += f" ({verified['error']})"
    return text


def _job_line(name: str, job: Dict[str, Any]) -> str:
    ok, bad = job.get("last_success"), job.get("last_failure")
    parts = []
    if ok:
        parts.append(f"ok {_ago(ok['age_seconds'])}" +
                     (f" ({ok['backup_id']})" if ok.get("backup_id") else ""))
    else:
        parts.append("never succeeded")
    if bad:
        parts.append(f"FAILED {_ago(bad['age_seconds'])}: {bad.get('error')}")
    flag = "!" if job.get("last_outcome") == "failure" else " "
    return f" {flag}{name:<15} " + "; ".join(parts)


def _status(result: Dict[str, Any]) -> str:
    where = "; ".join(f"{l['name']} {l['location']} UNREACHABLE: {l['error']}" if l.get("error")
                      else f"{l['name']} {l['location']} {l['backups']} backups "
                      f"{human_bytes(l['bytes'])}" for l in result.get("locations", []))
    lines = [f"{result['backups']} backups, {human_bytes(result['total_bytes'])} stored"
             + (f" ({where})" if where else "")]
    for kind, info in result["types"].items():
        if not info["newest"]:
            lines.append(f"  {kind:<7} none")
            continue
        newest = info["newest"]
        lines.append(f"  {kind:<7} {newest['id']}  {_ago(info['age_seconds'])}  "
                     f"{human_bytes(newest['size'])}  {','.join(info.get('locations', []))}  "
                     f"{_verified(info)}  ({info['count']} kept)")
    jobs = result.get("jobs") or {}
    if jobs:
        lines.append("jobs:")
        lines.extend(_job_line(name, job) for name, job in jobs.items())
    for run in result.get("running", []):
        state = "STALE lock (next run takes it over)" if run.get("stale") else "running"
        lines.append(f"{state}: {run['description']}")
    for folder in result["incomplete"]:
        lines.append(f"incomplete (interrupted run, not a backup): {folder}")
    for damaged in result.get("damaged", []):
        lines.append(f"DAMAGED: {damaged['location']}:{damaged['folder']}: {damaged['error']}")
    return "\n".join(lines)


def _decrypt(result: Dict[str, Any]) -> str:
    what = "plain dump" if result["decompressed"] else "compressed dump"
    return (f"decrypted {result['input']} (key id {result['key_id']}; {result['checked']} "
            f"checked) -> {result['output']}: {human_bytes(result['bytes'])} {what}")


def _cleanup(result: Dict[str, Any]) -> str:
    dry = result["dry_run"]
    lines = [f"{'dry run: ' if dry else ''}retention: {result['policy_text']}"]
    for loc in result["locations"]:
        gone = loc["would_delete" if dry else "deleted"]
        leftovers = loc["would_remove_leftovers" if dry else "removed_leftovers"]
        verb = "would delete" if dry else "deleted"
        lines.append(f"{loc['name']} {loc['location']}: keep {len(loc['kept'])}, {verb} "
                     f"{len(gone)} ({human_bytes(loc['freed_bytes'])})")
        for entry in loc["kept"]:
            lines.append(f"  keep    {entry['ref']}: {', '.join(entry['reasons'])}")
        for entry in gone:
            lines.append(f"  {'DELETE' if dry else 'deleted'} {entry['ref']}: "
                         f"{', '.join(entry['reasons'])}")
        for folder in leftovers:
            lines.append(f"  {'DELETE' if dry else 'deleted'} {folder}: leftover of an "
                         f"interrupted run")
    return "\n".join(lines)


def _verify(result: Dict[str, Any]) -> str:
    if not result["checked"]:
        return "no backups to verify in " + ", ".join(result["locations"])
    lines = [f"verified {result['checked']} backups ({human_bytes(result['bytes'])} read): "
             f"{'all good' if not result['failures'] else str(result['failures']) + ' FAILED'}"]
    for each in result["backups"]:
        lines.append(f"  {'ok    ' if each['ok'] else 'FAILED'} {each['storage']}:{each['ref']}"
                     + ("" if each["ok"] else f": {each['error']}"))
    return "\n".join(lines)


def _restore_verify(result: Dict[str, Any]) -> str:
    policies = result["policies_checked"]
    text = (f"{result['database']} matches backup {result['backup']}: "
            f"{result['tables_checked']} tables, {result['rows_checked']} rows"
            + ("" if policies is None else f", {policies} policies and RLS flags"))
    return text + (f"\n  note: {result['note']}" if result.get("note") else "")


def _render_keep(args, result: Dict[str, Any]):
    if args.verb == "cleanup":
        return _cleanup(result)
    if args.verb == "verify":
        return _verify(result)
    if args.verb == "restore" and args.action == "verify":
        return _restore_verify(result)
    return None


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
    keep = _render_keep(args, result)
    if keep is not None:
        return keep
    if verb == "check":
        return _check(result)
    if verb == "log":
        return _log(result)
    if verb == "notify":
        return (f"reported the failure of {result['unit']}" if result["notified"] else
                f"not reported again: {result['reason']}")
    if verb in ("full", "schema", "data"):
        return _backup(result)
    if verb == "status":
        return _status(result) + _recent_operations(result)
    if verb == "restore":
        return _list(result) if args.action == "list" else _restore(result)
    if verb == "decrypt":
        return _decrypt(result)
    if verb == "config":
        if args.action == "generate":
            return result["text"]
        return "configuration is valid\n" + "\n".join(
            f"  {k}={v!r} ({result['sources'][k]})" for k, v in result["settings"].items()
            if v is not None)
    return str(result)
