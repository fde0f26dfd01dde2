"""The operations both adapters (CLI and Ansible modules) call: they differ only in how
they read options and show results. Each function builds the context and calls the engine."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import backup as backup_mod
from . import config, pg, restore as restore_mod, status as status_mod
from . import inflight, leftovers
from .errors import OperationFailed, SandstoneError
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


def backup(ctx: Context, kind: str, tables: Optional[List[str]] = None,
           dry_run: bool = False, compression: Optional[str] = None) -> Dict[str, Any]:
    settings = ctx.settings()
    request = backup_mod.request_from_settings(settings, kind, tables, dry_run, compression)
    spec = source_spec(ctx, settings)
    check_s3_settings(settings)  # a half-made S3 setup fails before anything is dumped
    with operation(settings, f"backup.{kind}", spec.dbname, dry_run, tables=request.tables) as rec:
        if dry_run:
            result = backup_mod.run_backup(settings, spec, _repo(settings), request)
            remote = s3_repository(settings)
            if remote is not None:
                result["copy_to"] = remote.storage.location(kind)
            return result
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
    if target_url:
        target = pg.build_spec(settings, url=target_url, dbname=target_db)
    else:
        target = source_spec(ctx, settings)
        if target_db:
            target = target.with_dbname(target_db)
    request = restore_mod.RestoreRequest(mode=mode, source=source, tables=list(tables or []),
                                         force=force, dry_run=dry_run)
    with operation(settings, f"restore.{mode}", target.dbname, dry_run, backup=source,
                   tables=request.tables, force=force, target=target.describe()) as rec:
        repos = locations(settings)
        result = restore_mod.run_restore(settings, repos[0], target, request, others=repos[1:])
        rec["database_created"] = result.get("database_created", False)
        return result


def status(ctx: Context) -> Dict[str, Any]:
    return status_mod.repository_status(_repo(ctx.settings()))


def list_backups(ctx: Context, kind: Optional[str] = None) -> List[Dict[str, Any]]:
    """Complete backups in every location, each once, with where it is kept."""
    merged: Dict[tuple, Dict[str, Any]] = {}
    repos = locations(ctx.settings())
    for repo in repos:
        try:
            summaries = status_mod.list_backups(repo, kind)
        except SandstoneError as exc:
            if repo is repos[0]:
                raise
            log.warning("could not list %s: %s", repo.storage.location(), exc.one_line())
            continue
        for summary in summaries:
            entry = merged.setdefault((summary["type"], summary["id"]), dict(summary, locations=[]))
            entry["locations"].append(repo.storage.name)
    return sorted(merged.values(), key=lambda m: (m["started_at"], m["id"]))
