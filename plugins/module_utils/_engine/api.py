"""The operations both adapters (CLI and Ansible modules) call: they differ only in how
they read options and show results. Each function builds the context and calls the engine."""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional

from . import backup as backup_mod
from . import config, pg, restore as restore_mod, status as status_mod
from . import decrypt as decrypt_mod, keys as keys_mod
from . import cleanup as cleanup_mod, live_check, lock as lock_mod, verify as verify_mod
from . import inflight, leftovers
from .errors import OperationFailed, SandstoneError
from . import audit, checks as checks_mod
from . import notify, metrics

# Imported for their monitor hooks, which they register in this order (notify, then metrics).
HOOK_MODULES = (notify, metrics)
from .monitor import operation
from .remote import check_s3_settings, s3_repository
from .replicate import replicate
from .repository import Repository
from .storage.local import LocalStorage

log = logging.getLogger("sandstone")


@dataclass
class Context:
    """Options every operation shares: where the config is, overrides, the connection."""

    config_file: Optional[str] = None
    overrides: Dict[str, Any] = field(default_factory=dict)
    connection: Dict[str, Any] = field(default_factory=dict)  # url host port user password dbname sslmode

    def settings(self) -> config.Settings:
        return config.load(self.overrides, self.config_file)


def _repo(settings: config.Settings) -> Repository:
    """The primary (local) repository: backups are written here first."""
    return Repository(LocalStorage(settings["BACKUP_DIR"]))


def locations(settings: config.Settings) -> List[Repository]:
    """Every place backups are kept, primary first: the S3 copy whenever a bucket is set."""
    remote = s3_repository(settings, reading=True)
    return [_repo(settings)] + ([remote] if remote is not None else [])


def source_spec(ctx: Context, settings: config.Settings) -> pg.ConnSpec:
    return pg.build_spec(settings, **ctx.connection)


def target_spec(ctx: Context, settings: config.Settings, target_url: Optional[str],
                target_db: Optional[str]) -> pg.ConnSpec:
    """The database a restore writes to (or is checked): a URL, or the configured database,
    optionally under another name on the same server."""
    if target_url:
        return pg.build_spec(settings, url=target_url, dbname=target_db)
    target = source_spec(ctx, settings)
    return target.with_dbname(target_db) if target_db else target


def backup(ctx: Context, kind: str, tables: Optional[List[str]] = None,
           dry_run: bool = False, compression: Optional[str] = None,
           encrypt: Optional[bool] = None) -> Dict[str, Any]:
    settings = ctx.settings()
    request = backup_mod.request_from_settings(settings, kind, tables, dry_run, compression,
                                               encrypt)
    spec = source_spec(ctx, settings)
    check_s3_settings(settings)  # a half-made S3 setup fails before anything is dumped
    with operation(settings, f"backup.{kind}", spec.dbname, dry_run, tables=request.tables) as rec:
        if dry_run:
            result = backup_mod.run_backup(settings, spec, _repo(settings), request)
            remote = s3_repository(settings)
            if remote is not None:
                result["copy_to"] = remote.storage.location(kind)
            return result
        with _locked(settings, rec, [spec]):
            result = _backup_and_copy(settings, spec, request)
        rec.update(backup_id=result["backup_id"], size=result["manifest"]["size"],
                   location=result["location"], locations=result["locations"],
                   cleaned_leftovers=result["cleaned_leftovers"])
        return result


def _backup_and_copy(settings: config.Settings, spec: pg.ConnSpec,
                     request: backup_mod.BackupRequest) -> Dict[str, Any]:
    """Clean leftovers of interrupted runs, take the backup, copy it to S3 when asked.
    The inflight marker tells later runs whether this one is still alive."""
    local, remote = _repo(settings), s3_repository(settings)
    with inflight.Marker(local.storage.location()):
        cleaned = leftovers.clean(local, remote)
        result = backup_mod.run_backup(settings, spec, local, request)
        result["cleaned_leftovers"] = cleaned
        result["locations"] = [result["location"]]
        if remote is None:
            return result
        manifest = local.load(request.kind, result["backup_id"])
        try:
            result["s3"] = replicate(manifest, local, remote)
        except SandstoneError as exc:
            raise OperationFailed(
                f"backup {request.kind}/{manifest.id} is complete and valid at "
                f"{result['location']}, but copying it to {remote.storage.location()} failed: "
                f"{exc.message}", exc.hint or "fix S3 access and run the backup again") from None
        result["locations"].append(result["s3"]["location"])
        return result


def restore(ctx: Context, mode: str, source: str, tables: Optional[List[str]] = None,
            target_url: Optional[str] = None, target_db: Optional[str] = None,
            force: bool = False, dry_run: bool = False) -> Dict[str, Any]:
    settings = ctx.settings()
    target = target_spec(ctx, settings, target_url, target_db)
    request = restore_mod.RestoreRequest(mode=mode, source=source, tables=list(tables or []),
                                         force=force, dry_run=dry_run)
    with operation(settings, f"restore.{mode}", target.dbname, dry_run, backup=source,
                   tables=request.tables, force=force, target=target.describe()) as rec:
        with _locked(settings, rec, [target]):
            repos = locations(settings)
            result = restore_mod.run_restore(settings, repos[0], target, request,
                                             others=repos[1:])
        rec["backup_id"] = result.get("plan", {}).get("backup", source)
        rec["database_created"] = result.get("database_created", False)
        return result


def status(ctx: Context) -> Dict[str, Any]:
    settings = ctx.settings()
    result = status_mod.status(locations(settings), settings.get("LOG_DIR"),
                               settings.get("BACKUP_DIR"))
    result["recent_operations"] = audit.recent(settings.get("LOG_DIR"), 5)
    return result


def list_backups(ctx: Context, kind: Optional[str] = None) -> List[Dict[str, Any]]:
    """Complete backups in every location, each once, with where it is kept."""
    return list_all_backups(ctx, kind)


def decrypt(ctx: Context, path: str, output: Optional[str] = None, decompress: bool = False,
            stream=None) -> Dict[str, Any]:
    """Decrypt one backup file (the keys come from the configuration); the audit log
    records who decrypted what."""
    settings = ctx.settings()
    request = decrypt_mod.DecryptRequest(path=path, output=output, decompress=decompress)
    with operation(settings, "decrypt", "", False, file=path) as rec:
        result = decrypt_mod.run_decrypt(settings, request, stream)
        rec.update(output=result["output"], key_id=result["key_id"], size=result["bytes"])
        return result


@contextlib.contextmanager
def _locked(settings: config.Settings, record: Dict[str, Any], specs=()) -> Iterator[List[str]]:
    """Hold the repository lock and one lock per database for an operation (not for a dry
    run: it changes nothing). A lock taken over from a dead run is noted in the audit."""
    if record.get("dry_run"):
        yield []
        return
    with lock_mod.hold(settings["BACKUP_DIR"], record["operation"],
                       [lock_mod.database_key(spec) for spec in specs],
                       settings.get("LOCK_WAIT_SECONDS", 0)) as notes:
        if notes:
            record["lock_takeover"] = notes
        yield notes


def cleanup(ctx: Context, dry_run: bool = False, days: Optional[int] = None,
            keep_last: Optional[int] = None, keep_daily: Optional[int] = None,
            keep_weekly: Optional[int] = None, keep_monthly: Optional[int] = None) -> Dict[str, Any]:
    """Apply the retention policy in every location (flags win over the configuration)."""
    settings = ctx.settings()
    policy = cleanup_mod.policy_from_settings(settings, days, keep_last, keep_daily,
                                              keep_weekly, keep_monthly)
    with operation(settings, "cleanup", "", dry_run, policy=policy.rules()) as rec:
        with _locked(settings, rec):
            result = cleanup_mod.run_cleanup(locations(settings), policy, dry_run)
        rec["deleted"] = [f"{l['name']}:{d['ref']}" for l in result["locations"]
                          for d in l.get("deleted", [])]
        return result


def verify(ctx: Context, backup_ids: Optional[List[str]] = None, dry_run: bool = False,
           keys: Any = None) -> Dict[str, Any]:
    """Re-read every kept backup in every location; in a dry run (check mode) the result is
    not recorded in the manifests."""
    settings = ctx.settings()
    keys = keys if keys is not None else keys_mod.keyring_from_settings(settings)
    request = verify_mod.VerifyRequest(backup_ids=list(backup_ids or []), record=not dry_run,
                                       keys=keys)
    with operation(settings, "verify", "", dry_run) as rec:
        with _locked(settings, rec):
            result = verify_mod.run_verify(settings, locations(settings), request)
        rec.update(checked=result["checked"], bytes=result["bytes"])
        return result


def restore_verify(ctx: Context, backup: str = "latest", target_url: Optional[str] = None,
                   target_db: Optional[str] = None) -> Dict[str, Any]:
    """Compare a live database with a full backup's manifest (read only, no lock)."""
    settings = ctx.settings()
    target = target_spec(ctx, settings, target_url, target_db)
    with operation(settings, "restore.verify", target.dbname, backup=backup) as rec:
        result = live_check.run_live_check(locations(settings), target, backup)
        rec["backup_id"] = result["backup"]
        return result


def list_all_backups(ctx: Context, kind: Optional[str] = None) -> List[Dict[str, Any]]:
    """Backups in every location, with where each is kept and its verify state."""
    return status_mod.all_backups(locations(ctx.settings()), kind)


def info(ctx: Context, kind: Optional[str] = None) -> Dict[str, Any]:
    """Status and the backup list in one read-only call (pg_backup_info)."""
    return {"changed": False, "status": status(ctx), "backups": list_all_backups(ctx, kind)}


def check(ctx: Context) -> Dict[str, Any]:
    """Warnings that need a person (old backups, failed verification, slot lag); recorded,
    notified and exported like every operation, with the outcome "warning" when any."""
    settings = ctx.settings()
    spec = source_spec(ctx, settings)
    with operation(settings, "check", spec.dbname) as rec:
        result = checks_mod.run_checks(settings, locations(settings), spec)
        rec.update(outcome="success" if result["ok"] else "warning",
                   warnings=result["warnings"],
                   slots=[{"slot_name": s["slot_name"], "lag_bytes": s["lag_bytes"]}
                          for s in result["slots"]])
        return result


def notify_unit_failure(ctx: Context, unit: str) -> Dict[str, Any]:
    """A timer's run failed without reporting it (called by systemd's OnFailure= unit)."""
    from . import unit_failure
    return unit_failure.report(ctx.settings(), unit)


def operations_log(ctx: Context, last: int = 20) -> Dict[str, Any]:
    """The newest audit records (who did what, when, with which result)."""
    settings = ctx.settings()
    return {"log_dir": settings.get("LOG_DIR"),
            "operations": audit.recent(settings.get("LOG_DIR"), last)}


def compare_databases(ctx: Context, target_db: Optional[str] = None,
                      reference_url: Optional[str] = None,
                      reference_db: Optional[str] = None) -> Dict[str, Any]:
    """A restored database against a reference: tables, row counts, RLS, pg_policies."""
    from . import dbcompare
    settings = ctx.settings()
    target = target_spec(ctx, settings, None, target_db)
    reference = None
    if reference_url or reference_db:
        reference = target_spec(ctx, settings, reference_url, reference_db)
    return dbcompare.compare(target, reference)


def restored_database(ctx: Context, name: str, state: str, live_db: Optional[str] = None,
                      keep_as: Optional[str] = None, dry_run: bool = False) -> Dict[str, Any]:
    """Switch a restored database into the live one's place, or drop a scratch database."""
    from . import dbswitch
    settings = ctx.settings()
    spec = source_spec(ctx, settings)
    live = live_db or spec.dbname
    if state == "switched":
        return dbswitch.switch(spec, name, live, keep_as or f"{live}_before_restore", dry_run)
    return dbswitch.drop(spec, name, live, dry_run)
