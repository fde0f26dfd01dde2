"""The main job end to end on a throwaway PostgreSQL: load sample data, back it up,
restore it into a new database and prove both are identical. Nothing outside a temp
directory is touched; the server is stopped at the end."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import load_sample  # noqa: E402
from tests.support.dbcheck import Inspector  # noqa: E402
from tests.support.pgserver import PgServer  # noqa: E402


def run(env, *args):
    print(f"\n$ sandstone-backup {' '.join(shlex.quote(a) for a in args)}", flush=True)
    subprocess.run([sys.executable, "-m", "sandstone_backup.cli", *args], env=env, check=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="sandstone-demo-"))
    print("starting a throwaway PostgreSQL ...", flush=True)
    server = PgServer().start()
    try:
        server.create_database("shop")
        load_sample(server, "shop", rows=2000)
        env = dict(os.environ, SUPABASE_DB_URL=server.url("shop"),
                   BACKUP_DIR=str(work / "storage"), LOG_DIR=str(work / "logs"))
        print(f"sample database 'shop' on port {server.port}; repository {work / 'storage'}")
        run(env, "full", "--dry-run")
        run(env, "full")
        run(env, "restore", "list")
        run(env, "restore", "full", "latest", "--target-db", "shop_restored", "--dry-run")
        run(env, "restore", "full", "latest", "--target-db", "shop_restored")
        run(env, "status")
        check = Inspector(server)
        same = (check.checksums("shop") == check.checksums("shop_restored")
                and check.sequences("shop") == check.sequences("shop_restored")
                and check.schema_text("shop") == check.schema_text("shop_restored"))
        tables = check.checksums("shop")
        print(f"\nverify: {len(tables)} tables, {sum(c for c, _ in tables.values())} rows; "
              f"row checksums, sequences and schema of the restore "
              f"{'are IDENTICAL to' if same else 'DIFFER from'} the original")
        return 0 if same else 1
    finally:
        server.stop()
        print(f"server stopped; the demo's files are in {work}")


if __name__ == "__main__":
    sys.exit(main())
