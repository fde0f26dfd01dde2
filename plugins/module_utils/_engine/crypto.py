"""Streaming authenticated encryption: AES-256-GCM in segments, STREAM-style nonces.

The byte-exact format, and why it looks like this, is in docs/ENCRYPTION.md. In short:

    header (61 bytes) = magic "SANDENC\\0" | version 1 | algorithm 1 | segment size (u32 BE)
                        | key id (8) | salt (32) | nonce prefix (7)
    file key          = HKDF-SHA256(ENCRYPTION_KEY, salt, info="sandstone-backup file-key v1")
    segment i         = AES-256-GCM(file key, nonce = prefix | i (u32 BE) | final flag,
                                    plaintext (segment size bytes; the last 0..size),
                                    associated data = the header)  -> ciphertext | 16-byte tag

Every segment is authenticated before any of its bytes are released; the counter in the
nonce catches reordering, the final flag catches truncation at a segment boundary, the
header as associated data catches any edit of the header. Memory is one segment plus the
caller's block, whatever the file size.
"""
from __future__ import annotations

import os
import struct
from typing import Any, Dict, Iterable, Iterator, List, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import IntegrityError
from .keys import Keyring, KeyNotConfigured, MasterKey

MAGIC = b"SANDENC\x00"
SUFFIX = ".enc"  # added to file names for people; readers go by the magic bytes
VERSION = 1
ALGORITHM_AES256GCM_HKDF = 1
ALGORITHM_NAME = "AES-256-GCM-STREAM/HKDF-SHA256"
SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT, MAX_SEGMENT = 1024, 16 * 1024 * 1024
SALT_BYTES, PREFIX_BYTES, TAG_BYTES = 32, 7, 16
FILE_KEY_INFO = b"sandstone-backup file-key v1"
_HEAD = struct.Struct(">8sBBI8s32s7s")
HEADER_BYTES = _HEAD.size  # 61
MAX_SEGMENTS = 2 ** 32  # the counter is 32 bits; 256 TiB at 64 KiB segments


def is_encrypted(head: bytes) -> bool:
    return head.startswith(MAGIC)


def file_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=FILE_KEY_INFO).derive(master)


def nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", counter, 1 if final else 0)


def describe(key: MasterKey, segment_size: int = SEGMENT_SIZE) -> Dict[str, Any]:
    """What the manifest records about an encrypted file (never the key)."""
    return {"algorithm": ALGORITHM_NAME, "format": VERSION, "key_id": key.id_hex,
            "segment_size": segment_size}


class Encryptor:
    """update(bytes) -> bytes and finalize() -> bytes, like a compressor. Holds back up to one
    segment so the last one, however long, can be sealed with the final flag."""

    def __init__(self, key: MasterKey, segment_size: int = SEGMENT_SIZE) -> None:
        if not MIN_SEGMENT <= segment_size <= MAX_SEGMENT:
            raise ValueError(f"segment size {segment_size} is outside {MIN_SEGMENT}..{MAX_SEGMENT}")
        self.segment_size = segment_size
        salt, self._prefix = os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES)
        self.header = _HEAD.pack(MAGIC, VERSION, ALGORITHM_AES256GCM_HKDF, segment_size,
                                 key.id, salt, self._prefix)
        self._aead = AESGCM(file_key(key.secret, salt))
        self._buffer = bytearray()
        self._counter = 0
        self._header_sent = False
        self._done = False

    def _seal(self, data, final: bool) -> bytes:
        if self._counter >= MAX_SEGMENTS:
            raise ValueError("too many segments for one encrypted file")
        out = self._aead.encrypt(nonce(self._prefix, self._counter, final), data, self.header)
        self._counter += 1
        return out

    def _start(self) -> List[bytes]:
        if self._header_sent:
            return []
        self._header_sent = True
        return [self.header]

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise ValueError("update() after finalize()")
        out = self._start()
        self._buffer += data
        size, offset = self.segment_size, 0
        view = memoryview(self._buffer)
        try:
            # Strictly more than a segment: the last full segment may be the final one.
            while len(self._buffer) - offset > size:
                out.append(self._seal(view[offset:offset + size], False))
                offset += size
        finally:
            view.release()
        if offset:
            del self._buffer[:offset]
        return b"".join(out)

    def finalize(self) -> bytes:
        if self._done:
            raise ValueError("finalize() called twice")
        out = self._start()
        out.append(self._seal(bytes(self._buffer), True))
        self._buffer = bytearray()
        self._done = True
        return b"".join(out)


def encrypt_stream(chunks: Iterable[bytes], key: MasterKey,
                   segment_size: int = SEGMENT_SIZE) -> Iterator[bytes]:
    sealer = Encryptor(key, segment_size)
    for block in chunks:
        out = sealer.update(block)
        if out:
            yield out
    yield sealer.finalize()


class Header:
    def __init__(self, raw: bytes) -> None:
        (self.magic, self.version, self.algorithm, self.segment_size, self.key_id,
         self.salt, self.prefix) = _HEAD.unpack(raw)
        self.raw = raw


class Decryptor:
    """The reverse: update(bytes) -> list of authenticated plaintext segments, finalize() ->
    the final segment. Raises IntegrityError (damaged, truncated, reordered) or
    KeyNotConfigured (a ConfigError: the right key is missing) at the first bad segment;
    nothing unauthenticated is ever returned.

    ``where`` names the file in messages; ``expect_key_id`` (hex, from the manifest) lets a
    damaged key id in the header be told apart from a missing key."""

    def __init__(self, keys: Optional[Keyring], where: str,
                 expect_key_id: Optional[str] = None) -> None:
        self.keys = keys or Keyring()
        self.where = where
        self.expect_key_id = expect_key_id
        self.header: Optional[Header] = None
        self._aead: Optional[AESGCM] = None
        self._buffer = bytearray()
        self._counter = 0
        self._consumed = 0  # bytes of the file before the buffer (for messages)

    def _damaged(self, what: str) -> IntegrityError:
        return IntegrityError(f"{self.where} is {what}",
                              "the file was altered or corrupted; use another backup")

    def _open_header(self) -> None:
        header = Header(bytes(self._buffer[:HEADER_BYTES]))
        if header.magic != MAGIC:
            raise self._damaged("not sandstone-encrypted data (wrong magic bytes)")
        if header.version != VERSION or header.algorithm != ALGORITHM_AES256GCM_HKDF:
            raise IntegrityError(f"{self.where} uses encryption format {header.version}/"
                                 f"{header.algorithm}; this version reads {VERSION}/"
                                 f"{ALGORITHM_AES256GCM_HKDF}", "upgrade sandstone-backup")
        if not MIN_SEGMENT <= header.segment_size <= MAX_SEGMENT:
            raise self._damaged(f"damaged (its header gives a segment size of "
                                f"{header.segment_size} bytes)")
        found = header.key_id.hex()
        if self.expect_key_id and found != self.expect_key_id:
            raise self._damaged(f"damaged (its header names key id {found}, its manifest "
                                f"{self.expect_key_id})")
        key = self.keys.get(header.key_id)
        if key is None:
            configured = (f"configured: {', '.join(self.keys.ids)}" if self.keys
                          else "no key is configured")
            raise KeyNotConfigured(f"{self.where} was encrypted with key id {found}, which is "
                                   f"not configured ({configured})",
                                   "set ENCRYPTION_KEY (or add the old key to ENCRYPTION_OLD_KEYS)")
        self._aead = AESGCM(file_key(key.secret, header.salt))
        self.header = header
        del self._buffer[:HEADER_BYTES]
        self._consumed = HEADER_BYTES

    def _open(self, data, final: bool) -> Optional[bytes]:
        if self.header is None or self._aead is None:
            raise RuntimeError("segment opened before the header was read")
        try:
            return self._aead.decrypt(nonce(self.header.prefix, self._counter, final), data,
                                      self.header.raw)
        except InvalidTag:
            return None

    def _where_segment(self) -> str:
        return f"segment {self._counter} at byte {self._consumed}"

    def update(self, data: bytes) -> List[bytes]:
        self._buffer += data
        if self.header is None:
            if len(self._buffer) < HEADER_BYTES:
                return []
            self._open_header()
        if self.header is None:
            raise RuntimeError("the header was not read")
        sealed = self.header.segment_size + TAG_BYTES
        out, offset = [], 0
        view = memoryview(self._buffer)
        try:
            # A segment followed by more bytes cannot be the final one.
            while len(self._buffer) - offset > sealed:
                if self._counter >= MAX_SEGMENTS - 1:
                    raise self._damaged("damaged (more segments than the format allows)")
                plain = self._open(view[offset:offset + sealed], False)
                if plain is None:
                    raise self._damaged(f"damaged ({self._where_segment()} failed authentication)")
                out.append(plain)
                offset += sealed
                self._consumed += sealed
                self._counter += 1
        finally:
            view.release()
        if offset:
            del self._buffer[:offset]
        return out

    def finalize(self) -> bytes:
        if self.header is None:
            raise self._damaged(f"truncated (only {len(self._buffer)} bytes, the encryption "
                                f"header alone is {HEADER_BYTES})")
        rest = bytes(self._buffer)
        self._buffer = bytearray()
        if len(rest) < TAG_BYTES:
            raise self._damaged(f"truncated ({self._where_segment()} is incomplete)")
        plain = self._open(rest, True)
        if plain is not None:
            return plain
        if len(rest) == self.header.segment_size + TAG_BYTES and self._open(rest, False) is not None:
            raise self._damaged(f"truncated (it ends after segment {self._counter} without the "
                                f"final-segment marker)")
        raise self._damaged(f"damaged or truncated ({self._where_segment()}, the last, failed "
                            f"authentication)")

    def stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for block in chunks:
            yield from self.update(block)
        yield self.finalize()


def decrypt_stream(chunks: Iterable[bytes], keys: Keyring, where: str = "input") -> Iterator[bytes]:
    return Decryptor(keys, where).stream(chunks)
