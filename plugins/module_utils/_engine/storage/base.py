"""The storage interface every driver implements. Keys are '/'-separated paths relative
to the repository root; a writer publishes its object only on ``commit``."""
from __future__ import annotations

from typing import BinaryIO, Iterator, List


class Writer:
    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Make the object durable and visible under its key."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop everything written; the key stays as it was."""
        raise NotImplementedError

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class Storage:
    name = "base"

    def writer(self, key: str) -> Writer:
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def list(self, prefix: str) -> List[str]:
        """Every key under ``prefix`` (recursive), sorted."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def modified(self, key: str) -> float:
        """When the object was last written (seconds since the epoch)."""
        raise NotImplementedError

    def location(self, key: str = "") -> str:
        """Where a key lives, for people (a path or an s3:// URL)."""
        raise NotImplementedError

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.writer(key) as writer:
            writer.write(data)
            writer.commit()

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as handle:
            return handle.read()

    def iter_chunks(self, key: str, size: int = 1 << 20) -> Iterator[bytes]:
        with self.open(key) as handle:
            while True:
                block = handle.read(size)
                if not block:
                    return
                yield block
