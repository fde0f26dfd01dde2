"""Compression codecs in a registry, recognised by magic bytes, never by a file name.

gzip output is a standard single-member gzip stream (``gzip -t``/``zcat`` read it); zstd
output is a standard frame (``zstd -d`` reads it)."""
from __future__ import annotations

import zlib
from typing import Callable, Dict, Optional

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Identity:
    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _IdentityReader:
    eof = True

    def decompress(self, data: bytes) -> bytes:
        return data

    def finish(self) -> None:
        return None


class _GzipReader:
    """Decompress gzip, including multi-member files (concatenated .gz, as some scripts make)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=47)
        self.eof = False

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._d.decompress(data))
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(wbits=47) if data else self._d
            else:
                data = b""
        self.eof = self._d.eof
        return b"".join(out)

    def finish(self) -> None:
        if not self._d.eof:
            raise ValueError("gzip stream is truncated")


class _ZstdReader:
    def __init__(self) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self.eof = False

    def decompress(self, data: bytes) -> bytes:
        try:
            out = self._d.decompress(data)
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd data is corrupt ({exc})") from None
        self.eof = self._d.eof
        return out

    def finish(self) -> None:
        if not self._d.eof:
            raise ValueError("zstd stream is truncated")


def _gzip_writer(level: Optional[int]):
    return zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)


def _zstd_writer(level: Optional[int]):
    params = zstandard.ZstdCompressionParameters.from_level(3 if level is None else level,
                                                            write_checksum=True, threads=-1)
    return _ZstdCompressObj(zstandard.ZstdCompressor(compression_params=params))


class _ZstdCompressObj:
    def __init__(self, compressor: "zstandard.ZstdCompressor") -> None:
        self._c = compressor.compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def flush(self) -> bytes:
        return self._c.flush()


WRITERS: Dict[str, Callable] = {"gzip": _gzip_writer, "zstd": _zstd_writer,
                                "none": lambda level: _Identity()}
READERS: Dict[str, Callable] = {"gzip": _GzipReader, "zstd": _ZstdReader, "none": _IdentityReader}
SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}


def compressor(name: str, level: Optional[int] = None):
    return WRITERS[name](level)


def decompressor(name: str):
    return READERS[name]()


def detect(head: bytes) -> str:
    """Which codec wrote these first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"
