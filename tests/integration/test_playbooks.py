"""The restore runbook and the recovery drill, run as a user would run them
(ansible-playbook sandstone.backup.restore / .drill) against localhost and a real PostgreSQL:
rows, policies, the databases that exist afterwards, the records on disk, the webhook."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.support.ansible_run import run_playbook, task_results

SANDSTONE_CLI = str(Path(sys.executable).parent / "sandstone-backup")


@pytest.fixture
def host(tmp_path, pg_server, source_db, cli):
    """A backup host as the agent role leaves it: backup.conf, repository, log directory."""
    conf = tmp_path / "backup.conf"
    logs = tmp_path / "logs"
    logs.mkdir()
    conf.write_text(f"SUPABASE_DB_URL='{pg_server.url(source_db)}'\n"
                    f"BACKUP_DIR='{tmp_path / 'storage'}'\nLOG_DIR='{logs}'\n")
    conf.chmod(0o600)

    class Host:
        config = conf
        log_dir = logs
        database = source_db

        @staticmethod
        def backup() -> str:
            return cli("full", "--json", "--config", str(conf)).json()["backup_id"]

        @staticmethod
        def run(name: str, check: bool = False, **extra) -> dict:
            extra_vars = dict(sandstone_hosts="localhost", sandstone_become=False,
                              sandstone_python=sys.executable, sandstone_cli=SANDSTONE_CLI,
                              sandstone_config_file=str(conf), sandstone_log_dir=str(logs), **extra)
            return run_playbook(tmp_path, f"- ansible.builtin.import_playbook: sandstone.backup.{name}\n",
                                check=check, extra_args=["-e", json.dumps(extra_vars)])
    return Host


def restore_record(host) -> dict:
    records = sorted(host.log_dir.glob("restore-*.json"))
    assert len(records) == 1, records
    return json.loads(records[0].read_text())


RUNBOOK_HOOK = "/runbook"


def hook_texts(receiver):
    return [r.json()["text"] for r in receiver.on(RUNBOOK_HOOK)]


def test_restore_runbook_restores_verifies_records_and_notifies(host, pg_server, db,
                                                                 webhook_receiver):
    backup_id = host.backup()
    target = f"{host.database}_restored"
    try:
        data = host.run("restore", target_db=target, confirm="yes",
                        sandstone_notify_webhook_url=webhook_receiver.url(RUNBOOK_HOOK))
        assert data["_rc"] == 0, data["_raw"][-3000:]
        results = task_results(data)
        assert results["Pre-flight - the backup verifies and the dry run shows the plan"]["plan"]["verified_bytes"] > 0
        assert db.checksums(target) == db.checksums(host.database)
        assert db.policies(target) == db.policies(host.database) and len(db.policies(target)) == 3
        record = restore_record(host)
        assert record["outcome"] == "succeeded" and record["backup"] == backup_id
        assert set(record["timings"]) == {"choose", "preflight", "restore", "verify"}
        assert all(seconds >= 0 for seconds in record["timings"].values())
        assert record["switched"] is False
        texts = hook_texts(webhook_receiver)
        assert len(texts) == 1 and "restore succeeded" in texts[0]
        assert pg_server.password not in data["_raw"]
    finally:
        pg_server.drop_database(target)


def test_restore_without_confirmation_restores_nothing(host, db):
    host.backup()
    target = f"{host.database}_unconfirmed"
    data = host.run("restore", target_db=target)  # no confirm, and no terminal to answer on
    assert data["_rc"] != 0
    assert not db.exists(target)
    record = restore_record(host)
    assert record["outcome"] == "failed" and "Not confirmed" in record["error"]


def test_restore_dry_run_in_check_mode_creates_nothing(host, db):
    host.backup()
    target = f"{host.database}_dryrun"
    data = host.run("restore", check=True, target_db=target, confirm="yes")
    assert data["_rc"] == 0, data["_raw"][-3000:]
    assert not db.exists(target)
    record = restore_record(host)
    assert record["check_mode"] is True and record["outcome"] == "succeeded"


def test_restore_by_target_time_takes_the_backup_before_it(host, pg_server, db):
    first = host.backup()
    db.execute(host.database, "TRUNCATE app.orders CASCADE")
    time.sleep(1.1)  # ids and finish times have second resolution
    second = host.backup()
    assert first != second
    finished = json.loads((Path(host.config).parent / "storage" / "full" / first / "manifest.json").read_text())["finished_at"]
    target = f"{host.database}_pit"
    try:
        data = host.run("restore", target_db=target, confirm="yes", compare_live=False,
                        target_time=finished.replace("T", " ").rstrip("Z"))
        assert data["_rc"] == 0, data["_raw"][-3000:]
        assert restore_record(host)["backup"] == first
        # the older backup still had the orders that were deleted before the second one
        assert db.execute(target, "SELECT count(*) FROM app.orders")[0][0] > 0
    finally:
        pg_server.drop_database(target)


def test_restore_and_switch_keeps_the_old_database(host, pg_server, db):
    host.backup()
    before = db.checksums(host.database)
    target = f"{host.database}_new"
    keep_as = f"{host.database}_old"
    try:
        data = host.run("restore", target_db=target, confirm="yes", switch=True, keep_as=keep_as)
        assert data["_rc"] == 0, data["_raw"][-3000:]
        assert db.exists(keep_as) and not db.exists(target)
        assert db.checksums(host.database) == before  # the restored copy now has the live name
        assert restore_record(host)["switched"] is True
        assert "switch" in restore_record(host)["timings"]
    finally:
        pg_server.drop_database(keep_as)
        pg_server.drop_database(target)


def test_drill_records_rto_and_rpo_and_drops_the_scratch_database(host, pg_server, db,
                                                                   webhook_receiver):
    backup_id = host.backup()
    data = host.run("drill", sandstone_notify_webhook_url=webhook_receiver.url(RUNBOOK_HOOK))
    assert data["_rc"] == 0, data["_raw"][-3000:]
    lines = (host.log_dir / "drill.log").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["outcome"] == "passed" and record["backup"] == backup_id
    assert 0 < float(record["rto_seconds"]) < 600 and record["rto_met"] is True
    assert 0 <= int(record["rpo_seconds"]) < 600 and record["rpo_met"] is True
    with pg_server.connect() as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'sandstone_drill_%'").fetchall()
    assert left == []
    texts = hook_texts(webhook_receiver)
    assert len(texts) == 1 and "drill passed" in texts[0]


def test_drill_without_backups_fails_loudly_and_is_logged(host, webhook_receiver):
    data = host.run("drill", sandstone_notify_webhook_url=webhook_receiver.url(RUNBOOK_HOOK))
    assert data["_rc"] != 0
    record = json.loads((host.log_dir / "drill.log").read_text().splitlines()[0])
    assert record["outcome"] == "failed" and "no full backup" in record["error"]
    assert "drill failed" in hook_texts(webhook_receiver)[0]


def test_compare_reports_a_missing_policy(tmp_path, pg_server, source_db, fresh_db, cli, db):
    cli("full")
    target = fresh_db("cmp")
    cli("restore", "full", "latest", "--target-db", target, "--force")
    db.execute(target, "DROP POLICY orders_owner ON app.orders")
    playbook = f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: compare
      sandstone.backup.pg_db_compare:
        db_url: "{pg_server.url(target)}"
        reference_db: {source_db}
      ignore_errors: true
    - name: describe
      sandstone.backup.pg_db_compare:
        db_url: "{pg_server.url(target)}"
"""
    results = task_results(run_playbook(tmp_path, playbook))
    assert results["compare"]["failed"]
    assert "policy orders_owner on app.orders is missing" in results["compare"]["msg"]
    described = results["describe"]
    assert described["matches"] is None and described["target"]["rows"] == 1103
    assert described["target"]["rls_tables"] == ["app.orders", "billing.invoices"]


def test_verify_playbook_reports_good_and_damaged_backups(host, tmp_path):
    host.backup()
    data = host.run("verify")
    assert data["_rc"] == 0, data["_raw"][-3000:]
    report = task_results(data)["Report the verification"]["msg"]
    assert report["checked"] == 1 and report["failures"] == 0
    from tests.support.backups import flip_byte
    dump = next(p for p in (tmp_path / "storage" / "full").glob("*/*") if p.name != "manifest.json")
    flip_byte(dump)
    damaged = host.run("verify")
    assert damaged["_rc"] != 0  # the playbook fails loudly on a damaged backup
    assert task_results(damaged)["Verify the repository as the backup user"]["rc"] == 4


def test_cleanup_playbook_dry_run_then_deletes_only_what_the_policy_says(host, tmp_path):
    import datetime as dt
    from tests.support.backups import clone, folders
    storage = tmp_path / "storage"
    newest = host.backup()
    now = dt.datetime.now(dt.timezone.utc)
    old = clone(storage, "full", newest, now - dt.timedelta(days=40))
    kept = clone(storage, "full", newest, now - dt.timedelta(days=3))
    plan = host.run("cleanup")
    assert plan["_rc"] == 0, plan["_raw"][-3000:]
    assert sorted(folders(storage, "full")) == sorted([old, kept, newest])  # dry run only
    deleted = host.run("cleanup", confirm="yes")
    assert deleted["_rc"] == 0, deleted["_raw"][-3000:]
    assert task_results(deleted)["Delete the expired backups"]["changed"] is True
    assert sorted(folders(storage, "full")) == sorted([kept, newest])
