"""Locks so two runs against the same repository or database never overlap (a cron job and
a manual run, two timers). ``fcntl.flock`` on files under BACKUP_DIR/locks/: the kernel
drops the lock when its process dies, so a lock left by a killed run is free again and is
taken over; the file still names the dead holder, which is how we can say so.

Each lock file holds JSON about its holder (pid, host, operation, since) for the message a
second run prints; it is emptied on a clean release."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from .errors import OperationFailed
from .inflight import process_alive
from .repository import iso, parse_iso, utcnow

log = logging.getLogger("sandstone")
FOLDER = "locks"
POLL_SECONDS = 0.2


class Locked(OperationFailed):
    """Another run holds the lock."""


def database_key(spec) -> str:
    """host:port/dbname of a connection spec (the user does not matter: same database)."""
    return spec.describe().split("@", 1)[-1]


def lock_dir(backup_dir: str) -> str:
    return os.path.join(os.path.abspath(backup_dir), FOLDER)


def database_lock_name(key: str) -> str:
    return "database-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] + ".lock"


REPOSITORY_LOCK = "repository.lock"


def _describe_holder(holder: Dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "another run (it has not written its name yet)"
    text = f"pid {holder['pid']}"
    if holder.get("host") and holder["host"] != socket.gethostname():
        text += f" on {holder['host']}"
    if holder.get("operation"):
        text += f" ({holder['operation']}"
        if holder.get("target"):
            text += f" of {holder['target']}"
        text += ")"
    if holder.get("started_at"):
        try:
            age = (utcnow() - parse_iso(holder["started_at"])).total_seconds()
            text += f" since {holder['started_at']} ({int(age // 60)}m {int(age % 60)}s ago)"
        except ValueError:
            text += f" since {holder['started_at']}"
    return text


def _read_holder(fd: int) -> Dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while True:
        block = os.read(fd, 65536)
        if not block:
            break
        raw += block
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class FileLock:
    """One exclusive lock file. ``what`` names it for people: 'repository /x'."""

    path: str
    what: str
    fd: Optional[int] = None
    took_over: Optional[Dict[str, Any]] = None

    def acquire(self, holder: Dict[str, Any], wait_seconds: float = 0) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OperationFailed(f"cannot open the lock file {self.path} ({exc.strerror})",
                                  "run as the backup user, or fix the owner of BACKUP_DIR") from None
        deadline = time.monotonic() + max(wait_seconds, 0)
        waiting = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                if not waiting and wait_seconds > 0:
                    waiting = True
                    log.info("waiting up to %gs for %s, held by %s", wait_seconds, self.what,
                             _describe_holder(_read_holder(fd)))
                if time.monotonic() >= deadline:
                    other = _read_holder(fd)
                    waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
                    raise Locked(f"{self.what} is in use by {_describe_holder(other)}{waited}",
                                 "wait for that run to finish (or set LOCK_WAIT_SECONDS to wait "
                                 "for it)")
                time.sleep(POLL_SECONDS)
            # We hold it. A name still in the file means its holder died without releasing.
            previous = _read_holder(fd)
            if previous.get("pid"):
                self.took_over = previous
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder, sort_keys=True).encode("utf-8"))
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def takeover_note(self) -> Optional[str]:
        if not self.took_over:
            return None
        return (f"took over the lock on {self.what} left by {_describe_holder(self.took_over)},"
                f" which is no longer running")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # a clean release leaves no name behind
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def hold(backup_dir: str, operation: str, databases: List[str] = (),
         wait_seconds: float = 0) -> Iterator[List[str]]:
    """Hold the repository lock, then one lock per database (always in this order, so two
    waiting runs cannot deadlock). Yields the take-over notes (also logged as warnings)."""
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "operation": operation,
              "started_at": iso(utcnow())}
    directory = lock_dir(backup_dir)
    wanted = [FileLock(os.path.join(directory, REPOSITORY_LOCK),
                       f"repository {os.path.abspath(backup_dir)}")]
    for key in sorted(set(databases)):
        wanted.append(FileLock(os.path.join(directory, database_lock_name(key)),
                               f"database {key}"))
    held: List[FileLock] = []
    notes: List[str] = []
    try:
        for each in wanted:
            target = each.what.split(" ", 1)[1] if each.what.startswith("database") else ""
            each.acquire(dict(holder, target=target) if target else holder, wait_seconds)
            held.append(each)
            note = each.takeover_note()
            if note:
                log.warning("%s", note)
                notes.append(note)
        yield notes
    finally:
        for each in reversed(held):
            each.release()


def holders(backup_dir: str) -> List[Dict[str, Any]]:
    """Runs named in a lock file right now (for status). Read only: taking the lock even for
    a moment could make a starting backup fail, so a holder on this host is judged by
    whether its pid still runs, and a dead one is marked stale (the next run takes over)."""
    directory = lock_dir(backup_dir)
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".lock"))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            with open(os.path.join(directory, name), "rb") as handle:
                info = _read_holder(handle.fileno())
        except OSError:
            continue
        if not info.get("pid"):
            continue  # released cleanly
        local = info.get("host") in (None, socket.gethostname())
        info["stale"] = bool(local and not process_alive(int(info["pid"])))
        info["lock"] = name
        info["description"] = _describe_holder(info)
        found.append(info)
    return found
