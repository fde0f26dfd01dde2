"""A backup run killed with SIGKILL at any moment leaves nothing that looks like a backup,
and the next run removes the leftovers and says so. Leftovers of a run that is still
alive are never touched."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from sandstone_backup.inflight import _process_start
from tests.conftest import CLI, ROOT, load_sample


def start_cli(env, *args):
    return subprocess.Popen(CLI + list(args), env=env, cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, proc, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def big_env(env, pg_server, fresh_db):
    name = fresh_db("big")
    load_sample(pg_server, name, rows=20000)
    return dict(env, SUPABASE_DB_URL=pg_server.url(name))


def test_killed_during_dump_leaves_no_backup_and_next_run_cleans(cli, cli_env, pg_server,
                                                                 fresh_db, workdir):
    env = big_env(cli_env, pg_server, fresh_db)
    storage = workdir / "storage"
    proc = start_cli(env, "full", "--compression", "none")
    wait_for(lambda: list(storage.glob("full/*/*.partial")), proc, "the dump started")
    kill(proc)
    partial = list(storage.glob("full/*/*.partial"))
    assert partial, "the kill must have hit the dump"
    assert cli("restore", "list", "--json", env=env).json()["backups"] == []
    status = cli("status", "--json", env=env).json()
    assert status["backups"] == 0 and status["incomplete"] == [f"full/{partial[0].parent.name}"]

    result = cli("full", "--json", env=env).json()
    cleaned = result["cleaned_leftovers"]
    assert len(cleaned) == 1 and partial[0].parent.name in cleaned[0]
    assert not partial[0].parent.exists()
    listed = cli("restore", "list", "--json", env=env).json()["backups"]
    assert [b["id"] for b in listed] == [result["backup_id"]]
    assert listed[0]["rows"] == 20000 + 60000 + 30000 + 3


def test_killed_during_upload_leaves_no_backup_in_s3_and_next_run_cleans(
        cli, s3_env, s3, s3_bucket, fault_proxy, pg_server, fresh_db, workdir):
    env = big_env(s3_env, pg_server, fresh_db)
    env.update(S3_ENDPOINT_URL=fault_proxy.endpoint, S3_PART_SIZE_MB="5")
    # part 1 goes through, part 2 is held: the kill hits a multipart upload in progress
    fault_proxy.hold = lambda method, path: method == "PUT" and "partNumber=2" in path
    proc = start_cli(env, "full", "-s", "--compression", "none")
    wait_for(fault_proxy.held.is_set, proc, "the upload's second part")
    kill(proc)
    fault_proxy.hold = None
    fault_proxy.release()

    uploads = s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert len(uploads) == 1
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert not [k for k in keys if k.endswith("manifest.json")]
    # the local backup was published before the copy started; S3 shows no backup
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert [b["locations"] for b in listed] == [["local"]]

    result = cli("full", "-s", "--json", env=env).json()
    assert any("unfinished multipart upload" in line for line in result["cleaned_leftovers"])
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert [b["locations"] for b in listed] == [["local"], ["local", "s3"]]
    assert listed[-1]["id"] == result["backup_id"]


def _marker(storage: Path, pid: int) -> None:
    folder = storage / ".inflight"
    folder.mkdir(exist_ok=True)
    (folder / f"{socket.gethostname()}-{pid}.json").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": pid, "process_start": _process_start(pid),
         "started": time.time()}))


def test_leftovers_of_a_live_run_are_kept_until_it_is_gone(cli, cli_env, workdir):
    storage = workdir / "storage"
    folder = storage / "full" / "20260101T000000Z"
    folder.mkdir(parents=True)
    (folder / "db.dump.gz.partial").write_bytes(b"half a dump")
    writer = subprocess.Popen(["sleep", "60"])  # stands for another backup run, still writing
    try:
        _marker(storage, writer.pid)
        result = cli("full", "--json").json()
        assert result["cleaned_leftovers"] == []
        assert (folder / "db.dump.gz.partial").exists()
    finally:
        writer.kill()
        writer.wait()
    result = cli("full", "--json").json()
    assert len(result["cleaned_leftovers"]) == 1 and not folder.exists()
    assert not list((storage / ".inflight").iterdir())


def test_old_leftovers_are_removed_even_while_another_run_lives(cli, cli_env, workdir):
    storage = workdir / "storage"
    folder = storage / "schema" / "20260101T000000Z"
    folder.mkdir(parents=True)
    partial = folder / "db.dump.gz.partial"
    partial.write_bytes(b"half a dump")
    two_hours_ago = time.time() - 7200
    os.utime(partial, (two_hours_ago, two_hours_ago))
    writer = subprocess.Popen(["sleep", "60"])
    try:
        _marker(storage, writer.pid)
        result = cli("full", "--json").json()
        assert len(result["cleaned_leftovers"]) == 1 and not folder.exists()
    finally:
        writer.kill()
        writer.wait()
