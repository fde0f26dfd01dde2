"""Real parts for every test: a PostgreSQL server started here (initdb in a temp dir, a free
loopback port, password authentication), a fresh database per test, the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import dbcheck  # noqa: E402
from tests.support.pgserver import PgServer  # noqa: E402

# Fixture modules of the other real parts (S3 server, webhook and SMTP receivers, Supabase
# look-alike ...) live in tests/support/ and are registered here, one line each.
pytest_plugins = [
    "tests.support.s3server",
    "tests.support.receivers",
    "tests.support.supabase_fixture",
]

SAMPLE = ROOT / "tests" / "support" / "sample.sql"
CLI = [sys.executable, "-m", "sandstone_backup.cli"]


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer().start()
    yield server
    server.stop()


def load_sample(server: PgServer, dbname: str, rows: int = 200) -> None:
    env = dict(os.environ, PGPASSWORD=server.password)
    subprocess.run([server.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"rows={rows}",
                    "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", dbname,
                    "-f", str(SAMPLE)], check=True, env=env, capture_output=True)


@pytest.fixture
def fresh_db(pg_server):
    """Factory for empty databases, dropped after the test."""
    made = []

    def make(prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        pg_server.create_database(name)
        made.append(name)
        return name

    yield make
    for name in made:
        pg_server.drop_database(name)


@pytest.fixture
def source_db(pg_server, fresh_db):
    name = fresh_db("src")
    load_sample(pg_server, name)
    return name


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "storage").mkdir()
    return tmp_path


@pytest.fixture
def cli_env(pg_server, source_db, workdir):
    """The environment a cron job would have: the seed's variables, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SUPABASE_", "SANDSTONE_"))}
    env.update(SUPABASE_DB_URL=pg_server.url(source_db), BACKUP_DIR=str(workdir / "storage"),
               LOG_DIR=str(workdir / "logs"))
    return env


class CliResult:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(cli_env):
    def run(*args: str, env=None, check: bool = True) -> CliResult:
        proc = subprocess.run(CLI + list(args), capture_output=True, text=True,
                              env=env or cli_env, timeout=600, cwd=str(ROOT))
        result = CliResult(proc)
        if check and result.code != 0:
            raise AssertionError(f"sandstone-backup {' '.join(args)} exited {result.code}:\n"
                                 f"{result.err}\n{result.out}")
        return result
    return run


@pytest.fixture
def db(pg_server):
    return dbcheck.Inspector(pg_server)
