"""Supabase connection rules and the roles file, as pure functions (Supabase's hosts cannot be
reached from here; the IPv6-only detection uses the real resolver on literal addresses and an
injected resolver for db.<ref>.supabase.co names)."""
import socket

import pytest

from sandstone_backup import config, pg, supabase
from sandstone_backup.errors import ConfigError, ConnectError
from sandstone_backup.supabase_conn import (check_for_dump, explain_failure, ipv6_only,
                                            project_ref, resolve_profile)

POOLER = "aws-0-eu-central-1.pooler.supabase.com"


@pytest.mark.parametrize("setting,host,expected", [
    (None, "db.abcdefghijklmnop.supabase.co", "supabase"),
    ("auto", POOLER, "supabase"),
    ("auto", "127.0.0.1", "plain"),
    ("auto", "supabase.company.internal", "plain"),
    ("plain", "db.abcdefghijklmnop.supabase.co", "plain"),
    ("supabase", "10.0.0.5", "supabase"),
])
def test_profile_follows_the_host_unless_set(setting, host, expected):
    assert resolve_profile(setting, host) == expected


def test_unknown_profile_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        resolve_profile("supa", "localhost")
    assert "auto, plain or supabase" in err.value.one_line()


def test_profile_is_a_config_key_with_auto_default():
    assert config.load(environ={})["PROFILE"] == "auto"
    assert config.load(environ={"PROFILE": "supabase"})["PROFILE"] == "supabase"
    with pytest.raises(ConfigError):
        config.load(environ={"PROFILE": "fancy"})


def test_transaction_pooler_is_refused_with_the_session_url():
    with pytest.raises(ConfigError) as err:
        check_for_dump(POOLER, "6543", "postgres.abcdefghijklmnop")
    text = err.value.one_line()
    assert "transaction mode" in text
    assert f"postgresql://postgres.abcdefghijklmnop:PASSWORD@{POOLER}:5432/postgres" in text
    assert "\n" not in text


@pytest.mark.parametrize("host,port", [(POOLER, "5432"), (POOLER, ""),
                                       ("db.abcdefghijklmnop.supabase.co", "6543"),
                                       ("127.0.0.1", "6543")])
def test_session_pooler_and_other_hosts_pass(host, port):
    check_for_dump(host, port, "postgres.abcdefghijklmnop")


def test_project_ref_from_direct_host_or_pooler_user():
    assert project_ref("db.abcdefghijklmnop.supabase.co", "postgres") == "abcdefghijklmnop"
    assert project_ref(POOLER, "postgres.qrstuvwxyz123456") == "qrstuvwxyz123456"
    assert project_ref(POOLER, "postgres") is None


def test_supabase_hosts_get_sslmode_require():
    settings = config.load(environ={})
    spec = pg.build_spec(settings, url="postgresql://postgres.abc@" + POOLER + ":5432/postgres")
    assert spec.params["sslmode"] == "require"
    spec = pg.build_spec(settings, url="postgresql://u@127.0.0.1:5432/db")
    assert "sslmode" not in spec.params


def test_ipv6_only_with_the_real_resolver():
    assert ipv6_only("::1") is True
    assert ipv6_only("127.0.0.1") is False
    assert ipv6_only("name.that.does.not.resolve.invalid") is False


def _resolver(*families):
    return lambda host, port: [(f, socket.SOCK_STREAM, 6, "", ("x", port)) for f in families]


def test_ipv6_only_direct_host_suggests_the_session_pooler():
    text = ('connection to server at "db.abcdefghijklmnop.supabase.co" (2a05:d014::1), port 5432 '
            'failed: Network is unreachable')
    err = explain_failure("db.abcdefghijklmnop.supabase.co", "5432", "postgres", text,
                          resolver=_resolver(socket.AF_INET6))
    assert isinstance(err, ConnectError)
    line = err.one_line()
    assert "only an IPv6 address" in line and "session pooler" in line
    assert "postgres.abcdefghijklmnop" in line and ":5432/postgres" in line


def test_dual_stack_or_other_errors_keep_the_general_message():
    unreachable = "failed: Network is unreachable"
    assert explain_failure("db.abcdefghijklmnop.supabase.co", "5432", "postgres", unreachable,
                           resolver=_resolver(socket.AF_INET, socket.AF_INET6)) is None
    assert explain_failure("db.abcdefghijklmnop.supabase.co", "5432", "postgres",
                           "password authentication failed",
                           resolver=_resolver(socket.AF_INET6)) is None
    assert explain_failure("10.1.2.3", "5432", "postgres", unreachable,
                           resolver=_resolver(socket.AF_INET6)) is None


def test_pooler_with_a_plain_user_names_the_pooler_user():
    err = explain_failure(POOLER, "5432", "postgres", "FATAL: Tenant or user not found")
    assert "postgres.PROJECT_REF" in err.one_line()


def test_roles_file_never_holds_superuser_passwords_or_parameter_grants():
    roles = [
        {"rolname": "reporting", "rolsuper": False, "rolinherit": True, "rolcreaterole": False,
         "rolcreatedb": False, "rolcanlogin": False, "rolreplication": False,
         "rolbypassrls": True, "rolconnlimit": -1, "rolvaliduntil": None,
         "rolconfig": ["statement_timeout=5s", "search_path=app, public"]},
        {"rolname": "old_admin", "rolsuper": True, "rolinherit": True, "rolcreaterole": True,
         "rolcreatedb": True, "rolcanlogin": True, "rolreplication": True,
         "rolbypassrls": True, "rolconnlimit": -1, "rolvaliduntil": None, "rolconfig": None},
    ]
    grants = [{"role": "reporting", "member": "authenticated", "admin": False}]
    statements = supabase.role_statements(roles, grants)
    text = supabase.roles_sql(statements).decode()
    for word in ("SUPERUSER", "PASSWORD '", "SET ON PARAMETER", 'ALTER ROLE "authenticated"',
                 'CREATE ROLE "old_admin"'):
        assert word not in text
    parsed = supabase.parse_roles_sql(text)
    assert [(s.kind, s.role) for s in parsed] == [
        ("create", "reporting"), ("attribute", "reporting"), ("setting", "reporting"),
        ("setting", "reporting"), ("membership", "reporting")]
    assert "ALTER ROLE \"reporting\" SET \"search_path\" TO 'app, public';" in text


@pytest.mark.parametrize("name,reserved", [("anon", True), ("supabase_auth_admin", True),
                                           ("authenticator", True), ("pg_monitor", True),
                                           ("postgres", True), ("reporting", False),
                                           ("app_worker", False)])
def test_reserved_roles(name, reserved):
    assert supabase.is_reserved_role(name) is reserved


@pytest.mark.parametrize("name,platform", [("auth", True), ("storage", True), ("pg_toast", True),
                                           ("_timescaledb_internal", True), ("vault", True),
                                           ("public", False), ("app", False)])
def test_platform_schemas(name, platform):
    assert supabase.is_platform_schema(name) is platform


def test_cli_refuses_the_transaction_pooler_before_connecting(tmp_path):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SUPABASE_", "SANDSTONE_"))}
    env.update(SUPABASE_DB_URL=f"postgresql://postgres.abcdefghijklmnop:pw@{POOLER}:6543/postgres",
               BACKUP_DIR=str(tmp_path / "storage"), LOG_DIR=str(tmp_path / "logs"))
    proc = subprocess.run([sys.executable, "-m", "sandstone_backup.cli", "full"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"postgres.abcdefghijklmnop:PASSWORD@{POOLER}:5432/postgres" in proc.stderr
    assert not (tmp_path / "storage" / "full").exists()
