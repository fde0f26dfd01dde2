"""The pipeline with encryption: plain -> sha256 -> compress -> encrypt -> sha256 -> storage
and back, on a real local repository; the manifest's encryption record is checked on read."""
import base64
import gzip
import os
import random

import pytest

from sandstone_backup import crypto, keys, pipeline
from sandstone_backup.errors import IntegrityError
from sandstone_backup.storage.local import LocalStorage


def new_key() -> keys.MasterKey:
    return keys.MasterKey.from_base64(base64.b64encode(os.urandom(32)).decode())


def sample(size: int = 3 * 1024 * 1024) -> bytes:
    rng = random.Random(size)
    words = [b"alice@example.com", b"INSERT", b"orders", b"\n", b"42", b"2026-01-26"]
    return b" ".join(rng.choice(words) for _ in range(size // 6))[:size]


def put(tmp_path, data: bytes, compression: str, key):
    storage = LocalStorage(str(tmp_path))
    record = pipeline.FileRecord(name="db.dump", content="pg_custom", compression=compression)
    pipeline.store([data[i:i + 100_000] for i in range(0, len(data), 100_000)], storage,
                   "full/x/db.dump", record, None, key)
    return storage, record


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_round_trip_with_and_without_encryption(tmp_path, compression):
    data = sample()
    for key in (None, new_key()):
        storage, record = put(tmp_path, data, compression, key)
        stored = (tmp_path / "full/x/db.dump").read_bytes()
        assert len(stored) == record.size
        assert crypto.is_encrypted(stored) == (key is not None)
        if key is not None:
            assert record.encryption == {"algorithm": "AES-256-GCM-STREAM/HKDF-SHA256",
                                         "format": 1, "key_id": key.id_hex, "segment_size": 65536}
            assert b"alice@example.com" not in stored
        else:
            assert record.encryption is None
        ring = keys.Keyring(key) if key else None
        assert b"".join(pipeline.read_plain(storage, "full/x/db.dump", record, ring)) == data
        checked = pipeline.verify(storage, "full/x/db.dump", record, ring)
        assert checked["plain_size"] == len(data)


def test_decrypted_stored_bytes_are_the_standard_compressed_stream(tmp_path):
    data = sample(500_000)
    key = new_key()
    storage, record = put(tmp_path, data, "gzip", key)
    compressed = b"".join(pipeline.read_stored_plaintext(storage, "full/x/db.dump", record,
                                                         keys.Keyring(key)))
    assert compressed[:2] == b"\x1f\x8b" and gzip.decompress(compressed) == data


def test_damage_is_raised_before_the_last_block(tmp_path):
    data = sample()
    key = new_key()
    storage, record = put(tmp_path, data, "gzip", key)
    path = tmp_path / "full/x/db.dump"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x10
    path.write_bytes(bytes(blob))
    received = b""
    with pytest.raises(IntegrityError, match=r"is damaged \(segment \d+ at byte \d+ failed"):
        for block in pipeline.read_plain(storage, "full/x/db.dump", record, keys.Keyring(key)):
            received += block
    assert len(received) < len(data)


def test_truncated_last_segment_is_caught_before_anything_complete(tmp_path):
    data = sample(300_000)
    key = new_key()
    storage, record = put(tmp_path, data, "none", key)
    path = tmp_path / "full/x/db.dump"
    path.write_bytes(path.read_bytes()[:-10])
    received = b""
    with pytest.raises(IntegrityError, match="truncated"):
        for block in pipeline.read_plain(storage, "full/x/db.dump", record, keys.Keyring(key)):
            received += block
    assert len(received) < len(data)


def test_wrong_key_is_reported_as_a_missing_key(tmp_path):
    storage, record = put(tmp_path, sample(10_000), "gzip", new_key())
    with pytest.raises(keys.KeyNotConfigured) as caught:
        pipeline.verify(storage, "full/x/db.dump", record, keys.Keyring(new_key()))
    assert record.encryption["key_id"] in caught.value.message
    assert caught.value.hint == "set ENCRYPTION_KEY (or add the old key to ENCRYPTION_OLD_KEYS)"


def test_manifest_and_file_must_agree_about_encryption(tmp_path):
    key = new_key()
    storage, record = put(tmp_path, sample(10_000), "gzip", key)
    put(tmp_path / "other", sample(10_000), "gzip", None)
    # an unencrypted file put where the manifest promised an encrypted one
    (tmp_path / "full/x/db.dump").write_bytes((tmp_path / "other/full/x/db.dump").read_bytes())
    with pytest.raises(IntegrityError, match="is not encrypted, but its manifest says it is encrypted"):
        pipeline.verify(storage, "full/x/db.dump", record, keys.Keyring(key))
    # an encrypted file where the manifest says plain
    storage, record = put(tmp_path, sample(10_000), "gzip", key)
    record.encryption = None
    with pytest.raises(IntegrityError, match="is encrypted, but its manifest says it is not"):
        pipeline.verify(storage, "full/x/db.dump", record, keys.Keyring(key))


def test_manifest_key_id_must_match_the_header(tmp_path):
    key = new_key()
    storage, record = put(tmp_path, sample(10_000), "gzip", key)
    record.encryption = dict(record.encryption, key_id="00" * 8)
    with pytest.raises(IntegrityError, match="its header names key id"):
        pipeline.verify(storage, "full/x/db.dump", record, keys.Keyring(key))


def test_file_record_round_trips_through_the_manifest_dict():
    record = pipeline.FileRecord(name="a", content="sql", compression="gzip",
                                 encryption={"key_id": "ab" * 8})
    assert pipeline.FileRecord.from_dict(record.to_dict()) == record
    old = {k: v for k, v in record.to_dict().items() if k != "encryption"}
    assert pipeline.FileRecord.from_dict(old).encryption is None
