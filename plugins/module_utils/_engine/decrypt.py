"""The decrypt verb: an encrypted backup file -> its compressed (or, asked, plain) bytes.

Everything is checked as it streams (every segment authenticated; with the backup's
manifest next to the file, both SHA-256 too). The output appears under its name only when
the whole file checked out, and an existing file is never overwritten."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, BinaryIO, Dict, Optional

from . import compression, crypto, keys, pipeline
from .config import Settings
from .errors import NotFound, OperationFailed
from .manifest import NAME as MANIFEST_NAME, Manifest
from .storage.local import LocalStorage

ENCRYPTED_SUFFIX = crypto.SUFFIX
STDOUT = "-"


@dataclass
class DecryptRequest:
    path: str
    output: Optional[str] = None  # None: the input's name without .enc, in the current
    # directory (never next to the input: a plain copy must not land in the repository)
    decompress: bool = False


def default_output(path: str, decompress: bool) -> str:
    name = os.path.basename(path)
    base = name[:-len(ENCRYPTED_SUFFIX)] if name.endswith(ENCRYPTED_SUFFIX) else name + ".decrypted"
    if decompress:
        for suffix in (".gz", ".zst"):
            if base.endswith(suffix):
                return os.path.join(os.getcwd(), base[:-len(suffix)])
    return os.path.join(os.getcwd(), base)


def _record_for(storage: LocalStorage, name: str) -> Optional[pipeline.FileRecord]:
    """The manifest entry of a file inside a backup folder, so both hashes are checked too."""
    if not storage.exists(MANIFEST_NAME):
        return None
    manifest = Manifest.from_json(storage.read_bytes(MANIFEST_NAME),
                                  storage.location(MANIFEST_NAME))
    return next((f for f in manifest.files if f.name == name), None)


def _publish(temp: str, final: str) -> None:
    """Give the finished temp file its name, never replacing a file that appeared meanwhile."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise OperationFailed(f"{final} already exists; nothing was overwritten",
                              "choose another -o OUT or remove it") from None
    except OSError:  # a filesystem without hard links
        if os.path.exists(final):
            raise OperationFailed(f"{final} already exists; nothing was overwritten",
                                  "choose another -o OUT or remove it") from None
        os.rename(temp, final)


def run_decrypt(settings: Settings, request: DecryptRequest,
                stream: Optional[BinaryIO] = None) -> Dict[str, Any]:
    path = os.path.abspath(request.path)
    if not os.path.isfile(path):
        raise NotFound(f"{request.path} does not exist", "give the path of an encrypted backup file")
    with open(path, "rb") as handle:
        head = handle.read(crypto.HEADER_BYTES)
    if not crypto.is_encrypted(head):
        kind = compression.detect(head)
        raise OperationFailed(f"{request.path} is not encrypted ({kind if kind != 'none' else 'plain'} "
                              "data)", "it needs no decryption; restore or decompress it as it is")
    storage = LocalStorage(os.path.dirname(path))
    name = os.path.basename(path)
    record = _record_for(storage, name)
    keyring = keys.keyring_from_settings(settings)
    read = pipeline.read_plain if request.decompress else pipeline.read_stored_plaintext
    blocks = read(storage, name, record, keyring)
    key_id = crypto.Header(head[:crypto.HEADER_BYTES]).key_id.hex() \
        if len(head) >= crypto.HEADER_BYTES else None
    result = {"changed": True, "input": path, "key_id": key_id,
              "decompressed": request.decompress,
              "checked": "segments and manifest checksums" if record else "segments"}

    if request.output == STDOUT:
        if stream is None:
            raise OperationFailed("no output stream to write to", "this is a bug in the caller")
        written = 0
        for block in blocks:
            stream.write(block)
            written += len(block)
        stream.flush()
        result.update(output=STDOUT, bytes=written)
        return result

    final = os.path.abspath(request.output or default_output(path, request.decompress))
    if final == path:
        raise OperationFailed("the output would replace the input", "choose another -o OUT")
    if os.path.exists(final):
        raise OperationFailed(f"{final} already exists; nothing was overwritten",
                              "choose another -o OUT or remove it")
    directory = os.path.dirname(final)
    if not os.path.isdir(directory):
        raise NotFound(f"directory {directory} does not exist", "create it or choose another -o OUT")
    temp = os.path.join(directory, f".{os.path.basename(final)}.{uuid.uuid4().hex[:8]}.partial")
    written = 0
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            for block in blocks:
                out.write(block)
                written += len(block)
            out.flush()
            os.fsync(out.fileno())
        _publish(temp, final)
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
    result.update(output=final, bytes=written)
    return result
