import os
import stat

import pytest

from sandstone_backup import catalog, pgtools
from sandstone_backup.errors import ConfigError, ToolError


@pytest.mark.parametrize("text,expected", [
    ("orders", (None, "orders")),
    ("public.orders", ("public", "orders")),
    ('"Mixed Case"."Odd.Table"', ("Mixed Case", "Odd.Table")),
    ('"a""b".c', ('a"b', "c")),
])
def test_table_names(text, expected):
    assert catalog.parse_table_name(text) == expected


@pytest.mark.parametrize("text", ["", "a.b.c", '"open', "a."])
def test_bad_table_names(text):
    with pytest.raises(ConfigError):
        catalog.parse_table_name(text)


def fake_pg_dump(tmp_path, version):
    """A pg_dump that only answers --version: what find_tool reads."""
    path = tmp_path / "pg_dump"
    path.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(tmp_path)


def test_too_old_pg_dump_is_refused_with_the_package_to_install(tmp_path):
    bindir = fake_pg_dump(tmp_path, "13.4")
    with pytest.raises(ToolError) as err:
        pgtools.find_tool("pg_dump", 15, bindir)
    line = err.value.one_line()
    assert "pg_dump 13 is older than the server (PostgreSQL 15)" in line
    assert "postgresql-client-15" in line


def test_same_or_newer_pg_dump_is_accepted(tmp_path):
    bindir = fake_pg_dump(tmp_path, "17.2 (Debian 17.2-1)")
    tool = pgtools.find_tool("pg_dump", 15, bindir)
    assert tool.major == 17 and tool.path == os.path.join(bindir, "pg_dump")


def test_installed_client_matches_the_server():
    tool = pgtools.find_tool("pg_dump", 15)
    assert tool.major >= 15
