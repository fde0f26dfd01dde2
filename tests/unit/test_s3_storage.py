"""The S3 driver against moto on loopback: the same contract as the local driver (nothing
visible before commit, nothing left after abort), listing through every page, and a
second read that must see the very object the first one verified."""
import os

import pytest

from sandstone_backup.errors import IntegrityError, NotFound
from sandstone_backup.storage.s3 import MIB, S3Options, S3Storage
from tests.support.s3server import ACCESS


@pytest.fixture
def storage(s3_server, s3_bucket, monkeypatch):
    for name, value in ACCESS.items():
        monkeypatch.setenv(name, value)
    return S3Storage(S3Options(bucket=s3_bucket, prefix="repo", endpoint_url=s3_server.endpoint,
                               region="us-east-1", force_path_style=True, part_size=5 * MIB,
                               page_size=2, max_attempts=2))


def test_multipart_writer_publishes_only_on_commit(storage, s3, s3_bucket):
    data = os.urandom(5 * MIB + 12345)
    writer = storage.writer("full/x/db.dump")
    writer.write(data)
    assert writer.upload_id is not None and not storage.exists("full/x/db.dump")
    writer.commit()
    assert writer.verified_by == "size and SHA-256"
    assert storage.read_bytes("full/x/db.dump") == data
    assert storage.location("full/x/db.dump") == f"s3://{s3_bucket}/repo/full/x/db.dump"


def test_abort_leaves_no_object_and_no_unfinished_upload(storage, s3, s3_bucket):
    with pytest.raises(RuntimeError):
        with storage.writer("full/x/db.dump") as writer:
            writer.write(os.urandom(6 * MIB))
            raise RuntimeError("the dump failed")
    assert not storage.exists("full/x/db.dump")
    assert s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert storage.unfinished_uploads() == []


def test_list_pages_through_every_key_under_the_prefix(storage, s3, s3_bucket):
    keys = [f"full/{n}/manifest.json" for n in range(5)]
    for key in keys:
        storage.put_bytes(key, b"{}")
    s3.put_object(Bucket=s3_bucket, Key="elsewhere/full/9/manifest.json", Body=b"{}")
    assert storage.list("full") == keys
    assert storage.list("") == keys


def test_missing_key_is_not_found(storage):
    with pytest.raises(NotFound):
        storage.read_bytes("full/none/db.dump")
    assert not storage.exists("full/none/db.dump")


def test_a_second_read_must_see_the_object_the_first_one_verified(storage, s3, s3_bucket):
    storage.put_bytes("full/x/db.dump", b"verified bytes")
    assert storage.read_bytes("full/x/db.dump") == b"verified bytes"
    s3.put_object(Bucket=s3_bucket, Key="repo/full/x/db.dump", Body=b"swapped bytes")
    with pytest.raises(IntegrityError):
        storage.read_bytes("full/x/db.dump")
