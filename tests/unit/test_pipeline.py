import gzip
import hashlib
import os
import subprocess

import pytest

from sandstone_backup import compression, pipeline
from sandstone_backup.errors import IntegrityError
from sandstone_backup.storage.local import LocalStorage


def chunks(data, size=70000):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("codec", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("size", [0, 1, 3 << 20])
def test_round_trip_and_hashes(tmp_path, codec, size):
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    store = LocalStorage(str(tmp_path))
    rec = pipeline.store(chunks(data), store, "x/f", pipeline.FileRecord("f", "sql", codec))
    stored = (tmp_path / "x" / "f").read_bytes()
    assert rec.size == len(stored) and rec.sha256 == hashlib.sha256(stored).hexdigest()
    assert rec.plain_size == size and rec.plain_sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(pipeline.read_plain(store, "x/f", rec)) == data
    assert not list(tmp_path.rglob("*.partial"))
    if size:
        assert compression.detect(stored) == codec


def test_gzip_output_is_standard(tmp_path):
    data = b"hello world\n" * 10000
    store = LocalStorage(str(tmp_path))
    pipeline.store(chunks(data), store, "f.gz", pipeline.FileRecord("f", "sql", "gzip"))
    subprocess.run(["gzip", "-t", str(tmp_path / "f.gz")], check=True)
    assert gzip.decompress((tmp_path / "f.gz").read_bytes()) == data


def test_zstd_output_is_standard(tmp_path):
    data = b"hello world\n" * 10000
    store = LocalStorage(str(tmp_path))
    pipeline.store(chunks(data), store, "f.zst", pipeline.FileRecord("f", "sql", "zstd"))
    out = subprocess.run(["zstd", "-dc", str(tmp_path / "f.zst")], check=True,
                         capture_output=True).stdout
    assert out == data


def test_a_failed_write_publishes_nothing(tmp_path):
    store = LocalStorage(str(tmp_path))

    def broken():
        yield b"x" * 1000
        raise RuntimeError("pg_dump died")

    with pytest.raises(RuntimeError):
        pipeline.store(broken(), store, "d/f", pipeline.FileRecord("f", "sql", "gzip"))
    assert not (tmp_path / "d" / "f").exists() and not list(tmp_path.rglob("*.partial"))


@pytest.mark.parametrize("codec", ["gzip", "zstd", "none"])
def test_damage_is_detected_before_the_last_block(tmp_path, codec):
    data = os.urandom(1 << 20) * 3
    store = LocalStorage(str(tmp_path))
    rec = pipeline.store(chunks(data), store, "f", pipeline.FileRecord("f", "sql", codec))
    path = tmp_path / "f"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0x40
    path.write_bytes(bytes(raw))
    received = 0
    with pytest.raises(IntegrityError):
        for block in pipeline.read_plain(store, "f", rec):
            received += len(block)
    assert received < len(data)


def test_old_script_gzip_without_manifest_is_checked_by_crc(tmp_path):
    data = b"SELECT 1;\n" * 50000
    raw = bytearray(gzip.compress(data))
    (tmp_path / "ok.sql.gz").write_bytes(bytes(raw))
    store = LocalStorage(str(tmp_path))
    assert b"".join(pipeline.read_plain(store, "ok.sql.gz")) == data
    (tmp_path / "cut.sql.gz").write_bytes(bytes(raw[:-20]))
    with pytest.raises(IntegrityError):
        list(pipeline.read_plain(store, "cut.sql.gz"))
