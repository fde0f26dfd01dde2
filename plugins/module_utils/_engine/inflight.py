"""Markers of backup runs in progress, so leftover cleanup never removes what a live run
is writing. Each run writes BACKUP_DIR/.inflight/<host>-<pid>.json when it starts and
removes it when it ends; a run killed with SIGKILL leaves its marker behind, and the next
run sees that the process is gone (its pid is free, or now belongs to a process started
later) and knows the writer is dead."""
from __future__ import annotations

import json
import os
import socket
import time
from typing import Any, Dict, List, Optional

FOLDER = ".inflight"


def _process_start(pid: int) -> Optional[str]:
    """The kernel's start time of a process (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int) -> bool:
    """Whether a process on this host still runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) writes nothing any more
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Marker:
    def __init__(self, root: str) -> None:
        self.folder = os.path.join(root, FOLDER)
        self.path = os.path.join(self.folder, f"{socket.gethostname()}-{os.getpid()}.json")

    def __enter__(self) -> "Marker":
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        data = {"host": socket.gethostname(), "pid": os.getpid(),
                "process_start": _process_start(os.getpid()), "started": time.time()}
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def read_markers(root: str) -> List[Dict[str, Any]]:
    folder = os.path.join(root, FOLDER)
    found = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            data = {}
        data["path"] = path
        found.append(data)
    return found


def is_dead(marker: Dict[str, Any]) -> bool:
    """True only when we know: same host and the process is gone (or its pid reused)."""
    if marker.get("host") != socket.gethostname() or not isinstance(marker.get("pid"), int):
        return False
    pid = marker["pid"]
    if not process_alive(pid):
        return True
    started = marker.get("process_start")
    return started is not None and _process_start(pid) not in (None, started)


def other_live_runs(root: str) -> List[Dict[str, Any]]:
    """Markers of runs other than this process that are (or may be) still running; dead
    markers found on the way are removed."""
    live = []
    for marker in read_markers(root):
        if marker.get("pid") == os.getpid() and marker.get("host") == socket.gethostname():
            continue
        if is_dead(marker):
            try:
                os.unlink(marker["path"])
            except FileNotFoundError:
                pass
            continue
        live.append(marker)
    return live
