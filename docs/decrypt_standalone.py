"""Decrypt a Sandstone Backup encrypted file without Sandstone Backup.

Needs only Python 3 and the `cryptography` package (Debian: python3-cryptography).
The format is specified in docs/ENCRYPTION.md; this script is that spec as code.

    ENCRYPTION_KEY=... python3 decrypt_standalone.py db.dump.gz.enc db.dump.gz
    ENCRYPTION_KEY=... python3 decrypt_standalone.py db.dump.gz.enc - | gunzip | pg_restore -l

The key is read from the environment variable ENCRYPTION_KEY (base64 of 32 bytes), or from
the file named by --key-file; never from the command line. Output is written to OUT.partial
and renamed only after the last segment authenticated; to standard output with "-" (then a
failure exits non-zero after writing only authenticated segments).
"""
import argparse
import base64
import hashlib
import hmac
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HEADER = struct.Struct(">8sBBI8s32s7s")  # magic, version, algorithm, segment size, key id, salt, prefix
MAGIC, TAG = b"SANDENC\x00", 16


def fail(message):
    sys.exit(f"decrypt_standalone: {message}")


def decrypt(source, sink, master):
    raw = source.read(HEADER.size)
    if len(raw) < HEADER.size:
        fail("input is truncated (incomplete header)")
    magic, version, algorithm, seg_size, key_id, salt, prefix = HEADER.unpack(raw)
    if magic != MAGIC or version != 1 or algorithm != 1:
        fail("not a Sandstone Backup encrypted file of format version 1")
    if not 1024 <= seg_size <= 16 * 1024 * 1024:
        fail(f"damaged header (segment size {seg_size})")
    mine = hmac.new(master, b"sandstone-backup key-id v1", hashlib.sha256).digest()[:8]
    if key_id != mine:
        fail(f"encrypted with key id {key_id.hex()}, this key has id {mine.hex()}")
    aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                       info=b"sandstone-backup file-key v1").derive(master))
    sealed_size = seg_size + TAG
    counter = 0
    segment = source.read(sealed_size)
    while True:
        following = source.read(sealed_size)
        final = not following  # the last segment is the one nothing follows
        if len(segment) < TAG:
            fail(f"input is truncated (segment {counter} is incomplete)")
        nonce = prefix + struct.pack(">IB", counter, 1 if final else 0)
        try:
            sink.write(aead.decrypt(nonce, segment, raw))
        except InvalidTag:
            fail(f"segment {counter} failed authentication (damaged, truncated or reordered)")
        if final:
            return counter + 1
        segment, counter = following, counter + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("input")
    parser.add_argument("output", help='file to create, or "-" for standard output')
    parser.add_argument("--key-file", help="file holding the base64 key (default: $ENCRYPTION_KEY)")
    args = parser.parse_args()
    text = open(args.key_file).read() if args.key_file else os.environ.get("ENCRYPTION_KEY", "")
    try:
        master = base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        master = b""
    if len(master) != 32:
        fail("the key must be base64 of 32 bytes (set ENCRYPTION_KEY or use --key-file)")
    with open(args.input, "rb") as source:
        if args.output == "-":
            decrypt(source, sys.stdout.buffer, master)
            return
        if os.path.exists(args.output):
            fail(f"{args.output} exists; not overwriting it")
        temp = args.output + ".partial"
        try:
            with open(temp, "xb") as sink:
                decrypt(source, sink, master)
            os.rename(temp, args.output)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)


if __name__ == "__main__":
    main()
