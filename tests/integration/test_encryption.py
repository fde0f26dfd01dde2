"""Encrypted backups end to end, through the real CLI against a real PostgreSQL: restores
are identical, nothing readable is stored, a wrong key or any damage (flipped byte,
truncation, reordered segments) is refused before a target database is created, keys
rotate, and `decrypt` (and docs/decrypt_standalone.py) give back the standard gzip dump."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_sample

ROOT = Path(__file__).resolve().parents[2]
MAGIC = b"SANDENC\x00"
HEADER, SEALED = 61, 64 * 1024 + 16
KNOWN_EMAIL = b"user17@example.com"  # a row of tests/support/sample.sql


def openssl_key() -> str:
    """The way the issue and the docs tell users to make a key."""
    return subprocess.run(["openssl", "rand", "-base64", "32"], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def key_a():
    return openssl_key()


@pytest.fixture
def enc_env(cli_env, key_a):
    return dict(cli_env, ENCRYPT="true", ENCRYPTION_KEY=key_a)


def stored_file(workdir: Path, result) -> Path:
    folder = workdir / "storage" / result["manifest"]["type"] / result["backup_id"]
    files = [p for p in folder.iterdir() if p.name != "manifest.json"]
    assert len(files) == 1
    return files[0]


def manifest_of(path: Path) -> dict:
    return json.loads((path.parent / "manifest.json").read_text())


def test_encrypted_full_backup_restores_identical(cli, enc_env, key_a, db, source_db, workdir,
                                                  pg_server):
    result = cli("full", "--json", env=enc_env).json()
    path = stored_file(workdir, result)
    blob = path.read_bytes()
    assert blob.startswith(MAGIC) and not blob.startswith(b"\x1f\x8b")
    assert path.name.endswith(".dump.gz.enc")
    manifest = manifest_of(path)
    record = manifest["files"][0]
    assert record["compression"] == "gzip" and record["size"] == len(blob)
    assert record["sha256"] == hashlib.sha256(blob).hexdigest()
    assert record["encryption"]["algorithm"] == "AES-256-GCM-STREAM/HKDF-SHA256"
    assert record["encryption"]["segment_size"] == 64 * 1024
    assert record["encryption"]["key_id"] == blob[14:22].hex() == manifest["encryption"]["key_id"]
    assert result["manifest"]["encryption_key_id"] == record["encryption"]["key_id"]
    # The key itself is nowhere: not in the manifest, the output, or the logs.
    assert key_a not in path.with_name("manifest.json").read_text()
    for log in (workdir / "logs").rglob("*"):
        if log.is_file():
            assert key_a not in log.read_text(errors="replace")

    target = f"{source_db}_enc"
    try:
        restored = cli("restore", "full", result["backup_id"], "--target-db", target, "--json",
                       env=enc_env).json()
        assert restored["database_created"] is True
        assert db.checksums(target) == db.checksums(source_db)
        assert db.sequences(target) == db.sequences(source_db)
        assert db.schema_text(target) == db.schema_text(source_db)
    finally:
        pg_server.drop_database(target)


def test_unencrypted_backup_still_round_trips_with_a_key_configured(cli, cli_env, key_a, db,
                                                                     source_db, workdir, pg_server):
    env = dict(cli_env, ENCRYPTION_KEY=key_a)  # a key, but ENCRYPT not set: no encryption
    result = cli("full", "--json", env=env).json()
    path = stored_file(workdir, result)
    assert path.read_bytes().startswith(b"\x1f\x8b") and manifest_of(path)["encryption"] is None
    target = f"{source_db}_plain"
    try:
        cli("restore", "full", result["backup_id"], "--target-db", target, env=cli_env)
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)


def test_stored_bytes_hold_no_plaintext(cli, cli_env, key_a, workdir):
    """Without compression the dump's text would be visible: the -e flag must hide it."""
    plain = stored_file(workdir, cli("full", "--compression", "none", "--json").json())
    assert KNOWN_EMAIL in plain.read_bytes()  # the control: this test can fail
    env = dict(cli_env, ENCRYPTION_KEY=key_a)
    sealed = stored_file(workdir, cli("full", "-e", "--compression", "none", "--json",
                                      env=env).json())
    blob = sealed.read_bytes()
    assert blob.startswith(MAGIC)
    assert KNOWN_EMAIL not in blob and b"PGDMP" not in blob and b"CREATE TABLE" not in blob


def test_encrypt_without_a_usable_key_fails_before_dumping(cli, cli_env, workdir):
    missing = cli("full", "-e", env=cli_env, check=False)
    assert missing.code == 2
    assert "ENCRYPTION_KEY is not set" in missing.err and "openssl rand -base64 32" in missing.err
    bad = cli("full", env=dict(cli_env, ENCRYPT="true", ENCRYPTION_KEY="too-short"), check=False)
    assert bad.code == 2 and "openssl rand -base64 32" in bad.err and "too-short" not in bad.err
    assert not any((workdir / "storage").iterdir())


def restore_refused(cli, env, source, target, db):
    out = cli("restore", "full", source, "--target-db", target, env=env, check=False)
    assert not db.exists(target), "the target database must not be created"
    return out


def test_wrong_key_is_refused_before_anything_is_restored(cli, enc_env, db, source_db):
    backup_id = cli("full", "--json", env=enc_env).json()["backup_id"]
    target = f"{source_db}_wrongkey"
    wrong = dict(enc_env, ENCRYPTION_KEY=openssl_key())
    out = restore_refused(cli, wrong, backup_id, target, db)
    assert out.code == 2
    assert "was encrypted with key id" in out.err and "which is not configured" in out.err
    assert "set ENCRYPTION_KEY (or add the old key to ENCRYPTION_OLD_KEYS)" in out.err
    no_key = {k: v for k, v in enc_env.items() if not k.startswith("ENCRYPT")}
    out = restore_refused(cli, no_key, backup_id, target, db)
    assert out.code == 2 and "no key is configured" in out.err


@pytest.fixture
def big_env(enc_env, pg_server, fresh_db):
    """A database three times the usual sample: its dump spans several 64 KiB segments."""
    name = fresh_db("big")
    load_sample(pg_server, name, rows=600)
    return dict(enc_env, SUPABASE_DB_URL=pg_server.url(name))


def multi_segment_backup(cli, enc_env, workdir):
    result = cli("full", "--compression", "none", "--json", env=enc_env).json()
    path = stored_file(workdir, result)
    blob = path.read_bytes()
    assert (len(blob) - HEADER) // SEALED >= 3, f"only {len(blob)} bytes: too few segments"
    return result["backup_id"], path, blob


def flip_middle(blob):
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0x01
    return bytes(damaged)


def swap_first_two(blob):
    one, two = blob[HEADER:HEADER + SEALED], blob[HEADER + SEALED:HEADER + 2 * SEALED]
    return blob[:HEADER] + two + one + blob[HEADER + 2 * SEALED:]


DAMAGES = {
    "flipped byte": (flip_middle, "failed authentication"),
    "truncated at a segment boundary": (lambda b: b[:HEADER + 2 * SEALED],
                                        "ends after segment 1 without the final-segment marker"),
    "truncated mid-segment": (lambda b: b[:HEADER + SEALED + 1000], "truncated"),
    "two segments swapped": (swap_first_two, "segment 0 at byte 61 failed authentication"),
}


def test_damaged_backup_is_refused_before_anything_is_restored(cli, big_env, db, workdir):
    """One backup, each kind of damage in turn (a backup per case would cost a minute)."""
    backup_id, path, blob = multi_segment_backup(cli, big_env, workdir)
    dest = workdir / "out.dump.gz"
    for name, (damage, message) in DAMAGES.items():
        path.write_bytes(damage(blob))
        out = restore_refused(cli, big_env, backup_id, "damaged_target", db)
        assert out.code == 4 and message in out.err and str(path) in out.err, (name, out.err)
        # decrypt refuses it too, and leaves no output behind
        out = cli("decrypt", str(path), "-o", str(dest), env=big_env, check=False)
        assert out.code == 4 and message in out.err, (name, out.err)
        assert not dest.exists() and not list(workdir.glob(".out.dump.gz*")), name
    path.write_bytes(blob)
    cli("decrypt", str(path), "-o", str(dest), env=big_env)  # the intact file decrypts
    assert dest.stat().st_size == len(blob) - HEADER - 16 * (-(-(len(blob) - HEADER) // SEALED))


def test_key_rotation_old_backups_stay_readable(cli, enc_env, key_a, db, source_db, workdir,
                                                pg_server):
    old = cli("full", "--json", env=enc_env).json()
    key_b = openssl_key()
    rotated = dict(enc_env, ENCRYPTION_KEY=key_b, ENCRYPTION_OLD_KEYS=key_a)
    new = cli("full", "--json", env=rotated).json()
    old_id, new_id = (manifest_of(stored_file(workdir, r))["encryption"]["key_id"] for r in (old, new))
    assert old_id != new_id
    # Without the old key, the old backup cannot be read ...
    target = f"{source_db}_rotated"
    refused = restore_refused(cli, dict(rotated, ENCRYPTION_OLD_KEYS=""), old["backup_id"],
                              target, db)
    assert refused.code == 2 and old_id in refused.err
    # ... with it listed in ENCRYPTION_OLD_KEYS, it restores.
    try:
        cli("restore", "full", old["backup_id"], "--target-db", target, env=rotated)
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)
    # the old key alone cannot read the new backup
    only_a = dict(enc_env, ENCRYPTION_KEY=key_a)
    out = restore_refused(cli, only_a, new["backup_id"], target, db)
    assert out.code == 2 and new_id in out.err


def test_decrypt_verb_gives_the_standard_gzip_dump(cli, enc_env, key_a, workdir, pg_server):
    result = cli("full", "--json", env=enc_env).json()
    path = stored_file(workdir, result)
    record = manifest_of(path)["files"][0]
    out = workdir / "db.dump.gz"
    shown = cli("decrypt", str(path), "-o", str(out), "--json", env=enc_env).json()
    assert shown["output"] == str(out) and shown["checked"] == "segments and manifest checksums"
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    plain = subprocess.run(["zcat", str(out)], check=True, capture_output=True).stdout
    assert hashlib.sha256(plain).hexdigest() == record["plain_sha256"]
    assert plain.startswith(b"PGDMP")
    listing = subprocess.run([pg_server.bin("pg_restore"), "-l"], input=plain, check=True,
                             capture_output=True).stdout.decode()
    assert "TABLE DATA app users" in listing

    # --decompress writes the plain dump; by default into the current directory (never next
    # to the backup, where a plain copy would sit in the repository), named without .enc/.gz
    here = workdir / "here"
    here.mkdir()
    proc = subprocess.run([sys.executable, "-m", "sandstone_backup.cli", "decrypt", str(path),
                           "--decompress"], capture_output=True, env=enc_env, cwd=str(here))
    assert proc.returncode == 0, proc.stderr
    assert (here / path.name[:-len(".gz.enc")]).read_bytes() == plain
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(["manifest.json", path.name])
    # to standard output, for a pipe
    proc = subprocess.run([sys.executable, "-m", "sandstone_backup.cli", "decrypt", str(path),
                           "-o", "-"], capture_output=True, env=enc_env, cwd=str(here))
    assert proc.returncode == 0 and proc.stdout == out.read_bytes()

    # an existing output is never overwritten
    before = out.read_bytes()
    refused = cli("decrypt", str(path), "-o", str(out), env=enc_env, check=False)
    assert refused.code == 1 and "already exists" in refused.err and out.read_bytes() == before

    # the standalone script (cryptography + standard library only) gives the same bytes
    alone = workdir / "standalone.dump.gz"
    env = {"PATH": os.environ["PATH"], "ENCRYPTION_KEY": key_a}
    subprocess.run([sys.executable, str(ROOT / "docs" / "decrypt_standalone.py"), str(path),
                    str(alone)], check=True, env=env, capture_output=True)
    assert alone.read_bytes() == out.read_bytes()

    # the audit log says who decrypted which file (with the key id, never the key)
    audit = [json.loads(line) for line in (workdir / "logs" / "audit.jsonl").read_text().splitlines()]
    decrypts = [r for r in audit if r["operation"] == "decrypt"]
    assert [r["outcome"] for r in decrypts] == ["success", "success", "success", "failure"]
    assert decrypts[0]["file"] == str(path) and decrypts[0]["key_id"] == record["encryption"]["key_id"]
    assert key_a not in (workdir / "logs" / "audit.jsonl").read_text()


def test_decrypt_refuses_a_file_that_is_not_encrypted(cli, cli_env, workdir):
    path = stored_file(workdir, cli("full", "--json").json())
    out = cli("decrypt", str(path), "-o", str(workdir / "x"), check=False)
    assert out.code == 1 and "is not encrypted (gzip data)" in out.err
    assert not (workdir / "x").exists()


def test_restore_from_a_bare_encrypted_file_without_its_manifest(cli, enc_env, db, source_db,
                                                                 workdir, pg_server):
    """A copied-out .enc file still restores: the format is recognised by its magic bytes."""
    path = stored_file(workdir, cli("full", "--json", env=enc_env).json())
    loose = workdir / "copied-elsewhere.bin"  # a name that says nothing about the format
    loose.write_bytes(path.read_bytes())
    target = f"{source_db}_loose"
    wrong = restore_refused(cli, dict(enc_env, ENCRYPTION_KEY=openssl_key()), str(loose),
                            target, db)
    assert wrong.code == 2 and "which is not configured" in wrong.err
    try:
        cli("restore", "full", str(loose), "--target-db", target, env=enc_env)
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)


def test_verify_reads_encrypted_backups_with_the_configured_keys(cli, enc_env, cli_env, key_a,
                                                                 workdir):
    """verify decrypts end to end with the configured key ring; without the key it fails
    loudly instead of passing an unreadable backup."""
    result = cli("full", "--json", env=enc_env).json()
    ok = cli("verify", "--json", env=enc_env).json()
    assert ok["checked"] == 1 and not ok["failures"]
    assert manifest_of(stored_file(workdir, result))["verify"][-1]["ok"] is True
    rotated = dict(cli_env, ENCRYPTION_KEY=openssl_key(), ENCRYPTION_OLD_KEYS=key_a)
    assert cli("verify", env=rotated).code == 0
    missing = cli("verify", env=dict(cli_env, ENCRYPTION_KEY=openssl_key()), check=False)
    assert missing.code != 0 and "not configured" in missing.err
