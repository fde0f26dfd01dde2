"""pg_dump, pg_restore and psql: found by version, run as argument lists (never a shell),
every exit code checked and every stderr read (pg_dump can exit 0 after errors)."""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .errors import ToolError

VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Tool:
    path: str
    major: int
    version: str


def tool_version(path: str) -> Tool:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except OSError as exc:
        raise ToolError(f"cannot run {path}: {exc.strerror}", "check PG_BIN_DIR") from None
    match = VERSION_RE.search(out)
    if not match:
        raise ToolError(f"cannot read the version of {path} ({out.strip()!r})", "check PG_BIN_DIR")
    return Tool(path=path, major=int(match.group(1)), version=out.strip().split(")", 1)[-1].strip())


def _candidates(name: str) -> List[str]:
    found = []
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin",
                    "/usr/local/opt/postgresql@*/bin"):
        for directory in glob.glob(pattern):
            path = os.path.join(directory, name)
            if os.access(path, os.X_OK):
                found.append(path)
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    return found


def find_tool(name: str, server_major: int, bin_dir: Optional[str] = None) -> Tool:
    """The client for ``server_major``: the same major if installed, else the nearest newer.

    Same-major matters for restores too: a newer pg_restore writes settings (e.g.
    transaction_timeout in 17) that an older server rejects."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not os.access(path, os.X_OK):
            raise ToolError(f"{name} not found in PG_BIN_DIR={bin_dir}",
                            f"install postgresql-client-{server_major} or fix PG_BIN_DIR")
        tools = [tool_version(path)]
    else:
        tools = []
        seen = set()
        for path in _candidates(name):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                tools.append(tool_version(path))
            except ToolError:
                continue
    if not tools:
        raise ToolError(f"{name} is not installed",
                        f"install postgresql-client-{server_major} (or set PG_BIN_DIR)")
    usable = sorted((t for t in tools if t.major >= server_major), key=lambda t: t.major)
    if not usable:
        newest = max(tools, key=lambda t: t.major)
        raise ToolError(f"{name} {newest.major} is older than the server (PostgreSQL {server_major}) "
                        f"and cannot dump or restore it safely",
                        f"install postgresql-client-{server_major} or set PG_BIN_DIR to its bin "
                        f"directory")
    return usable[0]


class _StderrReader(threading.Thread):
    """Drain a child's stderr so it never blocks on a full pipe; keep the text for errors."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: List[str] = []

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
        self.stream.close()

    def text(self) -> str:
        self.join()
        return "\n".join(line for line in self.lines if line)


def _error_lines(text: str) -> List[str]:
    return [line for line in text.splitlines()
            if re.search(r"\b(error|fatal|ERROR|FATAL|aborting)\b", line)]


def _summary(name: str, code: int, stderr: str) -> str:
    errors = _error_lines(stderr) or stderr.splitlines()
    detail = errors[0] if errors else f"exit code {code}"
    return f"{name} failed: {detail.strip()}"


class Process:
    """One child process with stderr drained in the background."""

    def __init__(self, name: str, argv: Sequence[str], env: Dict[str, str], stdin=None,
                 stdout=subprocess.PIPE) -> None:
        self.name = name
        try:
            self.popen = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout,
                                          stderr=subprocess.PIPE, env=env, close_fds=True)
        except OSError as exc:
            raise ToolError(f"cannot start {name}: {exc.strerror}", "check PG_BIN_DIR") from None
        self.stderr = _StderrReader(self.popen.stderr)
        self.stderr.start()

    def finish(self, strict_stderr: bool = False) -> str:
        """Wait; raise ToolError on a non-zero exit (or on error lines when strict)."""
        code = self.popen.wait()
        text = self.stderr.text()
        if code != 0 or (strict_stderr and _error_lines(text)):
            raise ToolError(_summary(self.name, code, text), "see the log for the full output")
        return text

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()


def stream_from(name: str, argv: Sequence[str], env: Dict[str, str],
                consume: Callable[[Iterable[bytes]], None]) -> str:
    """Run a producer (pg_dump) and hand its stdout to ``consume`` chunk by chunk."""
    proc = Process(name, argv, env, stdin=subprocess.DEVNULL)

    def chunks() -> Iterable[bytes]:
        while True:
            block = proc.popen.stdout.read(CHUNK)
            if not block:
                return
            yield block

    try:
        consume(chunks())
    except BaseException:
        proc.kill()
        proc.stderr.text()
        raise
    finally:
        proc.popen.stdout.close()
    return proc.finish(strict_stderr=True)


def stream_into(stages: Sequence[tuple], env: Dict[str, str], chunks: Iterable[bytes]) -> List[str]:
    """Feed ``chunks`` into a chain of processes (e.g. pg_restore -f - | psql).

    ``stages`` is a list of (name, argv). The last stage's stdout is discarded. Every
    stage's exit code is checked; the most downstream failure is reported first because
    upstream stages then only see a broken pipe."""
    procs: List[Process] = []
    upstream = subprocess.PIPE
    try:
        for index, (name, argv) in enumerate(stages):
            last = index == len(stages) - 1
            stdin = subprocess.PIPE if index == 0 else procs[-1].popen.stdout
            proc = Process(name, argv, env, stdin=stdin,
                           stdout=subprocess.DEVNULL if last else upstream)
            if index > 0:
                procs[-1].popen.stdout.close()  # the child holds it now
            procs.append(proc)
    except BaseException:
        for proc in procs:
            proc.kill()
        raise
    sink = procs[0].popen.stdin
    try:
        for block in chunks:
            try:
                sink.write(block)
            except BrokenPipeError:
                break
    except BaseException:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.stderr.text()
        raise
    finally:
        try:
            sink.close()
        except BrokenPipeError:
            pass
    outputs: List[str] = []
    failures: List[ToolError] = []
    for proc in reversed(procs):
        try:
            outputs.insert(0, proc.finish())
        except ToolError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    # A broken pipe with every stage exiting 0 is fine: pg_restore -t stops reading once
    # it has restored the tables it was asked for.
    return outputs
