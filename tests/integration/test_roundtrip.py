"""Back up a real database and restore it into a new one: data, sequences and schema must
come back identical."""
import gzip
import subprocess
from pathlib import Path

import pytest


def backup_folder(workdir: Path, kind: str, backup_id: str) -> Path:
    return workdir / "storage" / kind / backup_id


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_full_backup_restores_identical(cli, db, source_db, workdir, pg_server, compression):
    result = cli("full", "--compression", compression, "--json").json()
    folder = backup_folder(workdir, "full", result["backup_id"])
    manifest = result["manifest"]
    assert manifest["type"] == "full" and manifest["database"] == source_db
    assert manifest["rows"] == 200 + 600 + 300 + 3
    stored = [p for p in folder.iterdir() if p.name != "manifest.json"]
    assert len(stored) == 1 and stored[0].stat().st_size == manifest["size"]

    target = f"{source_db}_restored"
    restored = cli("restore", "full", result["backup_id"], "--target-db", target, "--json").json()
    assert restored["database_created"] is True
    assert all(t["restored"] == t["expected"] for t in restored["tables"])
    try:
        assert db.checksums(target) == db.checksums(source_db)
        assert db.sequences(target) == db.sequences(source_db)
        assert db.schema_text(target) == db.schema_text(source_db)
        assert db.policies(target) == db.policies(source_db)
    finally:
        pg_server.drop_database(target)


def test_gzip_backup_is_standard_gzip_of_a_pg_restore_archive(cli, workdir, pg_server):
    result = cli("full", "--json").json()
    folder = backup_folder(workdir, "full", result["backup_id"])
    dump = next(p for p in folder.iterdir() if p.suffix == ".gz")
    subprocess.run(["gzip", "-t", str(dump)], check=True)
    plain = gzip.decompress(dump.read_bytes())
    assert plain.startswith(b"PGDMP")
    listing = subprocess.run([pg_server.bin("pg_restore"), "-l"], input=plain,
                             capture_output=True, check=True).stdout.decode()
    assert "TABLE DATA app users" in listing and "POLICY app orders orders_owner" in listing


def test_schema_backup_restores_schema_without_rows(cli, db, source_db, pg_server):
    result = cli("schema", "--json").json()
    assert result["manifest"]["tables"] == 0
    target = f"{source_db}_schema"
    cli("restore", "schema", result["backup_id"], "--target-db", target)
    try:
        assert db.schema_text(target) == db.schema_text(source_db)
        assert all(count == 0 for count, _ in db.checksums(target).values())
    finally:
        pg_server.drop_database(target)


def test_data_backup_and_table_restore(cli, db, source_db):
    result = cli("data", "app.orders,billing.invoices", "--json").json()
    assert {(t["schema"], t["name"]) for t in result["tables"]} == {
        ("app", "orders"), ("billing", "invoices")}
    before = db.checksums(source_db)
    # An accident: the orders that are not invoiced are deleted.
    db.execute(source_db, "DELETE FROM app.orders o WHERE NOT EXISTS "
               "(SELECT 1 FROM billing.invoices i WHERE i.order_id = o.id)")
    assert db.checksums(source_db)["app.orders"][0] == 300

    refused = cli("restore", "table", result["backup_id"], "app.orders", check=False)
    assert refused.code == 1
    assert "holds 300 rows" in refused.err and "--force" in refused.err
    assert db.checksums(source_db)["app.orders"][0] == 300

    # invoices reference orders: replacing orders alone would break them, so it is refused
    alone = cli("restore", "table", result["backup_id"], "app.orders", "--force", check=False)
    assert alone.code == 1 and "referenced by foreign keys from billing.invoices" in alone.err
    assert db.checksums(source_db)["app.orders"][0] == 300

    cli("restore", "table", result["backup_id"], "app.orders,billing.invoices", "--force")
    assert db.checksums(source_db) == before


def test_table_restore_from_full_backup_recreates_a_dropped_table(cli, db, source_db):
    backup_id = cli("full", "--json").json()["backup_id"]
    before = db.checksums(source_db)["Mixed Case.Odd.Table"]
    db.execute(source_db, 'DROP TABLE "Mixed Case"."Odd.Table"')
    out = cli("restore", "table", backup_id, '"Mixed Case"."Odd.Table"', "--json").json()
    assert out["tables"] == [{"table": "Mixed Case.Odd.Table", "expected": 3, "restored": 3}]
    assert out["warnings"]
    assert db.checksums(source_db)["Mixed Case.Odd.Table"] == before


def test_restore_refuses_non_empty_target_unless_forced(cli, db, source_db, fresh_db):
    backup_id = cli("full", "--json").json()["backup_id"]
    db.execute(source_db, "UPDATE app.users SET email = 'changed-' || email")
    changed = db.checksums(source_db)
    refused = cli("restore", "full", backup_id, check=False)
    assert refused.code == 1 and "is not empty" in refused.err and "--force" in refused.err
    assert db.checksums(source_db) == changed
    cli("restore", "full", backup_id, "--force")
    assert db.execute(source_db, "SELECT count(*) FROM app.users WHERE email LIKE 'changed-%'") == [(0,)]


def test_dry_run_changes_nothing(cli, db, source_db, workdir):
    plan = cli("full", "--dry-run", "--json").json()
    assert plan["dry_run"] and len(plan["tables"]) == 4
    assert not any((workdir / "storage").iterdir())
    backup_id = cli("full", "--json").json()["backup_id"]
    target = f"{source_db}_never"
    out = cli("restore", "full", backup_id, "--target-db", target, "--dry-run", "--json").json()
    assert out["plan"]["create_database"] is True and out["dry_run"] is True
    assert not db.exists(target)


def test_restore_of_an_old_script_sql_gz(cli, db, source_db, workdir, pg_server):
    """The original shell scripts wrote pg_dump | gzip > backup.sql.gz; those restore too."""
    env = {"PGPASSWORD": pg_server.password}
    import os
    plain = subprocess.run([pg_server.bin("pg_dump"), "-h", pg_server.host, "-p", str(pg_server.port),
                            "-U", pg_server.user, "-d", source_db], check=True, capture_output=True,
                           env={**os.environ, **env}).stdout
    old = workdir / "backup_20240115_020000.sql.gz"
    old.write_bytes(gzip.compress(plain))
    target = f"{source_db}_old"
    try:
        cli("restore", "full", str(old), "--target-db", target)
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)


def test_status_and_list(cli, source_db):
    first = cli("full", "--json").json()["backup_id"]
    cli("schema")
    listed = cli("restore", "list", "--json").json()["backups"]
    assert [b["type"] for b in listed] == ["full", "schema"] and listed[0]["id"] == first
    status = cli("status", "--json").json()
    assert status["backups"] == 2 and status["types"]["full"]["newest"]["id"] == first
    text = cli("status").out
    assert "full" in text and first in text
