"""One pipeline for every artefact: plain bytes -> SHA-256 -> compress -> SHA-256 -> storage,
and back again with both hashes checked. Constant memory: blocks of about 1 MiB."""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional

from . import compression
from .errors import IntegrityError
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
          level: Optional[int] = None) -> FileRecord:
    """Write ``chunks`` through the pipeline to ``key``; fill in sizes and hashes.
    The object is published only if every chunk arrived (the writer commits last)."""
    plain, stored = _Counter(), _Counter()
    codec = compression.compressor(record.compression, level)
    with storage.writer(key) as writer:
        for block in chunks:
            plain.update(block)
            out = codec.compress(block)
            if out:
                stored.update(out)
                writer.write(out)
        tail = codec.flush()
        if tail:
            stored.update(tail)
            writer.write(tail)
        writer.commit()
    record.size, record.sha256 = stored.size, stored.hash.hexdigest()
    record.plain_size, record.plain_sha256 = plain.size, plain.hash.hexdigest()
    return record


def read_plain(storage: Storage, key: str, record: Optional[FileRecord] = None) -> Iterator[bytes]:
    """Yield the plain bytes of a stored file. With a record, the stored and plain SHA-256
    and sizes are checked; without one (an old script's .sql.gz), the codec's own checks
    (gzip CRC, zstd checksum) are. Raises IntegrityError at the first sign of damage,
    before the final block is yielded, so a consumer never sees a complete bad stream."""
    where = storage.location(key)
    stored, plain = _Counter(), _Counter()
    source = storage.iter_chunks(key)
    first = next(source, b"")
    codec_name = compression.detect(first)
    if record is not None and record.compression != codec_name and record.size:
        raise IntegrityError(f"{where} is not {record.compression} data as its manifest says",
                             "the file was replaced or damaged; use another backup")
    codec = compression.decompressor(codec_name)
    pending = b""

    def blocks() -> Iterator[bytes]:
        if first:
            yield first
        yield from source

    try:
        for block in blocks():
            stored.update(block)
            out = codec.decompress(block)
            if out:
                plain.update(out)
                if pending:
                    yield pending
                pending = out
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


def verify(storage: Storage, key: str, record: Optional[FileRecord] = None) -> Dict[str, Any]:
    """Read a file end to end through the pipeline; return what was checked."""
    size = 0
    head = b""
    for block in read_plain(storage, key, record):
        if len(head) < 8:
            head += block[:8]
        size += len(block)
    return {"file": key, "plain_size": size, "head": head[:5]}


def head_of(storage: Storage, key: str, length: int = 5) -> bytes:
    """The first plain bytes of a file (to recognise pg_dump's custom format: b'PGDMP')."""
    for block in read_plain_unchecked(storage, key):
        return block[:length]
    return b""


def read_plain_unchecked(storage: Storage, key: str) -> Iterator[bytes]:
    """Plain bytes without the final integrity verdict, for peeking at a header only."""
    source = storage.iter_chunks(key)
    first = next(source, b"")
    codec = compression.decompressor(compression.detect(first))
    try:
        out = codec.decompress(first)
        if out:
            yield out
        for block in source:
            out = codec.decompress(block)
            if out:
                yield out
    except (zlib.error, ValueError) as exc:
        raise IntegrityError(f"{storage.location(key)} is corrupt ({exc})",
                             "use another backup") from None


def records(items: List[Dict[str, Any]]) -> List[FileRecord]:
    return [FileRecord.from_dict(item) for item in items]
