"""The encrypted segment format: round trips of awkward sizes, the byte layout of
docs/ENCRYPTION.md, and every kind of damage (flipped byte, truncation, reordering, a
dropped or added segment, a wrong key) detected with the right message."""
import base64
import hashlib
import hmac
import os
import random
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandstone_backup import config, crypto, keys
from sandstone_backup.errors import ConfigError, IntegrityError

SEG = 1024  # small segments: many of them in little data
SEALED = SEG + crypto.TAG_BYTES


def new_key() -> keys.MasterKey:
    return keys.MasterKey.from_base64(base64.b64encode(os.urandom(32)).decode())


def chunked(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def seal(data: bytes, key: keys.MasterKey, segment_size: int = SEG, chunk: int = 333) -> bytes:
    return b"".join(crypto.encrypt_stream(chunked(data, chunk), key, segment_size))


def unseal(blob: bytes, *ring: keys.MasterKey, chunk: int = 101) -> bytes:
    return b"".join(crypto.decrypt_stream(chunked(blob, chunk), keys.Keyring(ring[0], list(ring[1:])),
                                          "backup.enc"))


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 7, 50 * SEG])
@pytest.mark.parametrize("chunk", [1, 700, SEG, 5000])
def test_round_trip(size, chunk):
    key = new_key()
    data = os.urandom(size)
    blob = seal(data, key, chunk=chunk)
    segments = max(1, -(-size // SEG))  # an exact multiple ends with a full final segment
    assert len(blob) == crypto.HEADER_BYTES + size + segments * crypto.TAG_BYTES
    assert unseal(blob, key, chunk=chunk) == data


def test_large_random_input_with_default_segments():
    key = new_key()
    rng = random.Random(7)
    data = rng.randbytes(5 * 1024 * 1024 + 12345)
    blob = b"".join(crypto.encrypt_stream(chunked(data, 1 << 20), key))
    assert unseal(blob, key, chunk=1 << 20) == data
    assert data[1000:1100] not in blob


def test_header_layout_is_as_documented():
    key = new_key()
    blob = seal(b"hello", key)
    magic, version, algorithm, segment_size, key_id, salt, prefix = struct.unpack(
        ">8sBBI8s32s7s", blob[:61])
    assert (magic, version, algorithm, segment_size) == (b"SANDENC\x00", 1, 1, SEG)
    assert key_id == hmac.new(key.secret, b"sandstone-backup key-id v1", hashlib.sha256).digest()[:8]
    assert crypto.HEADER_BYTES == 61
    # The segment opens with the documented key derivation, nonce and associated data.
    file_key = crypto.file_key(key.secret, salt)
    plain = AESGCM(file_key).decrypt(prefix + struct.pack(">IB", 0, 1), blob[61:], blob[:61])
    assert plain == b"hello"


def test_same_input_encrypts_differently_every_time():
    key = new_key()
    first, second = seal(b"x" * 5000, key), seal(b"x" * 5000, key)
    assert first[22:54] != second[22:54] and first[61:] != second[61:]


def test_wrong_key_is_a_key_error_not_damage():
    blob = seal(b"secret rows", new_key())
    other = new_key()
    with pytest.raises(keys.KeyNotConfigured) as caught:
        unseal(blob, other)
    error = caught.value
    assert error.exit_code == 2
    assert f"key id {blob[14:22].hex()}" in error.message and other.id_hex in error.message
    assert "ENCRYPTION_OLD_KEYS" in error.hint


def test_no_key_configured_at_all():
    blob = seal(b"secret rows", new_key())
    with pytest.raises(keys.KeyNotConfigured, match="no key is configured"):
        b"".join(crypto.decrypt_stream([blob], None, "backup.enc"))


def test_old_key_reads_after_rotation():
    old, new = new_key(), new_key()
    blob = seal(b"rows from last month" * 100, old)
    assert unseal(blob, new, old) == b"rows from last month" * 100


@pytest.mark.parametrize("offset,message", [
    (9, "format"),  # version byte
    (12, "segment 0"),  # segment size: a different sane size, so segment 0 fails
    (30, "segment 0"),  # salt
    (58, "segment 0"),  # nonce prefix
    (61, "segment 0"),  # first ciphertext byte
    (61 + SEALED + 500, "segment 1"),  # middle of segment 1
    (61 + 2 * SEALED - 1, "segment 1"),  # the last byte of segment 1's tag
    (-1, "segment 4 at byte 4221, the last"),  # the last byte of the file
])
def test_one_flipped_byte_is_detected(offset, message):
    key = new_key()
    blob = bytearray(seal(os.urandom(4 * SEG + 100), key))
    blob[offset] ^= 0x01
    with pytest.raises(IntegrityError) as caught:
        unseal(bytes(blob), key)
    assert message in caught.value.message


def test_every_flipped_bit_in_a_small_file_is_detected():
    key = new_key()
    blob = seal(b"x" * (SEG + 10), key)
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            damaged = bytearray(blob)
            damaged[position] ^= bit
            with pytest.raises((IntegrityError, keys.KeyNotConfigured)):
                unseal(bytes(damaged), key)


def test_flipped_key_id_is_damage_when_the_manifest_names_the_key():
    key = new_key()
    blob = bytearray(seal(b"data", key))
    blob[15] ^= 0x01
    decryptor = crypto.Decryptor(keys.Keyring(key), "backup.enc", expect_key_id=key.id_hex)
    with pytest.raises(IntegrityError, match="its header names key id"):
        b"".join(decryptor.stream([bytes(blob)]))


@pytest.mark.parametrize("cut,message", [
    (61 + 2 * SEALED, "ends after segment 1 without the final-segment marker"),
    (61 + SEALED, "ends after segment 0 without the final-segment marker"),
    (61 + SEALED + 700, "segment 1 at byte 1101, the last, failed"),
    (61 + SEALED + 5, "segment 1 at byte 1101 is incomplete"),
    (61, "segment 0 at byte 61 is incomplete"),
    (40, "the encryption header alone is 61"),
    (0, "only 0 bytes"),
])
def test_truncation_is_detected(cut, message):
    key = new_key()
    blob = seal(os.urandom(3 * SEG + 10), key)
    with pytest.raises(IntegrityError) as caught:
        unseal(blob[:cut], key)
    assert "truncated" in caught.value.message and message in caught.value.message


def test_swapped_segments_are_detected():
    key = new_key()
    blob = seal(os.urandom(4 * SEG), key)
    first, second = blob[61:61 + SEALED], blob[61 + SEALED:61 + 2 * SEALED]
    swapped = blob[:61] + second + first + blob[61 + 2 * SEALED:]
    with pytest.raises(IntegrityError, match="segment 0 at byte 61 failed authentication"):
        unseal(swapped, key)


def test_dropped_middle_segment_is_detected():
    key = new_key()
    blob = seal(os.urandom(4 * SEG), key)
    with pytest.raises(IntegrityError, match="segment 1 .*failed authentication"):
        unseal(blob[:61 + SEALED] + blob[61 + 2 * SEALED:], key)


def test_appended_bytes_are_detected():
    key = new_key()
    blob = seal(os.urandom(2 * SEG), key)
    with pytest.raises(IntegrityError):
        unseal(blob + b"\x00", key)
    with pytest.raises(IntegrityError):
        unseal(blob + blob[61:], key)


def test_segment_from_another_file_with_the_same_key_is_detected():
    key = new_key()
    one, two = seal(os.urandom(2 * SEG), key), seal(os.urandom(2 * SEG), key)
    mixed = one[:61 + SEALED] + two[61 + SEALED:]
    with pytest.raises(IntegrityError, match="segment 1"):
        unseal(mixed, key)


def test_nothing_unauthenticated_is_released():
    """A damaged segment stops the stream before any of its bytes come out."""
    key = new_key()
    data = os.urandom(3 * SEG)
    blob = bytearray(seal(data, key))
    blob[61 + SEALED + 10] ^= 0xFF
    released = b""
    with pytest.raises(IntegrityError):
        for block in crypto.decrypt_stream(chunked(bytes(blob), 100), keys.Keyring(key)):
            released += block
    assert released == data[:SEG]


# --- keys and configuration ---

def test_key_must_be_base64_of_32_bytes():
    with pytest.raises(ConfigError) as caught:
        config.load(environ={"ENCRYPTION_KEY": base64.b64encode(os.urandom(16)).decode()})
    assert "16 bytes" in caught.value.message and "openssl rand -base64 32" in caught.value.hint
    with pytest.raises(ConfigError, match="not valid base64"):
        config.load(environ={"ENCRYPTION_KEY": "correct horse battery staple"})
    good = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigError, match="ENCRYPTION_OLD_KEYS item 2"):
        config.load(environ={"ENCRYPTION_OLD_KEYS": f"{good},nope"})
    settings = config.load(environ={"ENCRYPTION_KEY": good, "ENCRYPTION_OLD_KEYS": f" {good} ,"})
    assert settings["ENCRYPTION_KEY"] == good and settings["ENCRYPTION_OLD_KEYS"] == good
    assert settings.redacted()["ENCRYPTION_KEY"] == "********"
    assert good not in repr(keys.keyring_from_settings(settings))
    assert good not in repr(keys.MasterKey.from_base64(good))


def test_error_messages_never_contain_the_key():
    short = base64.b64encode(os.urandom(31)).decode()
    with pytest.raises(ConfigError) as caught:
        config.load(environ={"ENCRYPTION_KEY": short})
    assert short not in caught.value.one_line()


def test_encrypt_without_a_key_is_a_config_error():
    settings = config.load(environ={"ENCRYPT": "true"})
    with pytest.raises(ConfigError) as caught:
        keys.writing_key(settings)
    assert caught.value.exit_code == 2 and "ENCRYPTION_KEY is not set" in caught.value.message
    assert "openssl rand -base64 32" in caught.value.hint


def test_sample_config_lists_the_encryption_keys_without_a_usable_key():
    sample = config.generate_sample()
    assert "ENCRYPT=false" in sample and "#ENCRYPTION_KEY=" in sample
    assert "#ENCRYPTION_OLD_KEYS=" in sample and "openssl rand -base64 32" in sample


# --- the standalone script in docs/ is the spec as code: it must agree with the engine ---

STANDALONE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "decrypt_standalone.py")


def run_standalone(tmp_path, blob: bytes, key: keys.MasterKey):
    import subprocess
    import sys
    source, out = tmp_path / "in.enc", tmp_path / "out"
    source.write_bytes(blob)
    if out.exists():
        out.unlink()
    proc = subprocess.run([sys.executable, STANDALONE, str(source), str(out)], capture_output=True,
                          text=True, env=dict(os.environ, ENCRYPTION_KEY=base64.b64encode(
                              key.secret).decode()))
    return proc, (out.read_bytes() if out.exists() else None)


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 3 * 64 * 1024 + 5])
def test_standalone_script_decrypts_what_the_engine_wrote(tmp_path, size):
    key = new_key()
    data = os.urandom(size)
    proc, out = run_standalone(tmp_path, b"".join(crypto.encrypt_stream([data], key)), key)
    assert proc.returncode == 0, proc.stderr
    assert out == data


def test_standalone_script_refuses_damage_and_leaves_no_output(tmp_path):
    key = new_key()
    blob = b"".join(crypto.encrypt_stream([os.urandom(3 * 64 * 1024)], key))
    truncated = blob[:61 + 2 * (64 * 1024 + 16)]
    proc, out = run_standalone(tmp_path, truncated, key)
    assert proc.returncode != 0 and "segment 1 failed authentication" in proc.stderr and out is None
    flipped = bytearray(blob)
    flipped[100] ^= 1
    proc, out = run_standalone(tmp_path, bytes(flipped), key)
    assert proc.returncode != 0 and "segment 0 failed" in proc.stderr and out is None
    proc, out = run_standalone(tmp_path, blob, new_key())
    assert proc.returncode != 0 and "key id" in proc.stderr and out is None
    assert not list(tmp_path.glob("*.partial"))
