"""The operations both adapters (CLI and Ansible modules) call: they differ only in how
they read options and show results. Each function builds the context and calls the engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import backup as backup_mod
from . import config, pg, restore as restore_mod, status as status_mod
from .monitor import operation
from .repository import Repository
from .storage.local import LocalStorage


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
    """Every place backups are kept, primary first (remote copies are added here)."""
    return [_repo(settings)]


def source_spec(ctx: Context, settings: config.Settings) -> pg.ConnSpec:
    return pg.build_spec(settings, **ctx.connection)


def backup(ctx: Context, kind: str, tables: Optional[List[str]] = None,
           dry_run: bool = False, compression: Optional[str] = None) -> Dict[str, Any]:
    settings = ctx.settings()
    request = backup_mod.request_from_settings(settings, kind, tables, dry_run, compression)
    spec = source_spec(ctx, settings)
    with operation(settings, f"backup.{kind}", spec.dbname, dry_run, tables=request.tables) as rec:
        result = backup_mod.run_backup(settings, spec, _repo(settings), request)
        if not dry_run:
            rec.update(backup_id=result["backup_id"], size=result["manifest"]["size"],
                       location=result["location"])
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
        result = restore_mod.run_restore(settings, _repo(settings), target, request)
        rec["database_created"] = result.get("database_created", False)
        return result


def status(ctx: Context) -> Dict[str, Any]:
    return status_mod.repository_status(_repo(ctx.settings()))


def list_backups(ctx: Context, kind: Optional[str] = None) -> List[Dict[str, Any]]:
    return status_mod.list_backups(_repo(ctx.settings()), kind)


def compare_databases(ctx: Context, target_db: Optional[str] = None,
                      reference_url: Optional[str] = None,
                      reference_db: Optional[str] = None) -> Dict[str, Any]:
    """A restored database against a reference: tables, row counts, RLS, pg_policies."""
    from . import dbcompare
    settings = ctx.settings()
    target = source_spec(ctx, settings)
    if target_db:
        target = target.with_dbname(target_db)
    reference = None
    if reference_url:
        reference = pg.build_spec(settings, url=reference_url, dbname=reference_db)
    elif reference_db:
        reference = source_spec(ctx, settings).with_dbname(reference_db)
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
