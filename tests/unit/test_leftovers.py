"""The leftover rule on S3 while another run is alive: fresh uploads and prefixes that may
belong to another host are kept; after the remote grace period they are removed."""
import json
import os
import socket
import subprocess
import time

import pytest

from sandstone_backup import leftovers
from sandstone_backup.inflight import _process_start
from sandstone_backup.repository import Repository
from sandstone_backup.storage.local import LocalStorage
from sandstone_backup.storage.s3 import MIB, S3Options, S3Storage
from tests.support.s3server import ACCESS


@pytest.fixture
def repos(tmp_path, s3_server, s3_bucket, monkeypatch):
    for name, value in ACCESS.items():
        monkeypatch.setenv(name, value)
    remote = S3Storage(S3Options(bucket=s3_bucket, endpoint_url=s3_server.endpoint,
                                 region="us-east-1", force_path_style=True, part_size=5 * MIB))
    return Repository(LocalStorage(str(tmp_path / "storage"))), Repository(remote)


@pytest.fixture
def live_run(tmp_path):
    """Another backup run on this host, alive."""
    writer = subprocess.Popen(["sleep", "60"])
    folder = tmp_path / "storage" / ".inflight"
    folder.mkdir(parents=True)
    (folder / f"{socket.gethostname()}-{writer.pid}.json").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": writer.pid,
         "process_start": _process_start(writer.pid), "started": time.time()}))
    yield writer
    writer.kill()
    writer.wait()


def test_remote_leftovers_wait_for_the_grace_period_while_a_run_lives(repos, live_run, s3, s3_bucket):
    local, remote = repos
    s3.put_object(Bucket=s3_bucket, Key="full/20260101T000000Z/db.dump.gz", Body=b"x")
    upload = s3.create_multipart_upload(Bucket=s3_bucket, Key="full/20260101T000001Z/db.dump.gz")
    # a part just sent: the upload is alive (moto reports every upload as started in 2010)
    s3.upload_part(Bucket=s3_bucket, Key="full/20260101T000001Z/db.dump.gz",
                   UploadId=upload["UploadId"], PartNumber=1, Body=b"part")
    assert leftovers.clean(local, remote) == []
    assert len(remote.storage.unfinished_uploads()) == 1
    later = time.time() + leftovers.REMOTE_GRACE_SECONDS + 60
    cleaned = leftovers.clean(local, remote, now=later)
    assert sorted(cleaned) == [
        f"s3://{s3_bucket}/full/20260101T000000Z (1 objects, no manifest)",
        f"s3://{s3_bucket}/full/20260101T000001Z/db.dump.gz (unfinished multipart upload)"]
    assert remote.storage.unfinished_uploads() == [] and remote.storage.list("full") == []


def test_local_leftover_of_a_live_run_waits_one_hour(repos, live_run, tmp_path):
    local, _ = repos
    folder = tmp_path / "storage" / "data" / "20260101T000000Z"
    folder.mkdir(parents=True)
    (folder / "t.dump.gz.partial").write_bytes(b"x")
    assert leftovers.clean(local) == []
    assert leftovers.clean(local, now=time.time() + 1800) == []
    assert len(leftovers.clean(local, now=time.time() + 3700)) == 1
    assert not folder.exists()
    assert os.path.isdir(tmp_path / "storage")
