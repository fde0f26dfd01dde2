"""Facts about a database that tests compare: per-table row checksums, sequence values,
the schema as pg_dump prints it, policies."""
from __future__ import annotations

import os
import re
import subprocess
from typing import Dict, Tuple

from psycopg import sql


class Inspector:
    def __init__(self, server) -> None:
        self.server = server

    def tables(self, dbname: str):
        with self.server.connect(dbname) as conn:
            return conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                "('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()

    def checksums(self, dbname: str) -> Dict[str, Tuple[int, str]]:
        """table -> (row count, md5 over the sorted md5 of every row's text form)."""
        out = {}
        with self.server.connect(dbname) as conn:
            for schema, name in self.tables(dbname):
                ident = sql.Identifier(schema, name)
                count, digest = conn.execute(sql.SQL(
                    "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY "
                    "md5(t::text))), '') FROM {} t").format(ident)).fetchone()
                out[f"{schema}.{name}"] = (count, digest)
        return out

    def sequences(self, dbname: str) -> Dict[str, Tuple[int, bool]]:
        out = {}
        with self.server.connect(dbname) as conn:
            for schema, name in conn.execute(
                    "SELECT schemaname, sequencename FROM pg_sequences ORDER BY 1, 2").fetchall():
                row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                    sql.Identifier(schema, name))).fetchone()
                out[f"{schema}.{name}"] = tuple(row)
        return out

    def schema_text(self, dbname: str) -> str:
        """pg_dump --schema-only, without the random \\restrict keys newer pg_dump prints."""
        env = dict(os.environ, PGPASSWORD=self.server.password)
        text = subprocess.run([self.server.bin("pg_dump"), "--schema-only", "-h", self.server.host,
                               "-p", str(self.server.port), "-U", self.server.user, "-d", dbname],
                              check=True, capture_output=True, text=True, env=env).stdout
        return re.sub(r"^\\(un)?restrict .*$", "", text, flags=re.M)

    def policies(self, dbname: str):
        with self.server.connect(dbname) as conn:
            return conn.execute("SELECT schemaname, tablename, policyname, cmd, qual, with_check "
                                "FROM pg_policies ORDER BY 1, 2, 3").fetchall()

    def exists(self, dbname: str) -> bool:
        with self.server.connect() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (dbname,)).fetchone() is not None

    def execute(self, dbname: str, query: str, *params):
        with self.server.connect(dbname) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else None
