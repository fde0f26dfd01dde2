"""Two runs never overlap: a real process holds the lock, a second CLI run fails at once
naming it (or waits with LOCK_WAIT_SECONDS); after the holder is SIGKILLed the next run
takes the lock over and says so."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

HOLDER = textwrap.dedent("""
    import os, sys, time
    from sandstone_backup import config, lock, pg
    backup_dir, operation, what, url, seconds = sys.argv[1:6]
    if what == "repository":
        scope = lock.hold(backup_dir, operation)
    else:  # only the database's lock, as a run on another repository would hold it
        key = lock.database_key(pg.build_spec(config.load({}, environ={}), url=url))
        held = lock.FileLock(os.path.join(lock.lock_dir(backup_dir), lock.database_lock_name(key)),
                             "database " + key)
        held.acquire({"pid": os.getpid(), "operation": operation, "target": key,
                      "started_at": "2026-01-01T00:00:00Z"})
        scope = None
    if scope is not None:
        scope.__enter__()
    print("locked", flush=True)
    time.sleep(float(seconds))
    if scope is not None:
        scope.__exit__(None, None, None)
""")


@pytest.fixture
def holder(cli_env, workdir):
    """Start a process that holds a lock; it is killed at the end of the test."""
    started = []

    def start(operation="backup.full", what="repository", seconds=60):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir / "storage"),
                                 operation, what, cli_env["SUPABASE_DB_URL"], str(seconds)],
                                stdout=subprocess.PIPE, text=True, env=cli_env)
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def audit(workdir):
    path = workdir / "logs" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_second_run_fails_naming_the_holder_then_takes_over_a_dead_lock(cli, holder, workdir):
    proc = holder("backup.full")
    busy = cli("full", check=False)
    assert busy.code == 1
    line = busy.err.strip().splitlines()[-1]
    assert line.startswith(f"sandstone-backup: error: repository {workdir / 'storage'} is in use "
                           f"by pid {proc.pid} (backup.full) since ")
    assert "wait for that run to finish" in line
    assert not list((workdir / "storage").glob("full/*"))  # nothing was written
    for verb in (["verify"], ["cleanup"], ["restore", "full", "latest", "--target-db", "x"]):
        assert "is in use by pid" in cli(*verb, check=False).err
    status = cli("status", "--json").json()
    assert [(r["pid"], r["operation"], r["stale"]) for r in status["running"]] == [
        (proc.pid, "backup.full", False)]
    assert f"running: pid {proc.pid} (backup.full)" in cli("status").out

    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert cli("status", "--json").json()["running"][0]["stale"] is True
    taken = cli("full", "--json")
    assert (f"took over the lock on repository {workdir / 'storage'} left by pid {proc.pid} "
            f"(backup.full) since ") in taken.err
    assert "which is no longer running" in taken.err
    assert taken.json()["backup_id"]
    record = audit(workdir)[-1]
    assert record["outcome"] == "success" and "no longer running" in record["lock_takeover"][0]
    failures = [r for r in audit(workdir) if r["outcome"] == "failure"]
    assert failures and all("is in use by pid" in r["error"] for r in failures)
    # a clean release leaves no name behind: the next run takes over nothing
    assert "took over" not in cli("schema").err
    assert cli("status", "--json").json()["running"] == []


def test_the_database_lock_guards_the_database(cli, holder, source_db):
    holder("restore.full", what="database")
    busy = cli("full", check=False)
    assert busy.code == 1
    assert f"/{source_db} is in use by pid" in busy.err and "(restore.full of " in busy.err
    # the repository itself is free: a cleanup runs
    assert cli("cleanup", "--json").json()["changed"] is False


def test_lock_wait_seconds_waits_for_the_holder(cli, cli_env, holder, workdir):
    proc = holder("verify", seconds=3)
    result = cli("schema", "--json", env=dict(cli_env, LOCK_WAIT_SECONDS="60"))
    assert result.json()["backup_id"] and proc.wait(timeout=30) == 0
    assert "took over" not in result.err  # the holder released it cleanly


def test_dry_runs_and_status_do_not_lock(cli, holder):
    holder("backup.full")
    assert cli("full", "--dry-run", "--json").json()["dry_run"] is True
    assert cli("cleanup", "--dry-run", "--json").json()["dry_run"] is True
    assert cli("status", "--json").json()["backups"] == 0


def test_a_lock_that_cannot_be_created_is_one_clear_line(cli, cli_env, workdir):
    not_a_dir = workdir / "file"
    not_a_dir.write_text("")
    result = cli("schema", env=dict(cli_env, BACKUP_DIR=str(not_a_dir)), check=False)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith(
        f"sandstone-backup: error: cannot open the lock file {not_a_dir}/locks/repository.lock")
    assert "Traceback" not in result.err
