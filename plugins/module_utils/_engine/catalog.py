"""Questions asked of a database's catalog: which user tables exist, how many rows they
hold, whether a database is empty. Shared by backup, restore and verify."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import psycopg
from psycopg import sql

from .errors import ConfigError, NotFound

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

# Leaf tables (relkind 'r') only: partitioned parents would count their rows twice.
# Tables that belong to an extension are left out: pg_dump does not dump their data.
USER_TABLES = """
SELECT n.nspname, c.relname, c.relrowsecurity, c.reltuples::bigint,
       pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def ident(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)

    def quoted(self) -> str:
        """Quoted for pg_dump's -t pattern, so names with capitals or dots match exactly."""
        return '"{}"."{}"'.format(self.schema.replace('"', '""'), self.name.replace('"', '""'))


def user_tables(conn: psycopg.Connection) -> List[Dict]:
    rows = conn.execute(USER_TABLES, (list(SYSTEM_SCHEMAS),)).fetchall()
    return [{"schema": r[0], "name": r[1], "rls": r[2], "estimated_rows": max(r[3], 0),
             "bytes": r[4]} for r in rows]


def parse_table_name(text: str) -> Tuple[Optional[str], str]:
    """'t' -> (None, 't'); 's.t' -> ('s', 't'); '"My.Schema"."T"' handled too."""
    text = text.strip()
    if not text:
        raise ConfigError("empty table name", "name tables like public.orders")
    parts, current, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    if quoted or len(parts) > 2 or not all(parts):
        raise ConfigError(f"table name {text!r} is not valid", "name tables like public.orders")
    return (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def resolve_tables(conn: psycopg.Connection, names: Iterable[str]) -> List[TableRef]:
    """Each name must be one existing table; an unqualified name is looked up in the
    search path. A missing table is an error before anything runs."""
    found: List[TableRef] = []
    for text in names:
        schema, name = parse_table_name(text)
        ident = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        row = conn.execute(sql.SQL(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.oid = to_regclass({}) AND c.relkind IN ('r', 'p')"
        ).format(sql.Literal(ident.as_string(conn)))).fetchone()
        if row is None:
            raise NotFound(f"table {text} does not exist in database {conn.info.dbname}",
                           "check the name; list tables with 'sandstone-backup status' or psql \\dt")
        ref = TableRef(row[0], row[1])
        if ref not in found:
            found.append(ref)
    return found


def count_rows(conn: psycopg.Connection, table: TableRef) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table.ident())).fetchone()[0]


def table_exists(conn: psycopg.Connection, table: TableRef) -> bool:
    name = sql.Identifier(table.schema, table.name).as_string(conn)
    row = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    return row[0] is not None


def referencing_tables(conn: psycopg.Connection, table: TableRef) -> List[str]:
    """Tables whose foreign keys point at ``table`` (they block a TRUNCATE of it alone)."""
    rows = conn.execute("""
        SELECT DISTINCT n.nspname || '.' || c.relname FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE k.contype = 'f' AND k.confrelid = to_regclass(%s) AND k.conrelid <> k.confrelid
        ORDER BY 1""", (table.ident().as_string(conn),)).fetchall()
    return [r[0] for r in rows]


def is_empty(conn: psycopg.Connection) -> Tuple[bool, int]:
    """A database is empty when it holds no user relations (tables, views, sequences ...)."""
    row = conn.execute("""
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname <> ALL(%s)
          AND n.nspname NOT LIKE 'pg_temp%%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
    """, (list(SYSTEM_SCHEMAS),)).fetchone()
    return row[0] == 0, row[0]


def policies(conn: psycopg.Connection) -> List[Dict]:
    rows = conn.execute("SELECT schemaname, tablename, policyname, cmd, roles::text[], qual, "
                        "with_check FROM pg_policies ORDER BY 1, 2, 3").fetchall()
    return [{"schema": r[0], "table": r[1], "policy": r[2], "cmd": r[3], "roles": list(r[4]),
             "qual": r[5], "with_check": r[6]} for r in rows]
