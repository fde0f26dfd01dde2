"""Encryption through the modules: pg_backup encrypts, pg_restore_pit refuses a wrong key
without creating anything and restores with a rotated key list; keys never show."""
import base64
import json
import os
import textwrap

from tests.support.ansible_run import run_playbook, task_results


def test_encrypted_backup_and_restore_through_ansible(tmp_path, pg_server, source_db, db):
    storage = tmp_path / "storage"
    key_a, key_b = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    target = f"{source_db}_ansible_enc"
    playbook = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          vars:
            conn: &conn
              db_url: "{pg_server.url(source_db)}"
              backup_dir: "{storage}"
          tasks:
            - name: backup
              sandstone.backup.pg_backup: {{<<: *conn, encrypt: true, encryption_key: "{key_a}"}}
            - name: wrong key
              sandstone.backup.pg_restore_pit:
                <<: *conn
                target_db: {target}
                encryption_key: "{key_b}"
              ignore_errors: true
            - name: rotated
              sandstone.backup.pg_restore_pit:
                <<: *conn
                target_db: {target}
                encryption_key: "{key_b}"
                encryption_old_keys: ["{key_a}"]
        """)
    data = run_playbook(tmp_path, playbook)
    results = task_results(data)
    try:
        backup = results["backup"]
        key_id = backup["manifest"]["encryption_key_id"]
        assert key_id and backup["files"][0]["encryption"]["key_id"] == key_id
        manifest = json.loads(next(storage.glob("full/*/manifest.json")).read_text())
        assert manifest["encryption"]["key_id"] == key_id
        wrong = results["wrong key"]
        assert wrong["failed"] and wrong["exit_code"] == 2 and key_id in wrong["msg"]
        assert "ENCRYPTION_OLD_KEYS" in wrong["msg"]
        assert results["rotated"]["database_created"] is True
        assert db.checksums(target) == db.checksums(source_db)
        assert key_a not in data["_raw"] and key_b not in data["_raw"]
    finally:
        pg_server.drop_database(target)


def test_encryption_options_are_documented(tmp_path):
    import subprocess
    import sys
    from tests.support.ansible_run import collection_path
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collection_path(tmp_path)),
               ANSIBLE_HOME=str(tmp_path / ".ansible"))
    doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    proc = subprocess.run([doc, "--json", "sandstone.backup.pg_backup", "sandstone.backup.pg_restore_pit"],
                          capture_output=True, text=True, env=env, check=True)
    docs = json.loads(proc.stdout)
    backup = docs["sandstone.backup.pg_backup"]["doc"]["options"]
    restore = docs["sandstone.backup.pg_restore_pit"]["doc"]["options"]
    assert backup["encrypt"]["type"] == "bool"
    for options in (backup, restore):
        assert options["encryption_key"]["type"] == "str"
        assert options["encryption_old_keys"]["elements"] == "str"
