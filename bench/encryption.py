"""Throughput and memory of the encrypted segment format.

    .venv/bin/python bench/encryption.py [--mib 256]

Generates MIB mebibytes in 1 MiB blocks (never all at once), encrypts them through
crypto.Encryptor and decrypts the result through crypto.Decryptor, streaming, and prints
MB/s for each direction and the process's peak RSS. Peak RSS stays flat whatever --mib is:
the format needs one segment of memory, plus the caller's block.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sandstone_backup import crypto, keys  # noqa: E402

BLOCK = 1 << 20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def blocks(mib: int):
    """Pseudo-random but cheap data: a 1 MiB random pool, rotated per block."""
    pool = os.urandom(BLOCK)
    for n in range(mib):
        cut = (n * 7919) % BLOCK
        yield pool[cut:] + pool[:cut]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--mib", type=int, default=256, help="data size in MiB (default 256)")
    args = parser.parse_args()
    key = keys.MasterKey.from_base64(base64.b64encode(os.urandom(32)).decode())
    total = args.mib * BLOCK
    rss_start = peak_rss_mib()

    # Encrypt: keep nothing but the size. Only the Encryptor calls are timed (making the
    # data is not); the pipeline's SHA-256 of the output is timed separately.
    sealer = crypto.Encryptor(key)
    sealed_hash = hashlib.sha256()
    sealed_size = 0
    enc_seconds = hash_seconds = 0.0
    for block in blocks(args.mib):
        start = time.perf_counter()
        out = sealer.update(block)
        enc_seconds += time.perf_counter() - start
        start = time.perf_counter()
        sealed_hash.update(out)
        hash_seconds += time.perf_counter() - start
        sealed_size += len(out)
    start = time.perf_counter()
    out = sealer.finalize()
    enc_seconds += time.perf_counter() - start
    sealed_size += len(out)
    rss_after_encrypt = peak_rss_mib()

    # Decrypt: encrypt again on the fly (same key, new salt) and feed the ciphertext in 1 MiB
    # pieces to the decryptor, so neither side ever holds the file. Only decryption is timed.
    stream = crypto.encrypt_stream(blocks(args.mib), key)
    opener = crypto.Decryptor(keys.Keyring(key), "bench")
    plain_size = 0
    dec_seconds = 0.0
    for piece in stream:
        start = time.perf_counter()
        for plain in opener.update(piece):
            plain_size += len(plain)
        dec_seconds += time.perf_counter() - start
    start = time.perf_counter()
    plain_size += len(opener.finalize())
    dec_seconds += time.perf_counter() - start
    assert plain_size == total, (plain_size, total)

    mb = total / 1e6
    print(f"data:     {args.mib} MiB in {BLOCK >> 10} KiB blocks, {crypto.SEGMENT_SIZE >> 10} KiB "
          f"segments, overhead {sealed_size - total} bytes "
          f"({(sealed_size - total) / total * 100:.3f}%)")
    print(f"encrypt:  {mb / enc_seconds:8.1f} MB/s  ({enc_seconds:.2f}s)")
    print(f"decrypt:  {mb / dec_seconds:8.1f} MB/s  ({dec_seconds:.2f}s)")
    print(f"sha256:   {mb / hash_seconds:8.1f} MB/s  (for comparison: the pipeline hashes every "
          f"byte twice)")
    print(f"peak RSS: {peak_rss_mib():.1f} MiB (at start {rss_start:.1f} MiB, after encrypt "
          f"{rss_after_encrypt:.1f} MiB)")


if __name__ == "__main__":
    main()
