"""The sandstone-backup command: parse, call the engine through api, print, exit.
No logic of its own; exit codes: 0 ok, 1 failed, 2 usage/config, 3 connect, 4 integrity."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional

from . import __version__, api, config
from .errors import ConfigError, SandstoneError
from .logs import setup_logging
from .render import render

PROG = "sandstone-backup"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="backup.conf to read (default: $SANDSTONE_CONFIG)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--backup-dir", metavar="DIR", help="repository root (BACKUP_DIR)")
    parser.add_argument("--dbname", help="database to back up (overrides the URL's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--profile", choices=("auto", "plain", "supabase"),
                        help="supabase: roles, user schemas, data and auth/storage rows, "
                             "restorable into a fresh project (PROFILE; auto for Supabase hosts)")


def _backup_opts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--compress", action="store_true", help="compress (the default)")
    parser.add_argument("--compression", choices=("gzip", "zstd", "none"),
                        help="compression algorithm (COMPRESSION)")
    parser.add_argument("-d", "--dry-run", action="store_true", help="show the plan, change nothing")
    parser.add_argument("-e", "--encrypt", action="store_true", default=None,
                        help="encrypt with ENCRYPTION_KEY (ENCRYPT)")
    parser.add_argument("-s", "--s3", action="store_true",
                        help="copy the backup to S3 after writing it (UPLOAD_S3 for this run)")


def _decrypt_verb(verbs) -> None:
    sub = verbs.add_parser("decrypt", help="decrypt a backup file (still compressed unless --decompress)")
    sub.add_argument("file", help="an encrypted backup file (.enc)")
    sub.add_argument("-o", "--output", metavar="OUT", help="where to write (default: FILE's name "
                     "without .enc, in the current directory; '-' for standard output); an "
                     "existing file is never overwritten")
    sub.add_argument("--decompress", action="store_true", help="write the plain dump "
                     "(what pg_restore or psql read)")
    sub.add_argument("--config", metavar="FILE", help="backup.conf with the keys (default: $SANDSTONE_CONFIG)")
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Back up, verify and restore "
                                     "PostgreSQL and Supabase databases.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for kind, text in (("full", "full backup (schema and data)"), ("schema", "schema-only backup")):
        sub = verbs.add_parser(kind, help=text)
        _common(sub)
        _backup_opts(sub)
    sub = verbs.add_parser("data", help="backup of chosen tables: data \"public.t1,public.t2\"")
    sub.add_argument("tables", help="comma-separated table names")
    _common(sub)
    _backup_opts(sub)
    sub = verbs.add_parser("status", help="what the repository holds")
    _common(sub)
    sub = verbs.add_parser("check", help="warn about old backups, failed verification and "
                           "replication-slot lag; notify and exit 1 if anything needs a person")
    _common(sub)
    sub = verbs.add_parser("log", help="recent operations from the audit log")
    sub.add_argument("--last", type=int, default=20, metavar="N", help="how many (default 20)")
    _common(sub)
    sub = verbs.add_parser("notify", help="report a scheduled run that failed without reporting "
                           "it (systemd OnFailure=)")
    sub.add_argument("--event", choices=("failure",), default="failure")
    sub.add_argument("--unit", required=True, help="the failed unit, e.g. sandstone-backup-full.service")
    _common(sub)

    restore = verbs.add_parser("restore", help="list backups or restore one")
    actions = restore.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub = actions.add_parser("list", help="list complete backups")
    sub.add_argument("--type", choices=("full", "schema", "data"))
    _common(sub)
    for mode in ("full", "schema", "table"):
        sub = actions.add_parser(mode, help=f"{mode} restore from a backup id, 'latest' or a file")
        sub.add_argument("source", help="backup id, 'latest', a backup folder or a dump file")
        if mode == "table":
            sub.add_argument("table", help="table to restore, e.g. public.orders (comma-separated for several)")
        _common(sub)
        sub.add_argument("--target", metavar="URL", default=os.environ.get("SANDSTONE_TARGET_URL"),
                         help="database to restore into, without a password "
                              "(default: $SANDSTONE_TARGET_URL, else the configured database)")
        sub.add_argument("--target-db", metavar="NAME", help="restore into this database on the "
                         "same server (created when missing)")
        sub.add_argument("--force", action="store_true", help="overwrite a non-empty target")
        sub.add_argument("-d", "--dry-run", action="store_true", help="show the plan, change nothing")

    _decrypt_verb(verbs)
    _keep_verbs(verbs, actions)

    cfg = verbs.add_parser("config", help="validate or generate backup.conf")
    cfg_actions = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub = cfg_actions.add_parser("validate", help="check the configuration and show where each value comes from")
    _common(sub)
    cfg_actions.add_parser("generate", help="print a commented backup.conf")
    return parser


def _keep_verbs(verbs, restore_actions) -> None:
    """cleanup, verify and restore verify."""
    sub = verbs.add_parser("cleanup", help="delete backups the retention policy does not keep "
                           "(in every location)")
    sub.add_argument("-r", "--retention", type=int, metavar="DAYS",
                     help="keep backups younger than DAYS (RETENTION_DAYS)")
    for rule, text in (("last", "the newest N of each type"),
                       ("daily", "the newest of each of the last N days"),
                       ("weekly", "the newest of each of the last N ISO weeks"),
                       ("monthly", "the newest of each of the last N months")):
        sub.add_argument(f"--keep-{rule}", type=int, metavar="N",
                         help=f"keep {text} (KEEP_{rule.upper()})")
    sub.add_argument("-d", "--dry-run", "--check", action="store_true", dest="dry_run",
                     help="list what would be deleted, delete nothing")
    _common(sub)
    sub = verbs.add_parser("verify", help="re-read every backup in every location and check it "
                           "end to end")
    sub.add_argument("ids", nargs="*", metavar="ID", help="only these backups (default: all)")
    sub.add_argument("-d", "--dry-run", action="store_true",
                     help="check, but do not record the result in the manifests")
    _common(sub)
    sub = restore_actions.add_parser("verify", help="check a live database against the newest "
                                     "full backup (tables, row counts, RLS policies)")
    sub.add_argument("source", nargs="?", default="latest", help="full backup id (default: latest)")
    _common(sub)
    sub.add_argument("--target", metavar="URL", default=os.environ.get("SANDSTONE_TARGET_URL"),
                     help="database to check, without a password (default: "
                          "$SANDSTONE_TARGET_URL, else the configured database)")
    sub.add_argument("--target-db", metavar="NAME", help="check this database on the same server")


def _run_keep_verbs(ctx: api.Context, args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    if args.verb == "cleanup":
        return api.cleanup(ctx, dry_run=args.dry_run, days=args.retention,
                           keep_last=args.keep_last, keep_daily=args.keep_daily,
                           keep_weekly=args.keep_weekly, keep_monthly=args.keep_monthly)
    if args.verb == "verify":
        return api.verify(ctx, args.ids, dry_run=args.dry_run)
    if args.verb == "restore" and args.action == "verify":
        return api.restore_verify(ctx, args.source, target_url=_target_url(args),
                                  target_db=args.target_db)
    return None


def _context(args: argparse.Namespace) -> api.Context:
    overrides: Dict[str, Any] = {}
    if getattr(args, "backup_dir", None):
        overrides["BACKUP_DIR"] = args.backup_dir
    if getattr(args, "s3", False):
        overrides["UPLOAD_S3"] = True
    if getattr(args, "profile", None):
        overrides["PROFILE"] = args.profile
    return api.Context(config_file=getattr(args, "config", None),
                       overrides=overrides,
                       connection={"dbname": getattr(args, "dbname", None)})


def _target_url(args: argparse.Namespace) -> Optional[str]:
    """A password on the command line shows in every process list: refuse it there
    (the same URL from SANDSTONE_TARGET_URL is fine)."""
    if args.target and args.target_on_command_line:
        from psycopg import conninfo
        try:
            has_password = bool(conninfo.conninfo_to_dict(args.target).get("password"))
        except Exception:  # an invalid URL is reported by the engine with its own message
            has_password = False
        if has_password:
            raise ConfigError("--target must not carry a password (it would show in the "
                              "process list)", "set SANDSTONE_TARGET_URL or use ~/.pgpass")
    return args.target


def _split(text: str) -> List[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> Dict[str, Any]:
    ctx = _context(args)
    verb = args.verb
    done = _run_keep_verbs(ctx, args)
    if done is not None:
        return done
    if verb in ("full", "schema", "data"):
        compression = args.compression
        return api.backup(ctx, verb, _split(args.tables) if verb == "data" else None,
                          dry_run=args.dry_run, compression=compression, encrypt=args.encrypt)
    if verb == "status":
        return api.status(ctx)
    if verb == "check":
        return api.check(ctx)
    if verb == "log":
        return api.operations_log(ctx, args.last)
    if verb == "notify":
        return api.notify_unit_failure(ctx, args.unit)
    if verb == "restore":
        if args.action == "list":
            return {"backups": api.list_backups(ctx, args.type)}
        return api.restore(ctx, args.action, args.source,
                           _split(args.table) if args.action == "table" else None,
                           target_url=_target_url(args), target_db=args.target_db,
                           force=args.force, dry_run=args.dry_run)
    if verb == "decrypt":
        return api.decrypt(ctx, args.file, args.output, args.decompress, stream=sys.stdout.buffer)
    if verb == "config":
        if args.action == "generate":
            return {"text": config.generate_sample()}
        settings = ctx.settings()
        return {"valid": True, "settings": settings.redacted(), "sources": settings.sources}
    raise ConfigError(f"unknown verb {verb}", f"see '{PROG} --help'")


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    args.target_on_command_line = any(w == "--target" or w.startswith("--target=") for w in words)
    try:
        setup_logging(args, api.Context(config_file=getattr(args, "config", None)))
        result = run(args)
    except SandstoneError as exc:
        logging.getLogger("sandstone").debug("failed", exc_info=True)
        print(f"{PROG}: error: {exc.one_line()}", file=sys.stderr)
        details = getattr(exc, "details", None)  # e.g. every verify result, for scripts
        if details is not None and getattr(args, "json", False):
            print(json.dumps(details, indent=2, sort_keys=True, default=str))
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was published", file=sys.stderr)
        return 1
    if getattr(args, "output", None) == "-" and args.verb == "decrypt":
        return 0  # standard output carries the data
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        print(render(args, result))
    if args.verb == "check" and result.get("warnings"):
        return 1  # something needs a person: a timer's failure is what gets noticed
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
