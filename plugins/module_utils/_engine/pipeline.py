"""One pipeline for every artefact: plain bytes -> SHA-256 -> compress -> encrypt (optional)
-> SHA-256 -> storage, and back again with both hashes checked. Constant memory: blocks of
about 1 MiB. Formats come from the manifest and magic bytes, never from a file name."""
from __future__ import annotations

import hashlib
import itertools
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from . import compression, crypto
from .errors import IntegrityError
from .keys import Keyring, MasterKey
from .storage.base import Storage


@dataclass
class FileRecord:
    """What the manifest says about one stored file."""

    name: str
    content: str  # pg_custom | sql
    compression: str
    size: int = 0
    sha256: str = ""
    plain_size: int = 0
    plain_sha256: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)
    encryption: Optional[Dict[str, Any]] = None  # crypto.describe(): algorithm, key id, segment size

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "FileRecord":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class _Counter:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def update(self, block: bytes) -> None:
        self.hash.update(block)
        self.size += len(block)


def store(chunks: Iterable[bytes], storage: Storage, key: str, record: FileRecord,
          level: Optional[int] = None, encrypt_with: Optional[MasterKey] = None) -> FileRecord:
    """Write ``chunks`` through the pipeline to ``key``; fill in sizes and hashes (and, when
    ``encrypt_with`` is given, the encryption record). The object is published only if every
    chunk arrived (the writer commits last)."""
    plain, stored = _Counter(), _Counter()
    codec = compression.compressor(record.compression, level)
    sealer = crypto.Encryptor(encrypt_with) if encrypt_with is not None else None
    record.encryption = crypto.describe(encrypt_with, sealer.segment_size) if sealer else None
    with storage.writer(key) as writer:

        def emit(data: bytes) -> None:
            if sealer is not None and data:
                data = sealer.update(data)
            if data:
                stored.update(data)
                writer.write(data)

        for block in chunks:
            plain.update(block)
            emit(codec.compress(block))
        emit(codec.flush())
        if sealer is not None:
            tail = sealer.finalize()
            stored.update(tail)
            writer.write(tail)
        writer.commit()
    record.size, record.sha256 = stored.size, stored.hash.hexdigest()
    record.plain_size, record.plain_sha256 = plain.size, plain.hash.hexdigest()
    return record


def _peek(source: Iterator[bytes], length: int) -> Tuple[bytes, Iterator[bytes]]:
    """At least ``length`` leading bytes (fewer only at the end) and the whole stream again."""
    head = b""
    for block in source:
        head += block
        if len(head) >= length:
            break
    return head, itertools.chain([head] if head else [], source)


def _counted(source: Iterable[bytes], counter: _Counter) -> Iterator[bytes]:
    for block in source:
        counter.update(block)
        yield block


def read_plain(storage: Storage, key: str, record: Optional[FileRecord] = None,
               keys: Optional[Keyring] = None) -> Iterator[bytes]:
    """Yield the plain bytes of a stored file. With a record, the stored and plain SHA-256
    and sizes are checked; without one (an old script's .sql.gz), the codec's own checks
    (gzip CRC, zstd checksum) are. Encrypted files are recognised by their magic bytes and
    opened with ``keys``; every segment is authenticated before its bytes move on.
    Raises IntegrityError at the first sign of damage (KeyNotConfigured when the right key
    is missing), before the final block is yielded, so a consumer never sees a complete
    bad stream."""
    return _read(storage, key, record, keys, decompress=True)


def read_stored_plaintext(storage: Storage, key: str, record: Optional[FileRecord] = None,
                          keys: Optional[Keyring] = None) -> Iterator[bytes]:
    """Like read_plain, but yield the decrypted, still compressed bytes (the decrypt verb).
    Everything is still decompressed on the side, so the same checks run."""
    return _read(storage, key, record, keys, decompress=False)


def _read(storage: Storage, key: str, record: Optional[FileRecord], keys: Optional[Keyring],
          decompress: bool) -> Iterator[bytes]:
    where = storage.location(key)
    stored, plain = _Counter(), _Counter()
    head, raw = _peek(_counted(storage.iter_chunks(key), stored), len(crypto.MAGIC))
    encrypted = crypto.is_encrypted(head)
    expected = record.encryption if record is not None else None
    if record is not None and record.size and bool(expected) != encrypted:
        said = "encrypted" if expected else "not encrypted"
        raise IntegrityError(f"{where} is {'' if encrypted else 'not '}encrypted, but its "
                             f"manifest says it is {said}",
                             "the file was replaced or damaged; use another backup")
    if encrypted:
        expect_id = (expected or {}).get("key_id")
        compressed = crypto.Decryptor(keys, where, expect_id).stream(raw)
    else:
        compressed = raw
    chead, compressed = _peek(compressed, 4)
    codec_name = compression.detect(chead)
    if record is not None and record.compression != codec_name and record.size:
        raise IntegrityError(f"{where} is not {record.compression} data as its manifest says",
                             "the file was replaced or damaged; use another backup")
    codec = compression.decompressor(codec_name)
    pending = b""
    try:
        for block in compressed:
            out = codec.decompress(block)
            if out:
                plain.update(out)
            emit = out if decompress else block
            if emit:
                if pending:
                    yield pending
                pending = emit
        codec.finish()
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"{where} is corrupt or truncated ({exc})",
                             "use another backup; this one cannot be restored") from None
    if record is not None:
        if stored.size != record.size or stored.hash.hexdigest() != record.sha256:
            raise IntegrityError(f"{where} does not match its manifest checksum "
                                 f"({stored.size} bytes, expected {record.size})",
                                 "the file is damaged; use another backup")
        if plain.size != record.plain_size or plain.hash.hexdigest() != record.plain_sha256:
            raise IntegrityError(f"{where} decompresses to different data than was backed up",
                                 "the file is damaged; use another backup")
    if pending:
        yield pending


def verify(storage: Storage, key: str, record: Optional[FileRecord] = None,
           keys: Optional[Keyring] = None) -> Dict[str, Any]:
    """Read a file end to end through the pipeline; return what was checked."""
    size = 0
    head = b""
    for block in read_plain(storage, key, record, keys):
        if len(head) < 8:
            head += block[:8]
        size += len(block)
    return {"file": key, "plain_size": size, "head": head[:5],
            "encrypted": bool(record.encryption) if record is not None else None}


def head_of(storage: Storage, key: str, length: int = 5, keys: Optional[Keyring] = None) -> bytes:
    """The first plain bytes of a file (to recognise pg_dump's custom format: b'PGDMP')."""
    for block in read_plain_unchecked(storage, key, keys):
        return block[:length]
    return b""


def read_plain_unchecked(storage: Storage, key: str,
                         keys: Optional[Keyring] = None) -> Iterator[bytes]:
    """Plain bytes without the final integrity verdict, for peeking at a header only
    (encrypted segments are still authenticated one by one)."""
    head, raw = _peek(storage.iter_chunks(key), len(crypto.MAGIC))
    if crypto.is_encrypted(head):
        raw = crypto.Decryptor(keys, storage.location(key)).stream(raw)
    first, raw = _peek(raw, 4)
    codec = compression.decompressor(compression.detect(first))
    try:
        for block in raw:
            out = codec.decompress(block)
            if out:
                yield out
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"{storage.location(key)} is corrupt ({exc})",
                             "use another backup") from None


def records(items: List[Dict[str, Any]]) -> List[FileRecord]:
    return [FileRecord.from_dict(item) for item in items]
