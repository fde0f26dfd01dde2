"""Move a Supabase project: back up project A and restore it into a brand-new project B on
another server, both as the non-superuser ``postgres`` (tests/support/supabase_fixture.py).
App data, auth users, storage metadata, policies, RLS flags, the user's trigger on
auth.users and the realtime publication must come back identical, and nothing may fire twice."""
from __future__ import annotations

import gzip
import json
import os
import subprocess

import psycopg
import pytest
from psycopg import sql

from tests.conftest import CLI, ROOT, CliResult
from tests.support.supabase_fixture import USERS, snapshot

COMPARED = ["app.audit", "public.messages", "public.profiles", "public.todos", "auth.users",
            "auth.identities", "storage.buckets", "storage.objects"]


@pytest.fixture
def sb_cli(supabase_source, supabase_target, workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SUPABASE_", "SANDSTONE_"))}
    env.update(SUPABASE_DB_URL=supabase_source.url(), SANDSTONE_TARGET_URL=supabase_target.url(),
               BACKUP_DIR=str(workdir / "storage"), LOG_DIR=str(workdir / "logs"))

    def run(*args: str, check: bool = True, extra_env=None) -> CliResult:
        proc = subprocess.run(CLI + list(args), capture_output=True, text=True,
                              env=dict(env, **(extra_env or {})), timeout=600, cwd=str(ROOT))
        result = CliResult(proc)
        if check and result.code != 0:
            raise AssertionError(f"sandstone-backup {' '.join(args)} exited {result.code}:\n"
                                 f"{result.err}\n{result.out}")
        return result
    return run


def checksums(project, tables=COMPARED):
    out = {}
    with project.superuser() as conn:
        for name in tables:
            schema, table = name.split(".")
            out[name] = conn.execute(sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "
                "FROM {} t").format(sql.Identifier(schema, table))).fetchone()
    return out


def test_project_moves_to_a_fresh_project_as_non_superuser(sb_cli, supabase_source,
                                                           supabase_target, workdir):
    for project in (supabase_source, supabase_target):
        with project.connect_as_postgres() as conn:
            assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                                ).fetchone() == (False,)
    before = checksums(supabase_source)

    backup = sb_cli("full", "--profile", "supabase", "--json").json()
    folder = workdir / "storage" / "full" / backup["backup_id"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["profile"] == "supabase" and manifest["type"] == "full"
    assert {f["extra"]["part"] for f in manifest["files"]} == {"roles", "schema", "data", "platform"}
    counts = {f"{t['schema']}.{t['name']}": t["rows"] for t in manifest["tables"]}
    assert counts == {name: before[name][0] for name in COMPARED}
    assert len(manifest["options"]["supabase"]["policies"]) == 7

    roles_sql = gzip.decompress((folder / "roles.sql.gz").read_bytes()).decode()
    assert 'CREATE ROLE "reporting"' in roles_sql and 'CREATE ROLE "app_worker"' in roles_sql
    for forbidden in ("PASSWORD '", "SUPERUSER", "SET ON PARAMETER", 'ROLE "postgres"',
                      'ROLE "anon"', 'ROLE "supabase_admin"', '"sandstone"'):
        assert forbidden not in roles_sql
    listing = subprocess.run(
        ["pg_restore", "-l"], input=gzip.decompress((folder / "schema.dump.gz").read_bytes()),
        capture_output=True, check=True).stdout.decode()
    assert "TABLE public todos" in listing and "TABLE app audit" in listing
    assert " auth " not in listing and " storage " not in listing and " extensions " not in listing

    restored = sb_cli("restore", "full", backup["backup_id"], "--json").json()
    assert restored["steps"] == ["roles", "schema", "data", "verify"]
    assert sorted(restored["roles"]["created"]) == ["app_worker", "reporting"]
    assert all(t["restored"] == t["expected"] for t in restored["tables"])

    # app data, auth users and identities, storage metadata: row for row
    assert checksums(supabase_target) == before
    facts_a, facts_b = snapshot(supabase_source), snapshot(supabase_target)
    for name in facts_a:
        assert facts_b[name] == facts_a[name], name
    assert ("anon", "SELECT") not in facts_b["acl_todos"]  # the user's REVOKE stayed revoked
    assert ("auth.users", "on_auth_user_created") in {r[:2] for r in facts_b["user_triggers"]}
    assert facts_b["publication"] == [("public", "messages"), ("public", "todos")]
    assert ("public", "todos_id_seq", 120) in facts_b["sequences"]
    assert len(facts_b["roles"]) == 2 and facts_b["roles"][0][4] == ["statement_timeout=5s"]

    with supabase_target.superuser() as conn:
        # handle_new_user did not fire during the load: one profile per user, no more
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM public.profiles").fetchone() \
            == (len(USERS), len(USERS))
        # the target keeps its own JWT secret
        assert conn.execute("SELECT current_setting('app.settings.jwt_secret')").fetchone()[0] \
            == supabase_target.jwt_secret != supabase_source.jwt_secret

    ada, grace = USERS[0][0], USERS[1][0]
    with supabase_target.connect_as_postgres() as conn:
        # RLS with auth.uid() really filters in B
        def visible(claims):
            with conn.transaction():
                conn.execute("SET LOCAL ROLE authenticated")
                if claims:
                    conn.execute("SELECT set_config('request.jwt.claims', %s, true)",
                                 (json.dumps(claims),))
                return conn.execute("SELECT count(*), count(DISTINCT user_id) FROM public.todos"
                                    ).fetchone()
        assert visible({"sub": ada, "role": "authenticated"}) == (40, 1)
        assert visible({"sub": grace, "role": "authenticated"}) == (40, 1)
        assert visible(None) == (0, 0)
        # and the user's trigger is live again after the replica-mode load
        conn.execute("INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES "
                     "('3f4a5b6c-7d8e-4f90-a1b2-c3d4e5f6a7b8', 'new@example.com', "
                     "'{\"full_name\": \"New User\"}')")
        assert conn.execute("SELECT full_name FROM public.profiles WHERE id = "
                            "'3f4a5b6c-7d8e-4f90-a1b2-c3d4e5f6a7b8'").fetchone() == ("New User",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="Storage API"):
            conn.execute("DELETE FROM storage.objects")


def test_non_empty_target_is_refused_and_unchanged_then_force_replaces(
        sb_cli, supabase_source, supabase_target):
    backup = sb_cli("full", "--profile", "supabase", "--json").json()
    with supabase_target.connect_as_postgres() as conn:  # B already has a user signed up
        conn.execute("INSERT INTO auth.users (id, email) VALUES "
                     "('9a9a9a9a-0000-4000-8000-000000000001', 'early@example.com')")
    before = checksums(supabase_target, ["auth.users", "storage.objects"])
    facts_before = snapshot(supabase_target)

    supabase_target.server.create_database("plain")  # not a project: no auth schema
    plain = sb_cli("restore", "full", backup["backup_id"], "--target-db", "plain", check=False)
    assert plain.code == 2 and "is not a Supabase project" in plain.err

    plan = sb_cli("restore", "full", backup["backup_id"], "--force", "--dry-run", "--json").json()
    assert plan["dry_run"] is True and plan["plan"]["overwrite"] is True

    refused = sb_cli("restore", "full", backup["backup_id"], check=False)
    assert refused.code == 1
    assert "is not empty (1 rows in auth.users)" in refused.err and "--force" in refused.err
    assert checksums(supabase_target, ["auth.users", "storage.objects"]) == before
    assert snapshot(supabase_target) == facts_before  # not even the roles were created
    with supabase_target.superuser() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname IN "
                            "('reporting', 'app_worker')").fetchone() == (0,)

    sb_cli("restore", "full", backup["backup_id"], "--force", "--json")
    assert checksums(supabase_target) == checksums(supabase_source)
    # a second forced run over the restored project converges to the same state
    again = sb_cli("restore", "full", backup["backup_id"], "--force", "--json").json()
    assert sorted(again["roles"]["existing"]) == ["app_worker", "reporting"]
    assert checksums(supabase_target) == checksums(supabase_source)
    assert snapshot(supabase_target) == snapshot(supabase_source)


def test_failed_data_step_says_what_committed(sb_cli, supabase_source, supabase_target):
    backup = sb_cli("full", "--profile", "supabase", "--json").json()
    with supabase_target.superuser() as conn:  # B's platform rejects one of A's buckets
        conn.execute("ALTER TABLE storage.buckets ADD CONSTRAINT no_private CHECK (id <> 'private')")
    failed = sb_cli("restore", "full", backup["backup_id"], check=False)
    assert failed.code == 1
    assert "schema steps committed" in failed.err and "data step rolled back" in failed.err
    with supabase_target.superuser() as conn:
        assert conn.execute("SELECT count(*) FROM public.todos").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM auth.users").fetchone() == (0,)


def test_modules_move_a_project_and_refuse_a_plain_dump(tmp_path, supabase_source, supabase_target):
    from tests.support.ansible_run import run_playbook, task_results
    storage = tmp_path / "storage"
    playbook = f"""
- hosts: localhost
  gather_facts: false
  vars:
    conn: &conn
      db_url: "{supabase_source.url()}"
      backup_dir: "{storage}"
  tasks:
    - name: plan
      sandstone.backup.pg_backup: {{<<: *conn, profile: supabase}}
      check_mode: true
    - name: backup
      sandstone.backup.pg_backup: {{<<: *conn, profile: supabase}}
    - name: restore
      sandstone.backup.pg_restore_pit:
        <<: *conn
        backup: "{{{{ backup.backup_id | default('latest') }}}}"
        target_url: "{supabase_target.url()}"
    - name: plain backup
      sandstone.backup.pg_backup: {{<<: *conn, profile: plain}}
    - name: plain into supabase
      sandstone.backup.pg_restore_pit:
        <<: *conn
        backup: latest
        profile: supabase
        target_url: "{supabase_target.url()}"
        force: true
      ignore_errors: true
"""
    data = run_playbook(tmp_path, playbook)
    results = task_results(data)
    plan = results["plan"]
    assert plan["dry_run"] is True and plan["profile"] == "supabase"
    assert plan["user_schemas"] == ["app", "public"] and sorted(plan["roles"]) == ["app_worker", "reporting"]
    assert results["backup"]["profile"] == "supabase"
    assert results["restore"]["steps"] == ["roles", "schema", "data", "verify"]
    assert checksums(supabase_target) == checksums(supabase_source)
    refused = results["plain into supabase"]
    assert refused["failed"] and "a plain dump does not restore into a Supabase project" in refused["msg"]
    assert "pg-Pa55" not in data["_raw"]


def test_superuser_made_source_owner_refused_and_event_trigger_reported(sb_cli, supabase_source,
                                                               supabase_target):
    with supabase_source.superuser() as conn:  # made by a superuser: reporting may not own here
        conn.execute("REVOKE CREATE ON SCHEMA app FROM reporting")
        conn.execute("CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql "
                     "AS $$ BEGIN END $$")
        conn.execute("CREATE EVENT TRIGGER log_ddl ON ddl_command_end "
                     "EXECUTE FUNCTION public.log_ddl()")
    backup = sb_cli("full", "--profile", "supabase", "--json").json()
    assert any("event trigger log_ddl is not in the backup" in w for w in backup["warnings"])
    result = sb_cli("restore", "full", backup["backup_id"], check=False)
    assert result.code == 4
    assert "differs from the backup: owners differs" in result.err
    assert '"app.open_count(uuid)", "reporting"' in result.err and "committed" in result.err
    with supabase_target.superuser() as conn:  # everything else is there
        assert conn.execute("SELECT count(*) FROM public.todos").fetchone() == (120,)
        assert conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class "
                            "WHERE oid = 'app.open_todos'::regclass").fetchone() == ("postgres",)


def test_encrypted_project_backup_verifies_and_moves(sb_cli, supabase_source, supabase_target,
                                                     workdir):
    """The profile's four files go through the same encrypting pipeline: nothing readable
    is stored, verify decrypts every file, and the project restores identical."""
    import base64
    key = {"ENCRYPT": "true", "ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode()}
    backup = sb_cli("full", "--profile", "supabase", "--json", extra_env=key).json()
    folder = workdir / "storage" / "full" / backup["backup_id"]
    stored = [p for p in folder.iterdir() if p.name != "manifest.json"]
    assert len(stored) == 4
    assert all(p.read_bytes().startswith(b"SANDENC\0") and p.name.endswith(".enc") for p in stored)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["encryption"]["key_id"] and all(f["encryption"] for f in manifest["files"])

    verified = sb_cli("verify", "--json", extra_env=key).json()
    assert verified["checked"] == 1 and not verified["failures"]
    assert sb_cli("verify", check=False).code != 0  # without the key nothing passes silently

    sb_cli("restore", "full", backup["backup_id"], "--json", extra_env=key)
    assert checksums(supabase_target) == checksums(supabase_source)
