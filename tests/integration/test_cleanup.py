"""cleanup through the CLI on a real repository: real backups copied to many dates, then
exactly the folders the policy keeps are left on disk."""
import datetime as dt
import json

from tests.support.backups import clone, flip_byte, folders, read_manifest

UTC = dt.timezone.utc


def days_ago(days: float) -> dt.datetime:
    return (dt.datetime.now(UTC) - dt.timedelta(days=days)).replace(microsecond=0)


def dated_repository(cli, storage):
    """Full backups 1, 2, 3, 10, 40 and 70 days old and schema backups 1 and 50 days old
    (copies of one real full and one real schema backup, which are then removed)."""
    full = cli("full", "--json").json()["backup_id"]
    schema = cli("schema", "--json").json()["backup_id"]
    fulls = {age: clone(storage, "full", full, days_ago(age)) for age in (1, 2, 3, 10, 40, 70)}
    schemas = {age: clone(storage, "schema", schema, days_ago(age)) for age in (1, 50)}
    for kind, ident in (("full", full), ("schema", schema)):
        for path in sorted((storage / kind / ident).iterdir()):
            path.unlink()
        (storage / kind / ident).rmdir()
    return fulls, schemas


def test_cleanup_keeps_exactly_what_retention_days_says(cli, workdir):
    storage = workdir / "storage"
    fulls, schemas = dated_repository(cli, storage)
    (storage / "full" / "20200101T000000Z").mkdir()  # an interrupted run's leftover
    (storage / "full" / "20200101T000000Z" / "db.dump.gz.partial").write_bytes(b"x")

    plan = cli("cleanup", "-r", "7", "--dry-run", "--json").json()
    [local] = plan["locations"]
    assert plan["dry_run"] is True and plan["changed"] is True
    assert sorted(d["ref"] for d in local["would_delete"]) == sorted(
        [f"full/{fulls[a]}" for a in (10, 40, 70)] + [f"schema/{schemas[50]}"])
    assert local["would_remove_leftovers"] == ["full/20200101T000000Z"]
    assert all(d["reasons"] == ["outside every rule (within 7 days)"] for d in local["would_delete"])
    # the dry run deleted nothing
    assert len(folders(storage, "full")) == 6 and len(folders(storage, "schema")) == 2
    assert (storage / "full" / "20200101T000000Z").exists()
    text = cli("cleanup", "-r", "7", "--dry-run").out
    assert f"DELETE full/{fulls[70]}: outside every rule (within 7 days)" in text
    assert f"keep    full/{fulls[1]}: within 7 days" in text

    done = cli("cleanup", "-r", "7", "--json").json()
    assert sorted(d["ref"] for d in done["locations"][0]["deleted"]) == sorted(
        d["ref"] for d in local["would_delete"])
    assert folders(storage, "full") == sorted(fulls[a] for a in (1, 2, 3))
    assert folders(storage, "schema") == [schemas[1]]
    assert not (storage / "full" / "20200101T000000Z").exists()
    assert not any(p.name.startswith(fulls[10]) for p in (storage / "full").iterdir())

    again = cli("cleanup", "-r", "7", "--json").json()
    assert again["changed"] is False and again["locations"][0]["deleted"] == []
    audit = [json.loads(line) for line in (workdir / "logs" / "audit.jsonl").read_text().splitlines()]
    cleanups = [r for r in audit if r["operation"] == "cleanup"]
    assert len(cleanups) == 2 and len(cleanups[0]["deleted"]) == 4  # dry runs are not audited


def config_file(workdir, text: str) -> str:
    path = workdir / "backup.conf"
    path.write_text(text)
    return str(path)


def test_cleanup_with_gfs_flags_and_config(cli, workdir):
    storage = workdir / "storage"
    fulls, schemas = dated_repository(cli, storage)
    # RETENTION_DAYS emptied in backup.conf: only the count rules apply
    conf = config_file(workdir, "RETENTION_DAYS=\nKEEP_LAST=2\n")
    result = cli("cleanup", "--config", conf, "--keep-monthly", "1", "--json").json()
    [local] = result["locations"]
    assert result["policy"] == {"keep_last": 2, "keep_monthly": 1}
    kept = {d["ref"]: d["reasons"] for d in local["kept"]}
    assert sorted(kept) == sorted([f"full/{fulls[1]}", f"full/{fulls[2]}",
                                   f"schema/{schemas[1]}", f"schema/{schemas[50]}"])
    month = days_ago(1).strftime("%Y-%m")
    assert kept[f"full/{fulls[1]}"] == ["last 2", f"monthly {month}",
                                        "newest full backup (never deleted)"]
    assert folders(storage, "full") == sorted([fulls[1], fulls[2]])
    assert folders(storage, "schema") == sorted([schemas[1], schemas[50]])


def test_cleanup_never_deletes_the_newest_good_full(cli, workdir):
    """Everything is older than the retention; the newest full failed verification, so
    the newest one that verified good is the one kept."""
    storage = workdir / "storage"
    fulls, schemas = dated_repository(cli, storage)
    cli("verify")
    newest = storage / "full" / fulls[1]
    flip_byte(next(p for p in newest.iterdir() if p.name != "manifest.json"))
    assert cli("verify", check=False).code == 4
    assert read_manifest(storage, "full", fulls[1])["verify"][-1]["ok"] is False

    result = cli("cleanup", "-r", "0", "--json").json()
    kept = result["locations"][0]["kept"]
    assert [(d["ref"], d["reasons"]) for d in kept] == [
        (f"full/{fulls[2]}", ["newest verified full backup"])]
    assert folders(storage, "full") == [fulls[2]]
    assert folders(storage, "schema") == []


def test_cleanup_without_any_rule_keeps_everything(cli, workdir):
    storage = workdir / "storage"
    fulls, schemas = dated_repository(cli, storage)
    conf = config_file(workdir, "RETENTION_DAYS=\n")
    result = cli("cleanup", "--config", conf, "--json").json()
    assert result["changed"] is False and result["policy_text"] == "no rule set (keep everything)"
    assert len(folders(storage, "full")) == 6 and len(folders(storage, "schema")) == 2


def test_cleanup_refuses_a_negative_retention(cli, workdir):
    cli("schema")
    bad = cli("cleanup", "-r", "-1", check=False)
    assert bad.code == 2 and "retention days=-1 is negative" in bad.err
    assert len(folders(workdir / "storage", "schema")) == 1


def test_a_copied_folder_or_a_damaged_manifest_stops_cleanup_before_any_delete(cli, workdir):
    import shutil
    storage = workdir / "storage"
    fulls, schemas = dated_repository(cli, storage)
    shutil.copytree(storage / "full" / fulls[70], storage / "full" / "20200101T000000Z")
    result = cli("cleanup", "-r", "7", check=False)
    assert result.code == 4
    assert f"full/20200101T000000Z holds the manifest of full/{fulls[70]}" in result.err
    assert len(folders(storage, "full")) == 7  # nothing deleted
    checked = cli("verify", "--json", check=False)
    assert checked.code == 4 and [(r["ref"], r["error"], r["recorded"]) for r in
                                  checked.json()["backups"] if not r["ok"]] == [
        ("full/20200101T000000Z", f"its manifest describes full/{fulls[70]}", False)]

    shutil.rmtree(storage / "full" / "20200101T000000Z")
    (storage / "schema" / schemas[1] / "manifest.json").write_text("{")
    result = cli("cleanup", "-r", "7", check=False)
    assert result.code == 4 and "is not valid JSON" in result.err
    assert len(folders(storage, "full")) == 6 and len(folders(storage, "schema")) == 2
