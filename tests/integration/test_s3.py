"""The S3 copy against a real S3-protocol server (moto on loopback): what lands in the
bucket is byte for byte the local backup, a lost local folder is restored from S3, a
failing server is retried and then reported clearly, a damaged object is refused."""
import hashlib
import re
import shutil

PREFIX = "prod"


def objects(s3, bucket):
    """key -> (size, sha256) of every object in the bucket."""
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        found[item["Key"]] = (len(body), hashlib.sha256(body).hexdigest())
    return found


def local_files(folder):
    return {p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in folder.iterdir()}


def test_backup_with_s3_copies_every_byte(cli, s3_env, s3, s3_bucket, workdir):
    result = cli("full", "-s", "--json", env=s3_env).json()
    backup_id = result["backup_id"]
    folder = workdir / "storage" / "full" / backup_id
    remote = {k.rsplit("/", 1)[1]: v for k, v in objects(s3, s3_bucket).items()}
    assert set(objects(s3, s3_bucket)) == {f"{PREFIX}/full/{backup_id}/{n}" for n in local_files(folder)}
    assert remote == local_files(folder)
    assert result["locations"] == [str(folder), f"s3://{s3_bucket}/{PREFIX}/full/{backup_id}"]
    dump = result["files"][0]
    copied = result["s3"]["files"][0]
    assert copied["sha256"] == dump["sha256"] and copied["size"] == dump["size"]
    assert copied["verified_by"].startswith("size and ")
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert [(b["id"], b["locations"]) for b in listed] == [(backup_id, ["local", "s3"])]


def test_restore_from_s3_when_local_folder_is_gone(cli, s3_env, db, source_db, workdir, pg_server):
    backup_id = cli("full", "--s3", "--json", env=s3_env).json()["backup_id"]
    shutil.rmtree(workdir / "storage" / "full" / backup_id)
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert [(b["id"], b["locations"]) for b in listed] == [(backup_id, ["s3"])]
    text = cli("restore", "list", env=s3_env).out.splitlines()
    assert text[0].split()[-1] == "WHERE" and text[1].startswith(backup_id) and text[1].endswith(" s3")
    target = f"{source_db}_from_s3"
    try:
        restored = cli("restore", "full", "latest", "--target-db", target, "--json",
                       env=s3_env).json()
        assert restored["plan"]["source_location"].startswith(f"s3://{s3_env['S3_BUCKET']}/prod/full/")
        assert restored["plan"]["backup"] == backup_id
        assert db.checksums(target) == db.checksums(source_db)
        assert db.sequences(target) == db.sequences(source_db)
    finally:
        pg_server.drop_database(target)


def test_encrypted_backup_round_trips_through_s3(cli, s3_env, s3, s3_bucket, db, source_db,
                                                 workdir, pg_server):
    """Only ciphertext travels to the bucket, and a restore from S3 alone decrypts it."""
    import base64
    import os
    env = dict(s3_env, ENCRYPT="true", ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode())
    backup_id = cli("full", "-s", "--json", env=env).json()["backup_id"]
    dumps = [k for k in objects(s3, s3_bucket) if not k.endswith("manifest.json")]
    assert len(dumps) == 1 and dumps[0].endswith(".enc")
    body = s3.get_object(Bucket=s3_bucket, Key=dumps[0])["Body"].read()
    assert body.startswith(b"SANDENC\0") and b"user17@example.com" not in body
    shutil.rmtree(workdir / "storage" / "full" / backup_id)
    target = f"{source_db}_enc_s3"
    try:
        cli("restore", "full", backup_id, "--target-db", target, env=env)
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)


def test_upload_s3_without_bucket_is_a_config_error_before_any_dump(cli, cli_env, workdir):
    env = dict(cli_env, UPLOAD_S3="true")
    env.pop("S3_BUCKET", None)
    result = cli("full", env=env, check=False)
    assert result.code == 2
    assert "S3_BUCKET" in result.err and len(result.err.strip().splitlines()) == 1
    assert list((workdir / "storage").iterdir()) == []


def test_server_errors_are_retried(cli, s3_env, s3, s3_bucket, fault_proxy, workdir):
    fault_proxy.fail_first = 2
    env = dict(s3_env, S3_ENDPOINT_URL=fault_proxy.endpoint)
    result = cli("full", "-s", "--json", env=env).json()
    assert fault_proxy.failed == 2
    folder = workdir / "storage" / "full" / result["backup_id"]
    remote = {k.rsplit("/", 1)[1]: v for k, v in objects(s3, s3_bucket).items()}
    assert remote == local_files(folder)


def test_upload_cut_off_mid_request_is_retried(cli, s3_env, s3, s3_bucket, fault_proxy, pg_server,
                                                fresh_db, workdir):
    from tests.conftest import load_sample
    name = fresh_db("big")
    load_sample(pg_server, name, rows=20000)
    fault_proxy.drop_puts = 2  # the first two parts lose their connection
    env = dict(s3_env, S3_ENDPOINT_URL=fault_proxy.endpoint, S3_PART_SIZE_MB="5",
               SUPABASE_DB_URL=pg_server.url(name))
    result = cli("full", "-s", "--compression", "none", "--json", env=env).json()
    assert fault_proxy.dropped == 2
    # part 1 was sent three times: cut off twice, then stored
    assert len([r for r in fault_proxy.seen if re.search(r"[?&]partNumber=1(&|$)", r)]) == 3
    folder = workdir / "storage" / "full" / result["backup_id"]
    remote = {k.rsplit("/", 1)[1]: v for k, v in objects(s3, s3_bucket).items()}
    assert remote == local_files(folder)
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_server_always_failing_is_a_clear_failure_and_local_backup_stays(
        cli, s3_env, s3, s3_bucket, fault_proxy, workdir):
    fault_proxy.fail_always = True
    env = dict(s3_env, S3_ENDPOINT_URL=fault_proxy.endpoint)
    result = cli("full", "-s", env=env, check=False)
    assert result.code == 1
    message = result.err.strip().splitlines()[-1]  # warnings (logged) come before the error
    assert message.startswith("sandstone-backup: error: backup full/"), result.err
    assert "complete and valid at" in message and f"s3://{s3_bucket}/prod" in message
    assert "500" in message
    # the local backup is complete and restorable; S3 holds no manifest (nor anything else)
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert len(listed) == 1 and listed[0]["locations"] == ["local"]
    assert not [k for k in objects(s3, s3_bucket) if k.endswith("manifest.json")]
    # every request was attempted S3_MAX_ATTEMPTS (3) times
    puts = [r for r in fault_proxy.seen if r.startswith("PUT ")]
    assert len(puts) == 3


def test_truncated_object_in_s3_is_refused_before_the_target_exists(
        cli, s3_env, s3, s3_bucket, db, source_db, workdir):
    backup_id = cli("full", "-s", "--json", env=s3_env).json()["backup_id"]
    shutil.rmtree(workdir / "storage" / "full" / backup_id)
    key = next(k for k in objects(s3, s3_bucket) if not k.endswith("manifest.json"))
    body = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=s3_bucket, Key=key, Body=body[: len(body) // 2])
    target = f"{source_db}_truncated"
    result = cli("restore", "full", backup_id, "--target-db", target, env=s3_env, check=False)
    assert result.code == 4, result.err
    assert key.split("/", 1)[1] in result.err and len(result.err.strip().splitlines()) == 1
    assert not db.exists(target)


def test_multipart_upload_of_a_large_backup(cli, s3_env, s3, s3_bucket, pg_server, fresh_db,
                                            workdir):
    from tests.conftest import load_sample
    name = fresh_db("big")
    load_sample(pg_server, name, rows=20000)
    env = dict(s3_env, SUPABASE_DB_URL=pg_server.url(name), S3_PART_SIZE_MB="5")
    result = cli("full", "-s", "--compression", "none", "--json", env=env).json()
    assert result["manifest"]["size"] > 5 * 1024 * 1024, "the sample must need two parts"
    folder = workdir / "storage" / "full" / result["backup_id"]
    remote = {k.rsplit("/", 1)[1]: v for k, v in objects(s3, s3_bucket).items()}
    assert remote == local_files(folder)
    head = s3.head_object(Bucket=s3_bucket, Key=f"prod/full/{result['backup_id']}/"
                          f"{result['files'][0]['name']}")
    parts = -(-result["manifest"]["size"] // (5 * 1024 * 1024))
    assert parts >= 2 and head["ETag"].strip('"').endswith(f"-{parts}")
    assert result["s3"]["files"][0]["verified_by"] == "size and SHA-256"


def test_pg_backup_module_uploads_and_pg_restore_pit_reads_from_s3(
        tmp_path, pg_server, source_db, db, s3_server, s3_bucket, s3):
    import textwrap
    from tests.support.ansible_run import run_playbook, task_results
    from tests.support.s3server import ACCESS
    storage = tmp_path / "storage"
    target = f"{source_db}_ansible_s3"
    playbook = textwrap.dedent(f"""
        - hosts: localhost
          gather_facts: false
          vars:
            conn: &conn
              db_url: "{pg_server.url(source_db)}"
              backup_dir: "{storage}"
              s3_bucket: {s3_bucket}
              s3_prefix: nightly
              s3_endpoint_url: "{s3_server.endpoint}"
              s3_force_path_style: true
              aws_region: us-east-1
          tasks:
            - name: backup
              sandstone.backup.pg_backup: {{<<: *conn, type: full, upload_s3: true}}
            - name: forget the local copy
              ansible.builtin.file: {{path: "{storage}/full", state: absent}}
            - name: restore
              sandstone.backup.pg_restore_pit: {{<<: *conn, backup: latest, target_db: {target}}}
        """)
    data = run_playbook(tmp_path, playbook, extra_env=ACCESS)
    results = task_results(data)
    try:
        backup = results["backup"]
        assert backup["locations"][1] == f"s3://{s3_bucket}/nightly/full/{backup['backup_id']}"
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
        assert f"nightly/full/{backup['backup_id']}/manifest.json" in keys
        assert results["restore"]["plan"]["source_location"].startswith(f"s3://{s3_bucket}/nightly/")
        assert db.checksums(target) == db.checksums(source_db)
        assert ACCESS["AWS_SECRET_ACCESS_KEY"] not in data["_raw"]
    finally:
        pg_server.drop_database(target)


def test_upload_damaged_in_transit_is_caught_and_removed(cli, s3_env, s3, s3_bucket,
                                                         fault_proxy, workdir):
    fault_proxy.tamper = lambda body: body[:-1]  # a proxy that loses the last byte
    env = dict(s3_env, S3_ENDPOINT_URL=fault_proxy.endpoint)
    result = cli("full", "-s", env=env, check=False)
    assert result.code == 1
    message = result.err.strip().splitlines()[-1]
    assert "was not stored intact" in message and "the object was removed" in message
    assert s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    listed = cli("restore", "list", "--json", env=s3_env).json()["backups"]
    assert len(listed) == 1 and listed[0]["locations"] == ["local"]


def test_manifest_less_prefix_in_s3_is_cleaned_only_when_it_is_ours(
        cli, s3_env, s3, s3_bucket, workdir):
    first = cli("full", "--json", env=s3_env).json()["backup_id"]  # local only
    ours = f"prod/full/{first}/partial-copy.dump.gz"
    foreign = "prod/full/20250101T000000Z/another-host-uploading.dump.gz"
    for key in (ours, foreign):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=b"some bytes")
    result = cli("full", "-s", "--json", env=s3_env).json()
    assert result["cleaned_leftovers"] == [f"s3://{s3_bucket}/prod/full/{first} (1 objects, no manifest)"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert ours not in keys and foreign in keys  # fresh and not ours: kept for the grace period


def test_unreachable_s3_does_not_block_a_restore_from_the_local_copy(
        cli, s3_env, db, source_db, pg_server):
    from tests.support.s3server import free_port
    backup_id = cli("full", "--json", env=s3_env).json()["backup_id"]
    env = dict(s3_env, S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens
    listed = cli("restore", "list", "--json", env=env)
    assert [b["id"] for b in listed.json()["backups"]] == [backup_id]
    assert "could not list s3://" in listed.err
    target = f"{source_db}_local"
    try:
        restored = cli("restore", "full", "latest", "--target-db", target, "--json", env=env)
        assert restored.json()["plan"]["backup"] == backup_id
        assert "could not look in s3://" in restored.err
        assert db.checksums(target) == db.checksums(source_db)
    finally:
        pg_server.drop_database(target)


def test_dry_run_names_the_s3_destination_and_writes_nothing(cli, s3_env, s3, s3_bucket, workdir):
    plan = cli("full", "-s", "--dry-run", "--json", env=s3_env).json()
    assert plan["dry_run"] is True and plan["copy_to"] == f"s3://{s3_bucket}/prod/full"
    assert s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert list((workdir / "storage").iterdir()) == []
