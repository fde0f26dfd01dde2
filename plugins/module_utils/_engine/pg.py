"""Connections: build one connection spec from the configuration, keep the password out of
argv and logs, and turn libpq failures into one-line errors that say what to do."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from typing import Dict, Iterator, Optional

import psycopg
from psycopg import conninfo as pq_conninfo

from .errors import ConfigError, ConnectError, OperationFailed

SUPABASE_HOST = re.compile(r"(^|\.)(supabase\.co|supabase\.com)$")


@dataclass(frozen=True)
class ConnSpec:
    """Everything needed to reach one database; ``password`` never goes into ``params``."""

    params: Dict[str, str] = field(default_factory=dict)
    password: Optional[str] = field(default=None, repr=False)

    @property
    def dbname(self) -> str:
        return self.params.get("dbname") or os.environ.get("PGDATABASE") or self.user

    @property
    def user(self) -> str:
        return self.params.get("user") or os.environ.get("PGUSER") or _os_user()

    @property
    def host(self) -> str:
        return self.params.get("host") or os.environ.get("PGHOST") or "local socket"

    def conninfo(self) -> str:
        """libpq conninfo without the password: safe for argv and messages."""
        return pq_conninfo.make_conninfo(**self.params)

    def describe(self) -> str:
        port = self.params.get("port") or os.environ.get("PGPORT") or "5432"
        return f"{self.user}@{self.host}:{port}/{self.dbname}"

    def with_dbname(self, dbname: str) -> "ConnSpec":
        return replace(self, params={**self.params, "dbname": dbname})

    def is_supabase(self) -> bool:
        return bool(SUPABASE_HOST.search(self.params.get("host", "")))


def _os_user() -> str:
    import getpass
    return getpass.getuser()


def _parse(url: str, what: str) -> Dict[str, str]:
    try:
        return {k: str(v) for k, v in pq_conninfo.conninfo_to_dict(url).items() if v is not None}
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"{what} is not a valid connection URL ({_first_line(exc)})",
                          "use postgresql://USER:PASSWORD@HOST:5432/DBNAME") from None


def build_spec(settings, url: Optional[str] = None, host: Optional[str] = None,
               port: Optional[int] = None, user: Optional[str] = None,
               password: Optional[str] = None, dbname: Optional[str] = None,
               sslmode: Optional[str] = None) -> ConnSpec:
    """Module parameters / CLI flags, then SUPABASE_DB_URL, then SUPABASE_PROJECT_ID +
    SUPABASE_DB_PASSWORD, then libpq's own defaults (PGHOST, PGSERVICE, ...)."""
    params: Dict[str, str] = {}
    if url:
        params = _parse(url, "the connection URL")
    elif settings.get("SUPABASE_DB_URL"):
        params = _parse(settings["SUPABASE_DB_URL"], "SUPABASE_DB_URL")
    elif settings.get("SUPABASE_PROJECT_ID"):
        project = settings["SUPABASE_PROJECT_ID"]
        if not re.fullmatch(r"[a-z0-9]{6,40}", project):
            raise ConfigError(f"SUPABASE_PROJECT_ID {project!r} does not look like a project ref",
                              "copy the ref from the project's URL (https://ID.supabase.co)")
        if not settings.get("SUPABASE_DB_PASSWORD"):
            raise ConfigError("SUPABASE_PROJECT_ID is set but SUPABASE_DB_PASSWORD is not",
                              "set SUPABASE_DB_PASSWORD or use SUPABASE_DB_URL")
        params = {"host": f"db.{project}.supabase.co", "port": "5432", "user": "postgres",
                  "dbname": "postgres", "password": settings["SUPABASE_DB_PASSWORD"]}
    overrides = {"host": host, "port": port, "user": user, "dbname": dbname,
                 "sslmode": sslmode, "password": password}
    params.update({k: str(v) for k, v in overrides.items() if v not in (None, "")})
    secret = params.pop("password", None)
    spec = ConnSpec(params=params, password=secret)
    if spec.is_supabase() and "sslmode" not in params:
        spec = replace(spec, params={**params, "sslmode": "require"})
    return spec


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__


def explain_connect_failure(spec: ConnSpec, exc: BaseException) -> ConnectError:
    """Map libpq's message to a one-line error with the next step."""
    text = str(exc)
    where = spec.describe()
    from .supabase_conn import explain_failure  # Supabase hosts have their own pitfalls
    special = explain_failure(spec.params.get("host", ""), spec.params.get("port", ""),
                              spec.user, text)
    if special is not None:
        return special
    if "password authentication failed" in text:
        return ConnectError(f"password authentication failed for {where}",
                            "check the password (SUPABASE_DB_PASSWORD, the URL or login_password)")
    if "no password supplied" in text:
        return ConnectError(f"{where} asks for a password and none was given",
                            "set the password in the URL, SUPABASE_DB_PASSWORD or a .pgpass file")
    if "does not exist" in text and "database" in text:
        return ConnectError(f"database {spec.dbname!r} does not exist on {spec.host}",
                            "check the database name")
    if "Connection refused" in text or "could not connect" in text or "timeout" in text.lower():
        return ConnectError(f"cannot reach {where} ({_first_line(exc)})",
                            "check host, port, firewall and that the server is running")
    if "could not translate host name" in text:
        return ConnectError(f"host {spec.host} cannot be resolved", "check the host name")
    return ConnectError(f"cannot connect to {where}: {_first_line(exc)}",
                        "check the connection settings")


def connect(spec: ConnSpec, autocommit: bool = True, timeout: int = 10) -> psycopg.Connection:
    try:
        return psycopg.connect(spec.conninfo(), password=spec.password, autocommit=autocommit,
                               connect_timeout=timeout, application_name="sandstone-backup")
    except psycopg.OperationalError as exc:
        raise explain_connect_failure(spec, exc) from None


def export_snapshot(conn: psycopg.Connection) -> tuple:
    """Open a read-only repeatable-read transaction on ``conn`` (autocommit off) and export
    its snapshot: pg_dump --snapshot and our own queries then see the same data. Returns
    (snapshot name, WAL position as text). Keep ``conn`` idle until pg_dump is done."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    return conn.execute(
        "SELECT pg_export_snapshot(), CASE WHEN pg_is_in_recovery() "
        "THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text").fetchone()


def server_version_num(conn: psycopg.Connection) -> int:
    return conn.info.server_version


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def server_version_text(conn: psycopg.Connection) -> str:
    return conn.execute("SHOW server_version").fetchone()[0]


def database_exists(spec: ConnSpec, dbname: str) -> bool:
    with maintenance_connection(spec, dbname) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        return row is not None


@contextlib.contextmanager
def maintenance_connection(spec: ConnSpec, avoid: str) -> Iterator[psycopg.Connection]:
    """A connection to another database on the same server, for CREATE/DROP DATABASE."""
    last: Optional[BaseException] = None
    for candidate in ("postgres", "template1"):
        if candidate == avoid:
            continue
        try:
            conn = connect(spec.with_dbname(candidate))
        except ConnectError as exc:
            last = exc
            continue
        try:
            yield conn
        finally:
            conn.close()
        return
    raise last or ConnectError(f"cannot open a maintenance connection on {spec.host}",
                               "check the connection settings")


def create_database(spec: ConnSpec, dbname: str) -> None:
    with maintenance_connection(spec, dbname) as conn:
        try:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
        except psycopg.Error as exc:
            raise OperationFailed(f"cannot create database {dbname!r}: {_first_line(exc)}",
                                  "create it yourself or use a role with CREATEDB") from None


def drop_database(spec: ConnSpec, dbname: str) -> None:
    with maintenance_connection(spec, dbname) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(
            psycopg.sql.Identifier(dbname)))


@contextlib.contextmanager
def libpq_env(spec: ConnSpec) -> Iterator[Dict[str, str]]:
    """Environment for pg_dump/pg_restore/psql: the password in a 0600 passfile that is
    removed afterwards, never in argv."""
    env = dict(os.environ)
    if not spec.password:  # libpq's own sources (PGPASSWORD, ~/.pgpass, PGPASSFILE) apply
        yield env
        return
    env.pop("PGPASSWORD", None)  # it would win over our passfile
    with tempfile.TemporaryDirectory(prefix="sandstone-pass-") as tmp:
        path = os.path.join(tmp, "pgpass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        escaped = spec.password.replace("\\", "\\\\").replace(":", "\\:")
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:*:{escaped}\n")
        env["PGPASSFILE"] = path
        yield env
