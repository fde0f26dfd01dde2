"""Throughput and memory of a full backup and restore through the CLI, on a throwaway
PostgreSQL with generated data. Prints its figures; never part of the test suite.

    .venv/bin/python bench/backup_restore.py [--rows 200000] [--compression gzip|zstd|none]

Peak RSS is the CLI process's own (pg_dump, pg_restore and psql are separate processes):
it should stay flat as --rows grows, because data is streamed in 1 MiB blocks."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import load_sample  # noqa: E402
from tests.support.pgserver import PgServer  # noqa: E402


def timed_cli(env, *args):
    """Run the CLI in a child; return (seconds, peak RSS of that child in MiB)."""
    code = ("import resource, runpy, sys; sys.argv = ['sandstone-backup'] + sys.argv[1:];"
            "from sandstone_backup.cli import main; rc = main();"
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr);"
            "sys.exit(rc)")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"sandstone-backup {' '.join(args)} failed: {proc.stderr}")
    rss_kib = int(next(l for l in proc.stderr.splitlines() if l.startswith("RSS")).split()[1])
    return elapsed, rss_kib / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200000, help="users; orders are 3x, invoices 1.5x")
    parser.add_argument("--compression", default="gzip", choices=("gzip", "zstd", "none"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sandstone-bench-"))
    server = PgServer().start()
    try:
        server.create_database("bench")
        t0 = time.monotonic()
        load_sample(server, "bench", rows=args.rows)
        with server.connect("bench") as conn:
            size = conn.execute("SELECT pg_database_size('bench')").fetchone()[0]
        print(f"generated {args.rows * 5.5:,.0f} rows, database {size / 2**20:.0f} MiB "
              f"in {time.monotonic() - t0:.0f}s; {os.cpu_count()} cores")
        env = dict(os.environ, SUPABASE_DB_URL=server.url("bench"),
                   BACKUP_DIR=str(work / "storage"), LOG_DIR=str(work / "logs"))
        secs, rss = timed_cli(env, "full", "--compression", args.compression)
        stored = sum(p.stat().st_size for p in (work / "storage").rglob("*.dump*"))
        manifest = next((work / "storage").rglob("manifest.json")).read_text()
        import json
        plain = json.loads(manifest)["files"][0]["plain_size"]
        print(f"backup  ({args.compression}): {secs:6.1f}s  {plain / 2**20 / secs:6.1f} MiB/s of dump "
              f"({plain / 2**20:.0f} MiB -> {stored / 2**20:.0f} MiB stored)  peak RSS {rss:.0f} MiB")
        secs, rss = timed_cli(env, "restore", "full", "latest", "--target-db", "bench_restored")
        print(f"restore ({args.compression}): {secs:6.1f}s  {plain / 2**20 / secs:6.1f} MiB/s of dump "
              f"(verify pass + load + row count check)  peak RSS {rss:.0f} MiB")
    finally:
        server.stop()
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
