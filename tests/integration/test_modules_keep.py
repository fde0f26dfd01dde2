"""pg_backup_info and pg_backup_verify through ansible-playbook on localhost."""
import textwrap

from tests.support.ansible_run import run_playbook, task_results
from tests.support.backups import flip_byte, read_manifest


def playbook(pg_server, source_db, storage, logs, tasks: str) -> str:
    head = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          environment: {{LOG_DIR: "{logs}"}}
          vars:
            conn: &conn
              db_url: "{pg_server.url(source_db)}"
              backup_dir: "{storage}"
          tasks:
        """)
    return head + textwrap.indent(textwrap.dedent(tasks).replace("LOGS", str(logs)), "    ")


def test_info_and_verify_modules(tmp_path, pg_server, source_db, db):
    storage, logs = tmp_path / "storage", tmp_path / "logs"
    first = playbook(pg_server, source_db, storage, logs, """
        - name: info of an empty repository
          sandstone.backup.pg_backup_info: {<<: *conn, log_dir: "LOGS/elsewhere"}
        - name: backup
          sandstone.backup.pg_backup: {<<: *conn, type: full}
        - name: verify in check mode
          sandstone.backup.pg_backup_verify: {<<: *conn}
          check_mode: true
        - name: verify
          sandstone.backup.pg_backup_verify: {<<: *conn}
        - name: live
          sandstone.backup.pg_backup_verify: {<<: *conn, live: true}
        - name: info
          sandstone.backup.pg_backup_info: {<<: *conn, log_dir: LOGS}
        - name: info in check mode
          sandstone.backup.pg_backup_info: {<<: *conn, log_dir: LOGS, type: schema}
          check_mode: true
        """)
    results = task_results(run_playbook(tmp_path, first))
    empty = results["info of an empty repository"]
    assert empty["changed"] is False and empty["backups"] == []
    assert empty["status"]["types"]["full"]["newest"] is None
    backup_id = results["backup"]["backup_id"]
    assert results["verify in check mode"]["checked"] == 1
    assert results["verify"]["changed"] is False and results["verify"]["failures"] == 0
    # check mode verified without recording; the real run recorded once
    assert len(read_manifest(storage, "full", backup_id)["verify"]) == 1
    live = results["live"]
    assert live["ok"] is True and live["backup"] == backup_id and live["differences"] == []
    info = results["info"]
    assert info["changed"] is False
    full = info["status"]["types"]["full"]
    assert full["newest"]["id"] == backup_id and full["locations"] == ["local"]
    assert full["verified"]["state"] == "ok"
    assert info["status"]["jobs"]["backup.full"]["last_success"]["backup_id"] == backup_id
    assert [b["id"] for b in info["backups"]] == [backup_id]
    assert info["backups"][0]["verified"] == "ok"
    assert results["info in check mode"]["backups"] == []  # only schema backups asked for

    flip_byte(next(p for p in (storage / "full" / backup_id).iterdir() if p.name != "manifest.json"))
    db.execute(source_db, "DROP POLICY invoices_read ON billing.invoices")
    second = playbook(pg_server, source_db, storage, logs, """
        - name: verify
          sandstone.backup.pg_backup_verify: {<<: *conn}
          ignore_errors: true
        - name: live
          sandstone.backup.pg_backup_verify: {<<: *conn, live: true}
          ignore_errors: true
        - name: info
          sandstone.backup.pg_backup_info: {<<: *conn}
        """)
    data = run_playbook(tmp_path, second)
    results = task_results(data)
    bad = results["verify"]
    assert bad["failed"] and bad["exit_code"] == 4 and f"full/{backup_id}" in bad["msg"]
    assert [b["ok"] for b in bad["backups"]] == [False]
    live = results["live"]
    assert live["failed"] and live["exit_code"] == 4
    assert [d["message"] for d in live["differences"]] == [
        "policy invoices_read on billing.invoices is missing"]
    assert results["info"]["status"]["types"]["full"]["verified"]["state"] == "failed"
    assert pg_server.password not in data["_raw"]


def test_cleanup_module_check_mode_lists_and_the_real_run_deletes(tmp_path, pg_server, source_db):
    import datetime as dt
    from tests.support.backups import clone, folders
    storage, logs = tmp_path / "storage", tmp_path / "logs"
    take = playbook(pg_server, source_db, storage, logs, """
        - name: backup
          sandstone.backup.pg_backup: {<<: *conn, type: full}
        """)
    real = task_results(run_playbook(tmp_path, take))["backup"]["backup_id"]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    old = [clone(storage, "full", real, now - dt.timedelta(days=d)) for d in (10, 20)]
    tasks = """
        - name: cleanup
          sandstone.backup.pg_backup_cleanup: {<<: *conn, retention_days: 7}
        """
    dry = task_results(run_playbook(tmp_path, playbook(pg_server, source_db, storage, logs, tasks),
                                    check=True))["cleanup"]
    assert dry["changed"] is True
    assert sorted(d["id"] for d in dry["locations"][0]["would_delete"]) == sorted(old)
    assert folders(storage, "full") == sorted(old + [real])
    done = task_results(run_playbook(tmp_path, playbook(pg_server, source_db, storage, logs,
                                                        tasks)))["cleanup"]
    assert done["changed"] is True and done["policy"] == {"days": 7}
    assert sorted(d["id"] for d in done["locations"][0]["deleted"]) == sorted(old)
    assert folders(storage, "full") == [real]
