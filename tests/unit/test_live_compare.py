"""The live-database comparison and the status summaries, on hand-made inputs."""
import datetime as dt

from sandstone_backup.live_check import compare
from sandstone_backup.manifest import Manifest
from sandstone_backup.status import job_history, verified_state

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.timezone.utc)


def manifest(policies=None, verify=()):
    return Manifest(id="20260315T020000Z", type="full", database="app",
                    tables=[{"schema": "app", "name": "orders", "rows": 10, "rls": True},
                            {"schema": "app", "name": "users", "rows": 5}],
                    policies=policies, verify=list(verify))


POLICY = {"schema": "app", "table": "orders", "policy": "own", "cmd": "SELECT",
          "roles": ["authenticated", "anon"], "qual": "(uid = auth.uid())", "with_check": None}


def test_identical_database_has_no_differences():
    live = [{"schema": "app", "name": "orders", "rls": True},
            {"schema": "app", "name": "users", "rls": False}]
    same_roles_other_order = dict(POLICY, roles=["anon", "authenticated"])
    assert compare(manifest([POLICY]), live, {"app.orders": 10, "app.users": 5},
                   [same_roles_other_order]) == []


def test_each_kind_of_difference_is_one_sentence():
    live = [{"schema": "app", "name": "orders", "rls": False},
            {"schema": "app", "name": "new", "rls": False}]
    changed = dict(POLICY, policy="own", cmd="ALL")
    extra = dict(POLICY, policy="other")
    found = compare(manifest([POLICY]), live, {"app.orders": 12, "app.new": 0}, [changed, extra])
    assert [(d["kind"], d["message"]) for d in found] == [
        ("row_count", "table app.orders has 12 rows, the backup 10 (differs by +2)"),
        ("rls", "row-level security on app.orders is disabled, the backup had it enabled"),
        ("missing_table", "table app.users is missing (the backup has it with 5 rows)"),
        ("extra_table", "table app.new is not in the backup"),
        ("policy_changed", "policy own on app.orders changed: cmd 'SELECT' -> 'ALL'"),
        ("policy_extra", "policy other on app.orders is not in the backup")]
    assert found[0]["delta"] == 2


def test_a_manifest_without_rls_records_skips_those_checks():
    live = [{"schema": "app", "name": "orders", "rls": False},
            {"schema": "app", "name": "users", "rls": True}]
    old = manifest(policies=None)
    del old.tables[0]["rls"]
    assert compare(old, live, {"app.orders": 10, "app.users": 5}, [POLICY]) == []


def test_verified_state_over_locations():
    ok = {"at": "2026-03-15T03:00:00Z", "ok": True, "error": None}
    bad = {"at": "2026-03-15T04:00:00Z", "ok": False, "error": "db.dump.gz is missing"}
    assert verified_state({"local": manifest(verify=[ok])}, NOW)["state"] == "ok"
    assert verified_state({"local": manifest(verify=[bad, ok])}, NOW)["state"] == "ok"
    both = verified_state({"local": manifest(verify=[ok]), "s3": manifest(verify=[bad])}, NOW)
    assert both["state"] == "failed" and both["error"] == "s3: db.dump.gz is missing"
    assert both["at"] == "2026-03-15T04:00:00Z" and both["age_seconds"] == 8 * 3600
    assert verified_state({"local": manifest(verify=[ok]), "s3": manifest()}, NOW)["state"] == "partial"
    assert verified_state({"local": manifest()}, NOW)["state"] == "never"


def test_job_history_keeps_the_last_success_and_failure():
    records = [
        {"operation": "backup.full", "outcome": "success", "finished_at": "2026-03-13T02:00:00Z",
         "backup_id": "A"},
        {"operation": "backup.full", "outcome": "failure", "finished_at": "2026-03-14T02:00:00Z",
         "error": "pg_dump failed", "exit_code": 1},
        {"operation": "backup.full", "outcome": "success", "finished_at": "2026-03-15T02:00:00Z",
         "backup_id": "B"},
        {"operation": "cleanup", "outcome": "failure", "finished_at": "2026-03-15T03:00:00Z",
         "error": "locked"},
    ]
    jobs = job_history(records, NOW)
    assert list(jobs) == ["backup.full", "cleanup"]
    full = jobs["backup.full"]
    assert full["runs"] == 3 and full["last_outcome"] == "success"
    assert full["last_success"]["backup_id"] == "B" and full["last_success"]["age_seconds"] == 36000
    assert full["last_failure"]["error"] == "pg_dump failed"
    assert jobs["cleanup"]["last_success"] is None and jobs["cleanup"]["last_outcome"] == "failure"
