"""verify re-reads every backup end to end and records the result in its manifest;
restore verify compares a live database with the newest full backup."""
import json

from tests.support.backups import flip_byte, read_manifest, write_manifest


def stored_file(storage, kind, ident):
    return next(p for p in (storage / kind / ident).iterdir() if p.name != "manifest.json")


def test_verify_passes_and_is_recorded(cli, workdir, db, source_db):
    storage = workdir / "storage"
    db.execute(source_db, "CREATE TABLE app.empty (id int)")  # no rows: still has TABLE DATA
    full = cli("full", "--compression", "zstd", "--json").json()["backup_id"]
    schema = cli("schema", "--json").json()["backup_id"]
    result = cli("verify", "--json").json()
    assert result["checked"] == 2 and result["failures"] == 0
    by_ref = {r["ref"]: r for r in result["backups"]}
    assert by_ref[f"full/{full}"]["ok"] and by_ref[f"schema/{schema}"]["ok"]
    [checked] = by_ref[f"full/{full}"]["files"]
    manifest = read_manifest(storage, "full", full)
    assert checked["plain_size"] == manifest["files"][0]["plain_size"]
    assert checked["toc_entries"] > 10  # pg_restore --list read the archive's table of contents
    [entry] = manifest["verify"]
    assert entry["ok"] is True and entry["error"] is None
    assert entry["location"] == str(storage) and entry["bytes"] == manifest["files"][0]["size"]
    assert "verified 2 backups" in cli("verify").out
    assert len(read_manifest(storage, "full", full)["verify"]) == 2

    status = cli("status", "--json").json()
    assert status["types"]["full"]["verified"]["state"] == "ok"
    assert status["types"]["full"]["locations"] == ["local"]
    assert status["jobs"]["verify"]["last_success"] is not None


def test_a_flipped_byte_fails_verify_naming_the_backup(cli, workdir):
    storage = workdir / "storage"
    good = cli("full", "--json").json()["backup_id"]
    bad = cli("schema", "--json").json()["backup_id"]
    flip_byte(stored_file(storage, "schema", bad))
    result = cli("verify", check=False)
    assert result.code == 4
    assert f"verify failed for 1 of 2 backups: schema/{bad} in {storage}" in result.err
    assert "does not match its manifest checksum" in result.err or "corrupt" in result.err
    summary = result.err.strip().splitlines()[-1]  # the lines before it are the log's
    assert summary.startswith(f"sandstone-backup: error: verify failed for 1 of 2 backups: "
                              f"schema/{bad}")
    [entry] = read_manifest(storage, "schema", bad)["verify"]
    assert entry["ok"] is False and entry["error"]
    assert read_manifest(storage, "full", good)["verify"][-1]["ok"] is True

    details = cli("verify", "--json", check=False)
    assert details.code == 4
    assert {r["ref"]: r["ok"] for r in details.json()["backups"]} == {
        f"full/{good}": True, f"schema/{bad}": False}
    status = cli("status", "--json").json()
    assert status["types"]["schema"]["verified"]["state"] == "failed"
    assert status["jobs"]["verify"]["last_outcome"] == "failure"
    assert f"schema/{bad}" in status["jobs"]["verify"]["last_failure"]["error"]
    text = cli("status").out
    assert "verified failed" in text and "FAILED" in text


def test_a_missing_file_or_a_changed_size_fails_verify(cli, workdir):
    storage = workdir / "storage"
    first = cli("full", "--json").json()["backup_id"]
    second = cli("full", "--json").json()["backup_id"]
    stored_file(storage, "full", first).unlink()
    with stored_file(storage, "full", second).open("ab") as handle:
        handle.write(b"\0")
    result = cli("verify", "--json", check=False)
    assert result.code == 4
    errors = {r["id"]: r["error"] for r in result.json()["backups"]}
    assert errors[first].endswith("is missing")
    assert "bytes, its manifest says" in errors[second]
    assert "(and 1 more)" in result.err


def test_a_damaged_manifest_fails_verify_and_shows_in_status(cli, workdir):
    storage = workdir / "storage"
    ident = cli("full", "--json").json()["backup_id"]
    (storage / "full" / ident / "manifest.json").write_text("{not json")
    result = cli("verify", check=False)
    assert result.code == 4 and "manifest unreadable" in result.err
    status = cli("status", "--json").json()
    assert status["damaged"][0]["folder"] == f"full/{ident}"


def test_archive_without_the_data_of_a_listed_table_fails(cli, workdir):
    """The manifest says a table was backed up, the archive's table of contents has no data
    for it: the archive is not what the manifest describes."""
    storage = workdir / "storage"
    ident = cli("full", "--json").json()["backup_id"]
    manifest = read_manifest(storage, "full", ident)
    manifest["tables"].append({"schema": "app", "name": "ghost", "rows": 1})
    write_manifest(storage, "full", ident, manifest)
    result = cli("verify", check=False)
    assert result.code == 4 and "holds data for app.ghost" in result.err


def test_verify_dry_run_records_nothing(cli, workdir):
    ident = cli("schema", "--json").json()["backup_id"]
    cli("verify", "--dry-run")
    assert read_manifest(workdir / "storage", "schema", ident)["verify"] == []


def test_restore_verify_matches_after_a_backup_and_reports_each_difference(cli, db, source_db, workdir):
    ident = cli("full", "--json").json()["backup_id"]
    manifest = read_manifest(workdir / "storage", "full", ident)
    assert {p["policy"] for p in manifest["policies"]} == {"orders_owner", "orders_insert",
                                                            "invoices_read"}
    assert {f"{t['schema']}.{t['name']}": t["rls"] for t in manifest["tables"]} == {
        "app.users": False, "app.orders": True, "billing.invoices": True,
        "Mixed Case.Odd.Table": False}
    ok = cli("restore", "verify", "--json").json()
    assert ok["ok"] is True and ok["backup"] == ident and ok["differences"] == []
    assert ok["tables_checked"] == 4 and ok["rows_checked"] == 1103 and ok["policies_checked"] == 3
    assert "matches backup" in cli("restore", "verify").out

    db.execute(source_db, 'DELETE FROM "Mixed Case"."Odd.Table" WHERE "Key" = 1')
    db.execute(source_db, "DROP POLICY orders_owner ON app.orders")
    db.execute(source_db, "ALTER TABLE billing.invoices DISABLE ROW LEVEL SECURITY")
    db.execute(source_db, "ALTER POLICY invoices_read ON billing.invoices USING (false)")
    db.execute(source_db, "CREATE TABLE app.extra (id int)")
    result = cli("restore", "verify", "--json", check=False)
    assert result.code == 4
    assert f"differs from backup {ident}" in result.err and "(and 4 more)" in result.err
    messages = sorted(d["message"] for d in result.json()["differences"])
    assert messages == sorted([
        "table Mixed Case.Odd.Table has 2 rows, the backup 3 (differs by -1)",
        "row-level security on billing.invoices is disabled, the backup had it enabled",
        "policy orders_owner on app.orders is missing",
        "policy invoices_read on billing.invoices changed: qual 'true' -> 'false'",
        "table app.extra is not in the backup"])

    db.execute(source_db, "DROP TABLE app.extra")
    db.execute(source_db, "DROP TABLE billing.invoices CASCADE")
    result = cli("restore", "verify", "--json", check=False)
    kinds = {d["kind"] for d in result.json()["differences"]}
    assert "missing_table" in kinds
    assert "table billing.invoices is missing (the backup has it with 300 rows)" in {
        d["message"] for d in result.json()["differences"]}
    audit = [json.loads(line) for line in (workdir / "logs" / "audit.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in audit if r["operation"] == "restore.verify"] == [
        "success", "success", "failure", "failure"]


def test_an_archive_pg_restore_cannot_read_fails_even_with_matching_checksums(cli, workdir):
    """Checksums only prove the bytes are what was written; pg_restore --list proves they
    are an archive. A manifest rewritten to match garbage passes the hashes, not this."""
    import gzip
    import hashlib
    storage = workdir / "storage"
    ident = cli("schema", "--json").json()["backup_id"]
    path = stored_file(storage, "schema", ident)
    plain = b"PGDMP" + b"\xff" * 4000
    stored = gzip.compress(plain)
    path.write_bytes(stored)
    manifest = read_manifest(storage, "schema", ident)
    manifest["files"][0].update(size=len(stored), sha256=hashlib.sha256(stored).hexdigest(),
                                plain_size=len(plain), plain_sha256=hashlib.sha256(plain).hexdigest())
    write_manifest(storage, "schema", ident, manifest)
    result = cli("verify", check=False)
    assert result.code == 4
    assert f"schema/{ident}" in result.err and "table of contents does not read" in result.err
