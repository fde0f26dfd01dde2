"""A throwaway PostgreSQL server: initdb into a temp dir, a free loopback port, password
authentication (scram) so every test exercises the password path. Used by the tests and
by scripts/demo. As root, the server runs as the 'postgres' system user (PostgreSQL
refuses to run as root)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

SUPERUSER = "sandstone"
PASSWORD = "s3cret-Pa55:word"


def find_bindir() -> str:
    explicit = os.environ.get("PG_SERVER_BIN")
    if explicit:
        return explicit
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for directory in reversed(dirs):
        if os.path.exists(os.path.join(directory, "postgres")):
            return directory
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(found)
    raise RuntimeError("no PostgreSQL server binaries found: apt-get install postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Optional[str] = None, extra_conf: Optional[List[str]] = None) -> None:
        self.bindir = bindir or find_bindir()
        self.base = tempfile.mkdtemp(prefix="sandstone-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.password = PASSWORD
        self.extra_conf = extra_conf or []
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = pwd.getpwnam("postgres")
            os.chown(self.base, self.run_as.pw_uid, self.run_as.pw_gid)

    def _run(self, argv, **kwargs):
        if self.run_as is not None:
            uid, gid = self.run_as.pw_uid, self.run_as.pw_gid

            def demote():
                os.setgid(gid)
                os.setuid(uid)
            kwargs["preexec_fn"] = demote
        return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)

    def bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def start(self) -> "PgServer":
        pwfile = os.path.join(self.base, "pw")
        with open(pwfile, "w") as handle:
            handle.write(self.password + "\n")
        if self.run_as is not None:
            os.chown(pwfile, self.run_as.pw_uid, self.run_as.pw_gid)
        self._run([self.bin("initdb"), "-D", self.datadir, "-U", self.user, "--pwfile", pwfile,
                   "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        os.unlink(pwfile)
        conf = [f"port = {self.port}", "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = ''", "wal_level = logical", "max_wal_senders = 10",
                "max_replication_slots = 10", "fsync = off", "synchronous_commit = off",
                "full_page_writes = off", "shared_buffers = 64MB", *self.extra_conf]
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as handle:
            handle.write("\n".join(conf) + "\n")
        self._run([self.bin("pg_ctl"), "-D", self.datadir, "-l", os.path.join(self.base, "log"),
                   "-w", "-t", "60", "start"])
        return self

    def stop(self) -> None:
        try:
            self._run([self.bin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres", user: Optional[str] = None,
            password: Optional[str] = None) -> str:
        from urllib.parse import quote
        pw = self.password if password is None else password
        return (f"postgresql://{quote(user or self.user)}:{quote(pw, safe='')}@{self.host}:"
                f"{self.port}/{quote(dbname)}")

    def connect(self, dbname: str = "postgres", **kwargs):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=dbname, autocommit=True, **kwargs)

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except Exception:
                time.sleep(0.2)
