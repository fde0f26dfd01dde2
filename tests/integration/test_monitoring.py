"""The audit log, the `log` and `status` views of it, the node_exporter metrics file and
the `check` warnings (old backup, failed verification, replication-slot lag on a real
logical slot), all through the real CLI."""
import datetime as dt
import json

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_notify import audit_records, notify_env, slack_text

SLACK_PATH = "/services/T0001/B0001/slacksecrettoken"
AUDIT_FIELDS = {"who", "host", "operation", "database", "backup_id", "started_at",
                "finished_at", "duration_seconds", "outcome", "error"}


def epoch(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def read_metrics(path):
    """{(name, frozenset(labels)): value} parsed by Prometheus' own text-format parser."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def test_every_operation_is_in_the_audit_log_and_shown_by_log_and_status(
        cli, source_db, workdir):
    backup = cli("full", "--json").json()
    cli("data", "app.no_such_table", check=False)
    target = f"{source_db}_r"
    cli("restore", "full", "latest", "--target-db", target)
    cli("full", "--dry-run")  # a plan, not an operation: not recorded

    records = audit_records(workdir)
    assert [r["operation"] for r in records] == ["backup.full", "backup.data", "restore.full"]
    for record in records:
        assert AUDIT_FIELDS <= set(record), AUDIT_FIELDS - set(record)
        assert "@" in record["who"] and record["started_at"] <= record["finished_at"]
    ok, failed, restored = records
    assert ok["outcome"] == "success" and ok["error"] is None
    assert ok["backup_id"] == backup["backup_id"] and ok["database"] == source_db
    assert ok["size"] == backup["manifest"]["size"] and ok["location"] == backup["location"]
    assert failed["outcome"] == "failure" and "no_such_table" in failed["error"]
    assert failed["hint"] and failed["exit_code"] != 0
    assert restored["backup_id"] == backup["backup_id"] and restored["database"] == target

    log = cli("log", "--last", "2", "--json").json()["operations"]
    assert [op["operation"] for op in log] == ["restore.full", "backup.data"]  # newest first
    text = cli("log").out
    assert text.index("restore.full") < text.index("backup.data") < text.index("backup.full")
    assert "next step: " + failed["hint"] in text

    status = cli("status").out
    assert "recent operations:" in status and "backup.data" in status and "failure" in status
    assert cli("status", "--json").json()["recent_operations"][0]["operation"] == "restore.full"


def test_metrics_file_parses_and_matches_the_backups(cli, cli_env, workdir):
    path = workdir / "textfile" / "sandstone.prom"
    path.parent.mkdir()
    env = dict(cli_env, METRICS_FILE=str(path))
    full = cli("full", "--json", env=env).json()
    schema = cli("schema", "--json", env=env).json()
    cli("data", "app.no_such_table", env=env, check=False)

    metrics = read_metrics(path)
    records = {r["operation"]: r for r in audit_records(workdir)}
    for kind, result in (("full", full), ("schema", schema)):
        label = frozenset({("type", kind)})
        record = records[f"backup.{kind}"]
        assert metrics[("sandstone_backup_last_size_bytes", label)] == result["manifest"]["size"]
        assert metrics[("sandstone_backup_last_success_timestamp_seconds", label)] == \
            epoch(record["finished_at"])
        assert metrics[("sandstone_backup_last_duration_seconds", label)] == \
            record["duration_seconds"]
    failure = records["backup.data"]
    assert metrics[("sandstone_backup_last_failure_timestamp_seconds",
                    frozenset({("operation", "backup.data")}))] == epoch(failure["finished_at"])
    assert ("sandstone_backup_last_success_timestamp_seconds",
            frozenset({("type", "data")})) not in metrics
    assert sorted(p.name for p in path.parent.iterdir()) == ["sandstone.prom"]  # no temp left


def test_metrics_file_that_cannot_be_written_does_not_fail_the_backup(cli, cli_env, workdir):
    env = dict(cli_env, METRICS_FILE=str(workdir / "missing-dir" / "sandstone.prom"))
    result = cli("schema", env=env)
    assert "cannot write the metrics file" in result.err


def _age_manifest(workdir, backup_id: str, hours: float) -> None:
    path = workdir / "storage" / "full" / backup_id / "manifest.json"
    data = json.loads(path.read_text())
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours)
    data["started_at"] = (then - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["finished_at"] = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(data))


def test_check_warns_when_the_newest_full_backup_is_too_old(cli, cli_env, webhook_receiver,
                                                          workdir):
    env = notify_env(cli_env, SLACK_WEBHOOK_URL=webhook_receiver.url(SLACK_PATH),
                     METRICS_FILE=workdir / "sandstone.prom")
    none_yet = cli("check", env=env, check=False)
    assert none_yet.code == 1 and "WARNING no full backup in" in none_yet.out

    backup = cli("full", "--json", env=env).json()
    fine = cli("check", "--json", env=env)
    assert fine.code == 0 and fine.json()["ok"] is True and fine.json()["warnings"] == []
    assert "all is well" in cli("check", env=env).out

    _age_manifest(workdir, backup["backup_id"], hours=27)
    stale = cli("check", env=env, check=False)
    assert stale.code == 1
    assert f"({backup['backup_id']}) is 27.0 h old, more than MAX_BACKUP_AGE_HOURS=26" in stale.out
    assert "next step: check that the scheduled full backup runs" in stale.out
    assert cli("check", env=dict(env, MAX_BACKUP_AGE_HOURS="28")).code == 0

    # warnings are notified even with NOTIFY_ON=failure; the all-clear runs are not
    sent = [r.json() for r in webhook_receiver.on(SLACK_PATH)]
    assert len(sent) == 2
    assert sent[0]["text"].startswith("WARNING: health check") and "no full backup" in slack_text(sent[0])
    assert "27.0 h old" in slack_text(sent[1])
    outcomes = [r["outcome"] for r in audit_records(workdir) if r["operation"] == "check"]
    assert outcomes == ["warning", "success", "success", "warning", "success"]
    metrics = read_metrics(workdir / "sandstone.prom")
    assert metrics[("sandstone_backup_check_warnings", frozenset())] == 0


def test_check_warns_when_the_newest_verification_failed(cli, workdir):
    backup = cli("full", "--json").json()
    path = workdir / "storage" / "full" / backup["backup_id"] / "manifest.json"
    data = json.loads(path.read_text())
    data["verify"] = [
        {"at": "2026-01-01T00:00:00Z", "location": "local", "ok": True, "error": None},
        {"at": "2026-01-02T00:00:00Z", "location": "local", "ok": False,
         "error": "sha256 of the stored bytes does not match"}]
    path.write_text(json.dumps(data))
    result = cli("check", "--json", check=False)
    assert result.code == 1
    [warning] = result.json()["warnings"]
    assert warning["code"] == "verify_failed"
    assert backup["backup_id"] in warning["message"] and "does not match" in warning["message"]

    data["verify"].append({"at": "2026-01-03T00:00:00Z", "location": "local", "ok": True,
                           "error": None})
    path.write_text(json.dumps(data))
    assert cli("check").code == 0  # a later verification passed


def test_check_warns_about_replication_slot_lag_on_a_real_slot(cli, cli_env, pg_server,
                                                               source_db, workdir):
    slot = f"sandstone_test_{source_db[-8:]}"
    env = dict(cli_env, SLOT_LAG_WARN_BYTES="65536", METRICS_FILE=str(workdir / "sandstone.prom"))
    cli("full", env=env)
    with pg_server.connect(source_db) as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
    try:
        quiet = cli("check", "--json", env=env).json()  # nothing written since: no lag yet
        [mine] = [s for s in quiet["slots"] if s["slot_name"] == slot]
        assert mine["slot_type"] == "logical" and mine["lag_bytes"] < 65536

        with pg_server.connect(source_db) as conn:  # ~1 MB of WAL the slot must keep
            conn.execute("CREATE TABLE public.wal_filler AS SELECT g, repeat('x', 500) AS pad "
                         "FROM generate_series(1, 2000) g")
        result = cli("check", "--json", env=env, check=False)
        with pg_server.connect(source_db) as conn:
            after = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) "
                                 "FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()[0]
        assert result.code == 1
        [warning] = [w for w in result.json()["warnings"] if w["code"] == "slot_lag"]
        assert warning["details"]["slot"] == slot
        lag = warning["details"]["lag_bytes"]
        assert 1_000_000 < lag <= after
        assert warning["message"] == (f"replication slot {slot} holds back {lag} bytes of WAL, "
                                      "more than SLOT_LAG_WARN_BYTES=65536; no consumer is connected")
        assert f"pg_drop_replication_slot('{slot}')" in warning["hint"]

        metrics = read_metrics(workdir / "sandstone.prom")
        assert metrics[("sandstone_replication_slot_lag_bytes", frozenset({("slot", slot)}))] == lag
        assert metrics[("sandstone_backup_check_warnings", frozenset())] == 1
    finally:
        with pg_server.connect(source_db) as conn:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def test_check_warns_when_the_database_cannot_be_reached(cli, cli_env, pg_server, source_db):
    env = dict(cli_env, SUPABASE_DB_URL=pg_server.url(source_db, password="wrong"))
    cli("full", env=dict(cli_env))
    result = cli("check", "--json", env=env, check=False)
    assert result.code == 1
    [warning] = result.json()["warnings"]
    assert warning["code"] == "cannot_check"
    assert "password authentication failed" in warning["message"]


def test_check_warns_when_the_last_verify_run_failed_without_reaching_a_manifest(
        cli, cli_env, workdir):
    env = dict(cli_env, METRICS_FILE=str(workdir / "sandstone.prom"))
    cli("full", env=env)
    log = workdir / "logs" / "audit.jsonl"

    def verify_run(outcome, error=None):
        record = {"operation": "verify", "outcome": outcome, "database": "", "backup_id": None,
                  "who": "ops@db1", "started_at": "2026-01-26T04:00:00Z",
                  "finished_at": "2026-01-26T04:00:05Z", "error": error,
                  "hint": "check that the repository is mounted" if error else None}
        with log.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    verify_run("failure", "cannot read s3://bucket/full/x: access denied")
    result = cli("check", "--json", env=env, check=False)
    assert result.code == 1
    [warning] = result.json()["warnings"]
    assert warning["code"] == "verify_failed" and "access denied" in warning["message"]
    assert warning["hint"] == "check that the repository is mounted"
    metrics = read_metrics(workdir / "sandstone.prom")
    assert metrics[("sandstone_backup_last_verify_ok", frozenset())] == 0

    verify_run("success")
    assert cli("check", env=env).code == 0
    assert read_metrics(workdir / "sandstone.prom")[("sandstone_backup_last_verify_ok", frozenset())] == 1
