"""The modules through ansible-playbook on localhost: backup, dry-run restore, restore,
and a failure that reports one line without leaking the password."""
import textwrap


from tests.support.ansible_run import run_playbook, task_results


def test_backup_and_restore_through_ansible(tmp_path, pg_server, source_db, db):
    storage = tmp_path / "storage"
    target = f"{source_db}_ansible"
    playbook = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          vars:
            conn: &conn
              db_url: "{pg_server.url(source_db)}"
              backup_dir: "{storage}"
          tasks:
            - name: plan
              sandstone.backup.pg_backup: {{<<: *conn, type: full}}
              check_mode: true
            - name: backup
              sandstone.backup.pg_backup: {{<<: *conn, type: full, compression: zstd}}
            - name: dry run
              sandstone.backup.pg_restore_pit: {{<<: *conn, backup: latest, target_db: {target}}}
              check_mode: true
            - name: restore
              sandstone.backup.pg_restore_pit: {{<<: *conn, backup: latest, target_db: {target}}}
            - name: restore again without force
              sandstone.backup.pg_restore_pit: {{<<: *conn, backup: latest, target_db: {target}}}
              ignore_errors: true
            - name: wrong password
              sandstone.backup.pg_backup:
                db_url: "{pg_server.url(source_db, password='wrong-Pa55')}"
                backup_dir: "{storage}"
              ignore_errors: true
        """)
    data = run_playbook(tmp_path, playbook)
    results = task_results(data)
    try:
        assert results["plan"]["changed"] is True and results["plan"]["dry_run"] is True
        assert results["backup"]["manifest"]["compression"] == "zstd"
        backup_id = results["backup"]["backup_id"]
        # the check-mode plan wrote nothing: the one backup is the real one
        assert [p.parent.name for p in storage.glob("*/*/manifest.json")] == [backup_id]
        assert results["dry run"]["plan"]["create_database"] is True
        assert results["restore"]["database_created"] is True
        assert db.checksums(target) == db.checksums(source_db)
        refused = results["restore again without force"]
        assert refused["failed"] and "is not empty" in refused["msg"]
        wrong = results["wrong password"]
        assert wrong["failed"] and wrong["exit_code"] == 3
        assert "password authentication failed" in wrong["msg"]
        assert "wrong-Pa55" not in data["_raw"] and pg_server.password not in data["_raw"]
    finally:
        pg_server.drop_database(target)


def test_plan_in_check_mode_writes_nothing(tmp_path, pg_server, source_db):
    storage = tmp_path / "storage"
    playbook = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          tasks:
            - name: plan
              sandstone.backup.pg_backup:
                db_url: "{pg_server.url(source_db)}"
                backup_dir: "{storage}"
                type: data
                tables: [app.orders]
        """)
    results = task_results(run_playbook(tmp_path, playbook, check=True))
    assert [t["name"] for t in results["plan"]["tables"]] == ["orders"]
    assert not storage.exists()
