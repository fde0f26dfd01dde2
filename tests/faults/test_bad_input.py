"""Bad input gets a one-line error that says what to do, the right exit code, and changes
nothing: wrong password, unreachable host, missing table, corrupt or truncated backups."""
import os
import time
from pathlib import Path

import pytest

from tests.support.pgserver import free_port


def one_line_error(result) -> str:
    lines = [line for line in result.err.splitlines() if line.startswith("sandstone-backup: error:")]
    assert len(lines) == 1, result.err
    return lines[0]


def backup_files(storage: Path):
    """What a run left in the repository, apart from its lock and in-flight bookkeeping."""
    return [p for p in storage.rglob("*") if p.is_file()
            and p.relative_to(storage).parts[0] not in ("locks", ".inflight")]


def backup_file(workdir: Path, backup_id: str, kind: str = "full") -> Path:
    folder = workdir / "storage" / kind / backup_id
    return next(p for p in folder.iterdir() if p.name != "manifest.json")


def test_wrong_password(cli, cli_env, pg_server, source_db, workdir):
    env = dict(cli_env, SUPABASE_DB_URL=pg_server.url(source_db, password="not-the-Pa55word"))
    result = cli("full", env=env, check=False)
    assert result.code == 3
    line = one_line_error(result)
    assert "password authentication failed" in line and "check the password" in line
    assert "not-the-Pa55word" not in result.err + result.out
    assert backup_files(workdir / "storage") == []


def test_unreachable_host(cli, cli_env, workdir):
    env = dict(cli_env, SUPABASE_DB_URL=f"postgresql://u:p@127.0.0.1:{free_port()}/db")
    result = cli("full", env=env, check=False)
    assert result.code == 3
    assert "cannot reach" in one_line_error(result)
    assert backup_files(workdir / "storage") == []


def test_missing_table(cli, workdir):
    result = cli("data", "app.orders,app.no_such_table", check=False)
    assert result.code == 1
    assert "table app.no_such_table does not exist" in one_line_error(result)
    assert backup_files(workdir / "storage") == []


def test_bad_config_key_is_a_usage_error(cli, cli_env, workdir):
    conf = workdir / "backup.conf"
    conf.write_text("BACKUP_DIR=/tmp/x\nRETENTION_DAY=3\n")
    result = cli("config", "validate", "--config", str(conf), check=False)
    assert result.code == 2
    assert "unknown key RETENTION_DAY" in one_line_error(result)


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_damaged_backup_is_refused_before_anything_changes(cli, db, source_db, workdir, damage):
    backup_id = cli("full", "--json").json()["backup_id"]
    path = backup_file(workdir, backup_id)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data += b"\x00" * 10
    path.write_bytes(bytes(data))
    target = f"{source_db}_bad"
    result = cli("restore", "full", backup_id, "--target-db", target, check=False)
    assert result.code == 4, result.err
    assert "use another backup" in one_line_error(result)
    assert not db.exists(target)
    # into the existing database with --force: still refused first, data unchanged
    before = db.checksums(source_db)
    db.execute(source_db, "DELETE FROM billing.invoices")
    damaged = cli("restore", "full", backup_id, "--force", check=False)
    assert damaged.code == 4
    assert db.checksums(source_db)["billing.invoices"][0] == 0
    assert before["billing.invoices"][0] == 300


def test_damaged_manifest_is_an_integrity_error(cli, workdir):
    backup_id = cli("full", "--json").json()["backup_id"]
    manifest = workdir / "storage" / "full" / backup_id / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    result = cli("restore", "full", backup_id, "--target-db", "never_made", check=False)
    assert result.code == 4 and "not valid JSON" in one_line_error(result)


def test_missing_backup_id(cli):
    result = cli("restore", "full", "20200101T000000Z", "--target-db", "x", check=False)
    assert result.code == 1 and "not found" in one_line_error(result)


def test_failed_restore_drops_the_database_it_created(cli, db, source_db, workdir, pg_server):
    """A restore that fails half-way (here: a role the dump needs is missing) leaves no
    half-restored database behind."""
    with pg_server.connect(source_db) as conn:
        conn.execute("CREATE ROLE transient_owner")
        conn.execute("ALTER TABLE billing.invoices OWNER TO transient_owner")
    backup_id = cli("full", "--json").json()["backup_id"]
    with pg_server.connect(source_db) as conn:
        conn.execute("ALTER TABLE billing.invoices OWNER TO CURRENT_USER")
        conn.execute("DROP ROLE transient_owner")
    target = f"{source_db}_half"
    result = cli("restore", "full", backup_id, "--target-db", target, check=False)
    assert result.code == 1
    line = one_line_error(result)
    assert 'role "transient_owner" does not exist' in line and "dropped again" in line
    assert not db.exists(target)


def test_password_never_in_a_process_list(cli_env, pg_server, fresh_db, workdir):
    """While pg_dump runs, its command line carries no password."""
    import subprocess
    import sys
    from tests.conftest import load_sample
    big = fresh_db("big")
    load_sample(pg_server, big, rows=20000)
    env = dict(cli_env, SUPABASE_DB_URL=pg_server.url(big))
    proc = subprocess.Popen([sys.executable, "-m", "sandstone_backup.cli", "full"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = []
    while proc.poll() is None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"pg_dump" in cmdline and b"--snapshot" in cmdline:
                seen.append(cmdline)
        time.sleep(0.005)
    assert proc.returncode == 0, proc.stderr.read()
    assert seen, "pg_dump was never seen running"
    assert all(pg_server.password.encode() not in c for c in seen)
    logs = (workdir / "logs" / "sandstone-backup.log").read_text()
    assert pg_server.password not in logs
