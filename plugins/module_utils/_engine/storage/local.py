"""A local directory repository. Objects are written to ``<key>.partial``, fsynced and
renamed, so a crash never leaves a complete-looking file."""
from __future__ import annotations

import os
from typing import BinaryIO, List

from ..errors import ConfigError, NotFound
from .base import Storage, Writer

PARTIAL = ".partial"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalWriter(Writer):
    def __init__(self, final: str) -> None:
        self.final = final
        self.temp = final + PARTIAL
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.handle = os.fdopen(fd, "wb", buffering=1 << 20)
        self.done = False

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.temp, self.final)
        _fsync_dir(os.path.dirname(self.final))
        self.done = True

    def abort(self) -> None:
        if self.done:
            return
        self.handle.close()
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass
        self.done = True


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: str) -> None:
        if not root:
            raise ConfigError("BACKUP_DIR is empty", "set BACKUP_DIR to the backup directory")
        self.root = os.path.abspath(root)

    def _path(self, key: str) -> str:
        path = os.path.normpath(os.path.join(self.root, key))
        if path != self.root and not path.startswith(self.root + os.sep):
            raise ConfigError(f"path {key!r} leaves the repository", "use a backup id")
        return path

    def writer(self, key: str) -> Writer:
        return LocalWriter(self._path(key))

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(f"{self.location(key)} does not exist", "check the backup id") from None

    def list(self, prefix: str) -> List[str]:
        base = self._path(prefix)
        keys = []
        for directory, _dirs, files in os.walk(base):
            for name in files:
                full = os.path.join(directory, name)
                keys.append(os.path.relpath(full, self.root).replace(os.sep, "/"))
        return sorted(keys)

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def size(self, key: str) -> int:
        return os.path.getsize(self._path(key))

    def modified(self, key: str) -> float:
        """When the file was last written (seconds since the epoch)."""
        return os.path.getmtime(self._path(key))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        # remove directories left empty, up to the repository root
        directory = os.path.dirname(path)
        while directory != self.root:
            try:
                os.rmdir(directory)
            except OSError:
                break
            directory = os.path.dirname(directory)

    def location(self, key: str = "") -> str:
        return self._path(key) if key else self.root
