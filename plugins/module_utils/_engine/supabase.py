"""What makes a Supabase database different from a plain PostgreSQL, as facts read from the
catalog: which schemas and roles belong to the platform, which are the user's, and the user's
own objects that live ON platform tables (triggers on auth.users, policies on
storage.objects, membership of the supabase_realtime publication).

The lists follow the Supabase CLI's (pkg/migration/dump.go: InternalSchemas, reservedRoles)
and supautils.conf (reserved_roles). Shared by supabase_backup and supabase_restore."""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

import psycopg
from psycopg import sql

from .catalog import TableRef

PLATFORM_SCHEMAS = (
    "information_schema", "pg_*",
    # created by the supabase/postgres image and its services
    "_analytics", "_realtime", "_supavisor", "auth", "etl", "extensions", "pgbouncer",
    "realtime", "storage", "supabase_functions", "supabase_migrations",
    # owned by extensions Supabase installs
    "cron", "dbdev", "graphql", "graphql_public", "net", "pgmq", "pgsodium", "pgsodium_masks",
    "pgtle", "repack", "tiger", "tiger_data", "timescaledb_*", "_timescaledb_*", "topology", "vault",
)
RESERVED_ROLES = (
    "anon", "authenticated", "authenticator", "cli_login_*", "dashboard_user", "pgbouncer",
    "postgres", "service_role", "supabase_*", "pgsodium_keyholder", "pgsodium_keyiduser",
    "pgsodium_keymaker", "pgtle_admin", "pg_*",
)
# Platform tables whose rows are the user's: accounts and Storage's metadata (the files
# themselves live in object storage, not in the database).
PLATFORM_DATA_TABLES = (TableRef("auth", "users"), TableRef("auth", "identities"),
                        TableRef("storage", "buckets"), TableRef("storage", "objects"))
REALTIME_PUBLICATION = "supabase_realtime"
# Role attributes a non-superuser may give (CREATEROLE suffices); the others are tried one
# by one and reported when refused.
SAFE_ATTRIBUTES = (("rolcanlogin", "LOGIN", "NOLOGIN"), ("rolinherit", "INHERIT", "NOINHERIT"),
                   ("rolcreatedb", "CREATEDB", "NOCREATEDB"),
                   ("rolcreaterole", "CREATEROLE", "NOCREATEROLE"))
PRIVILEGED_ATTRIBUTES = (("rolreplication", "REPLICATION"), ("rolbypassrls", "BYPASSRLS"))


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_platform_schema(name: str) -> bool:
    return _matches(name, PLATFORM_SCHEMAS)


def is_reserved_role(name: str) -> bool:
    return _matches(name, RESERVED_ROLES)


def q(ident: str) -> str:
    """A quoted identifier for generated SQL files (no connection needed)."""
    return '"' + ident.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def catalog_session(conn: psycopg.Connection) -> None:
    """Print every name schema-qualified (pg_get_expr, regclass) so that facts read from
    two databases compare equal whatever their search_path."""
    conn.execute("SET LOCAL search_path = pg_catalog" if not conn.autocommit
                 else "SET search_path = pg_catalog")


def user_schemas(conn: psycopg.Connection) -> List[str]:
    """Schemas that are the user's: not the platform's, not an extension's."""
    rows = conn.execute("""
        SELECT n.nspname FROM pg_namespace n
        WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                          AND d.objid = n.oid AND d.deptype = 'e')
        ORDER BY 1""").fetchall()
    return [r[0] for r in rows if not is_platform_schema(r[0])]


def existing_platform_tables(conn: psycopg.Connection) -> List[TableRef]:
    found = []
    for ref in PLATFORM_DATA_TABLES:
        row = conn.execute("SELECT to_regclass(%s)", (f"{q(ref.schema)}.{q(ref.name)}",)).fetchone()
        if row[0] is not None:
            found.append(ref)
    return found


def user_tables(conn: psycopg.Connection, schemas: List[str]) -> List[TableRef]:
    """Leaf tables of the user's schemas whose rows pg_dump writes (not extension members)."""
    rows = conn.execute("""
        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2""", (schemas,)).fetchall()
    return [TableRef(r[0], r[1]) for r in rows]


# --- roles -------------------------------------------------------------------------------

@dataclass
class RoleStatement:
    """One statement of roles.sql; ``role`` is the custom role it creates or changes."""

    role: str
    sql: str
    kind: str  # create | attribute | setting | membership


def custom_roles(conn: psycopg.Connection) -> List[Dict[str, Any]]:
    """Roles the user created: not reserved by the platform, not the bootstrap superuser.
    pg_roles shows no passwords, so none can leak into the backup."""
    rows = conn.execute("""
        SELECT oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
               rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text, rolconfig
        FROM pg_roles WHERE oid <> 10 ORDER BY rolname""").fetchall()
    keys = ("oid", "rolname", "rolsuper", "rolinherit", "rolcreaterole", "rolcreatedb",
            "rolcanlogin", "rolreplication", "rolbypassrls", "rolconnlimit", "rolvaliduntil",
            "rolconfig")
    return [dict(zip(keys, r)) for r in rows if not is_reserved_role(r[1])]


def memberships(conn: psycopg.Connection, roles: List[str]) -> List[Dict[str, Any]]:
    """Grants where the granted role or the member is a custom role."""
    rows = conn.execute("""
        SELECT r.rolname, m.rolname, a.admin_option FROM pg_auth_members a
        JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
        WHERE (r.rolname = ANY(%s) OR m.rolname = ANY(%s)) AND m.oid <> 10
        ORDER BY 1, 2""", (roles, roles)).fetchall()
    return [{"role": r[0], "member": r[1], "admin": r[2]} for r in rows]


def role_statements(roles: List[Dict[str, Any]], grants: List[Dict[str, Any]]
                    ) -> List[RoleStatement]:
    """CREATE ROLE / ALTER ROLE / GRANT statements a non-superuser can run: never SUPERUSER
    lines, never passwords, never ALTER ROLE on platform roles, never GRANT SET ON PARAMETER."""
    out: List[RoleStatement] = []
    for role in roles:
        name = role["rolname"]
        if role["rolsuper"]:
            out.append(RoleStatement(name, f"-- {q(name)} is a superuser in the source; a "
                                     f"Supabase project cannot create superusers", "skipped"))
            continue
        attrs = [on if role[col] else off for col, on, off in SAFE_ATTRIBUTES]
        if role["rolconnlimit"] is not None and role["rolconnlimit"] >= 0:
            attrs.append(f"CONNECTION LIMIT {int(role['rolconnlimit'])}")
        if role["rolvaliduntil"]:
            attrs.append(f"VALID UNTIL {lit(role['rolvaliduntil'])}")
        out.append(RoleStatement(name, f"CREATE ROLE {q(name)} WITH {' '.join(attrs)};", "create"))
        for col, word in PRIVILEGED_ATTRIBUTES:
            if role[col]:
                out.append(RoleStatement(name, f"ALTER ROLE {q(name)} WITH {word};", "attribute"))
        for setting in role["rolconfig"] or []:
            key, _eq, value = setting.partition("=")
            out.append(RoleStatement(name, f"ALTER ROLE {q(name)} SET {q(key)} TO {lit(value)};",
                                     "setting"))
    for grant in grants:
        admin = " WITH ADMIN OPTION" if grant["admin"] else ""
        subject = grant["role"] if not is_reserved_role(grant["role"]) else grant["member"]
        out.append(RoleStatement(subject, f"GRANT {q(grant['role'])} TO {q(grant['member'])}"
                                 f"{admin};", "membership"))
    return out


def roles_sql(statements: List[RoleStatement]) -> bytes:
    lines = ["-- Custom roles of a Supabase project (sandstone-backup, profile supabase).",
             "-- No passwords: set them again after a restore (ALTER ROLE ... PASSWORD).",
             "-- One statement per line; the restore runs each alone and reports the refused."]
    lines += [s.sql for s in statements]
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse_roles_sql(text: str) -> List[RoleStatement]:
    """Read roles.sql back: one statement per line, in the order written."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        kind, role = _statement_kind(line)
        out.append(RoleStatement(role, line, kind))
    return out


def _statement_kind(line: str):
    words = line.split(None, 3)
    if line.startswith("CREATE ROLE "):
        return "create", _ident_at(line, len("CREATE ROLE "))
    if line.startswith("ALTER ROLE "):
        role = _ident_at(line, len("ALTER ROLE "))
        return ("setting" if " SET " in line else "attribute"), role
    if line.startswith("GRANT "):
        return "membership", _ident_at(line, len("GRANT "))
    return words[0].lower(), ""


def _ident_at(line: str, pos: int) -> str:
    """The double-quoted identifier starting at ``pos``."""
    if line[pos] != '"':
        return line[pos:].split()[0]
    out, i = "", pos + 1
    while i < len(line):
        if line[i] == '"':
            if i + 1 < len(line) and line[i + 1] == '"':
                out += '"'
                i += 2
                continue
            break
        out += line[i]
        i += 1
    return out


# --- the user's objects on platform tables -----------------------------------------------

def platform_triggers(conn: psycopg.Connection, schemas: List[str]) -> List[Dict[str, str]]:
    """Triggers on platform tables that call a function of the user's (handle_new_user on
    auth.users is the classic); the platform's own call functions in its own schemas."""
    rows = conn.execute("""
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               t.tgfoid::regprocedure::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
        WHERE NOT t.tgisinternal AND NOT (n.nspname = ANY(%s)) AND pn.nspname = ANY(%s)
        ORDER BY 1, 2, 3""", (schemas, schemas)).fetchall()
    return [{"schema": r[0], "table": r[1], "name": r[2], "definition": r[3], "enabled": r[4],
             "function": r[5]} for r in rows if is_platform_schema(r[0])]


def platform_policies(conn: psycopg.Connection) -> List[Dict[str, Any]]:
    """Policies on platform tables: a fresh project has none, so all of them are the user's
    (storage.objects policies for buckets are the classic)."""
    rows = conn.execute("""
        SELECT n.nspname, c.relname, p.polname, p.polpermissive,
               CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
               ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r))
                            END FROM unnest(p.polroles) r ORDER BY 1),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1, 2, 3""").fetchall()
    return [{"schema": r[0], "table": r[1], "name": r[2], "permissive": r[3], "cmd": r[4],
             "roles": list(r[5]), "using": r[6], "check": r[7]}
            for r in rows if is_platform_schema(r[0])]


def user_event_triggers(conn: psycopg.Connection, schemas: List[str]) -> List[str]:
    """Event triggers calling the user's functions: only a superuser may create one, so a
    project's postgres cannot restore them (the platform's own live in platform schemas)."""
    rows = conn.execute("""
        SELECT e.evtname FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s) ORDER BY 1""",
                        (schemas,)).fetchall()
    return [r[0] for r in rows]


def publication_tables(conn: psycopg.Connection) -> List[Dict[str, str]]:
    rows = conn.execute("SELECT schemaname, tablename FROM pg_publication_tables "
                        "WHERE pubname = %s ORDER BY 1, 2", (REALTIME_PUBLICATION,)).fetchall()
    return [{"schema": r[0], "table": r[1]} for r in rows]


def platform_sql(triggers, policies, members) -> bytes:
    """The user's objects on platform tables as SQL that runs in the schema transaction.
    Each drops a same-named object first, so a retried restore does not fail on it."""
    lines = ["-- The user's own objects on Supabase platform tables (sandstone-backup).",
             "-- pg_dump of the user's schemas leaves these out; the documented migration",
             "-- loses them."]
    for t in triggers:
        # Only the table's owner may drop a trigger (TRIGGER privilege allows creating one):
        # on Supabase 'postgres' can add triggers to auth.users but never drop them.
        table = f"{q(t['schema'])}.{q(t['table'])}"
        create = t["definition"]
        if t["enabled"] == "D":
            create += f"; ALTER TABLE {table} DISABLE TRIGGER {q(t['name'])}"
        lines.append(
            "DO $sandstone$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = "
            f"{lit(table)}::regclass AND tgname = {lit(t['name'])}) THEN {create}; END IF; "
            "END $sandstone$;")
    for p in policies:
        table = f"{q(p['schema'])}.{q(p['table'])}"
        text = (f"CREATE POLICY {q(p['name'])} ON {table} AS "
                f"{'PERMISSIVE' if p['permissive'] else 'RESTRICTIVE'} FOR {p['cmd']} "
                f"TO {', '.join(p['roles'])}")
        if p["using"] is not None:
            text += f" USING ({p['using']})"
        if p["check"] is not None:
            text += f" WITH CHECK ({p['check']})"
        lines.append(f"DROP POLICY IF EXISTS {q(p['name'])} ON {table};")
        lines.append(text + ";")
    lines.append(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = "
        f"{lit(REALTIME_PUBLICATION)}) THEN CREATE PUBLICATION {q(REALTIME_PUBLICATION)}; "
        "END IF; END $$;")
    for m in members:
        lines.append(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = "
            f"{lit(REALTIME_PUBLICATION)} AND schemaname = {lit(m['schema'])} AND tablename = "
            f"{lit(m['table'])}) THEN ALTER PUBLICATION {q(REALTIME_PUBLICATION)} ADD TABLE ONLY "
            f"{q(m['schema'])}.{q(m['table'])}; END IF; END $$;")
    return ("\n".join(lines) + "\n").encode("utf-8")


def drop_platform_objects_sql(policies) -> List[str]:
    """Run before a forced schema restore: the user's policies on platform tables may call
    user functions that --clean drops. (Triggers cannot be dropped by a non-owner; their
    functions are replaced in place instead, see keep_trigger_functions.)"""
    return [f"DROP POLICY IF EXISTS {q(p['name'])} ON {q(p['schema'])}.{q(p['table'])};"
            for p in policies]


def keep_trigger_functions(script: str, triggers) -> str:
    """In a --clean restore script, replace the functions that triggers on platform tables
    call instead of dropping them: the trigger depends on its function, and only the
    platform table's owner could drop the trigger."""
    for fn in {t["function"] for t in triggers if t.get("function")}:
        script = script.replace(f"DROP FUNCTION IF EXISTS {fn};\n", "")
        script = script.replace(f"CREATE FUNCTION {fn} ", f"CREATE OR REPLACE FUNCTION {fn} ")
    return script


# --- facts the restore is verified against -----------------------------------------------

def rls_flags(conn: psycopg.Connection, schemas: List[str]) -> List[Dict[str, Any]]:
    names = schemas + sorted({t.schema for t in PLATFORM_DATA_TABLES})
    rows = conn.execute("""
        SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) ORDER BY 1, 2""", (names,)).fetchall()
    platform = {(t.schema, t.name) for t in PLATFORM_DATA_TABLES}
    return [{"schema": r[0], "table": r[1], "rls": r[2], "force": r[3]} for r in rows
            if r[0] in schemas or (r[0], r[1]) in platform]


def policies(conn: psycopg.Connection, schemas: List[str]) -> List[Dict[str, Any]]:
    """pg_policies of the user's schemas and the platform tables, names schema-qualified."""
    names = schemas + sorted({t.schema for t in PLATFORM_DATA_TABLES})
    rows = conn.execute("""
        SELECT schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check
        FROM pg_policies WHERE schemaname = ANY(%s) ORDER BY 1, 2, 3""", (names,)).fetchall()
    return [{"schema": r[0], "table": r[1], "policy": r[2], "permissive": r[3],
             "roles": sorted(r[4]), "cmd": r[5], "qual": r[6], "with_check": r[7]} for r in rows]


def acls(conn: psycopg.Connection, schemas: List[str]) -> Dict[str, List[List[str]]]:
    """Privileges on the user's relations and functions, as (grantee, privilege) pairs.
    Supabase's default privileges grant anon, authenticated and service_role everything on
    new objects, so a grant the user revoked comes back unless it is revoked again."""
    rows = conn.execute("""
        SELECT 'rel:' || c.oid::regclass::text,
               ARRAY(SELECT ARRAY[CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_get_userbyid(a.grantee) END, a.privilege_type]
                     FROM aclexplode(coalesce(c.relacl, acldefault(
                         (CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a
                     WHERE a.grantee <> c.relowner ORDER BY 1)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname = ANY(%(s)s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
        UNION ALL
        SELECT 'func:' || p.oid::regprocedure::text,
               ARRAY(SELECT ARRAY[CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                       ELSE pg_get_userbyid(a.grantee) END, a.privilege_type]
                     FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                     WHERE a.grantee <> p.proowner ORDER BY 1)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(s)s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1""", {"s": schemas}).fetchall()
    return {r[0]: [list(pair) for pair in r[1]] for r in rows}


def owners(conn: psycopg.Connection, schemas: List[str]) -> List[List[str]]:
    """[kind, name, owner] of the user's schemas, relations and routines. A non-superuser
    restore creates everything as itself; these put the owners back. Sequences owned by a
    table follow the table and are left out."""
    rows = conn.execute("""
        SELECT 'SCHEMA', quote_ident(n.nspname), pg_get_userbyid(n.nspowner)
        FROM pg_namespace n WHERE n.nspname = ANY(%(s)s) AND n.nspname <> 'public'
        UNION ALL
        SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                              ELSE 'TABLE' END, c.oid::regclass::text, pg_get_userbyid(c.relowner)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname = ANY(%(s)s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND (d.deptype = 'e' OR (c.relkind = 'S'
                          AND d.deptype IN ('a', 'i') AND d.refclassid = 'pg_class'::regclass)))
        UNION ALL
        SELECT 'ROUTINE', p.oid::regprocedure::text, pg_get_userbyid(p.proowner)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(s)s) AND p.prokind <> 'a'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1, 2""", {"s": schemas}).fetchall()
    return [list(r) for r in rows]


def set_owners_sql(wanted: List[List[str]]) -> str:
    """A DO block for the schema transaction: give each object back to its owner. A
    non-superuser may do that only as a member of the new owner, so membership is granted
    for the moment (CREATEROLE allows it) and revoked again."""
    # names cannot end the dollar quotes (a name that tries is then reported as a difference)
    payload = json.dumps(wanted).replace("$own$", "").replace("$sandstone$", "")
    return f"""DO $sandstone$
DECLARE
    item jsonb; new_owner text; granted boolean;
BEGIN
    SET LOCAL search_path = pg_catalog;
    FOR item IN SELECT * FROM jsonb_array_elements($own${payload}$own$::jsonb) LOOP
        new_owner := item ->> 2;
        CONTINUE WHEN new_owner = current_user;
        -- a refused change is reported by the verification afterwards, not fatal here;
        -- the block is a subtransaction: a failed ALTER takes its GRANT back with it
        BEGIN
            granted := false;
            IF NOT pg_has_role(current_user, new_owner, 'MEMBER') THEN
                EXECUTE format('GRANT %I TO %I', new_owner, current_user);
                granted := true;
            END IF;
            EXECUTE format('ALTER %s %s OWNER TO %I', item ->> 0, item ->> 1, new_owner);
            IF granted THEN
                EXECUTE format('REVOKE %I FROM %I', new_owner, current_user);
            END IF;
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
            RAISE WARNING 'sandstone: % % stays owned by %: %', item ->> 0, item ->> 1,
                current_user, SQLERRM;
        END;
    END LOOP;
END $sandstone$;
"""


def extensions(conn: psycopg.Connection) -> List[Dict[str, str]]:
    rows = conn.execute("SELECT e.extname, n.nspname, e.extversion FROM pg_extension e "
                        "JOIN pg_namespace n ON n.oid = e.extnamespace "
                        "WHERE e.extname <> 'plpgsql' ORDER BY 1").fetchall()
    return [{"name": r[0], "schema": r[1], "version": r[2]} for r in rows]


def revoke_extra_privileges_sql(source_acls: Dict[str, List[List[str]]]) -> str:
    """A DO block for the schema transaction: revoke what the target's default privileges
    added that the source did not have (and grant what is missing)."""
    payload = json.dumps(source_acls, sort_keys=True).replace("$acl$", "").replace(
        "$sandstone$", "")
    return f"""DO $sandstone$
DECLARE
    wanted jsonb := $acl${payload}$acl$::jsonb;
    obj text; kind text; ident text; have text[][]; pair text[]; want text[];
BEGIN
    SET LOCAL search_path = pg_catalog;
    FOR obj IN SELECT jsonb_object_keys(wanted) LOOP
        kind := split_part(obj, ':', 1);
        ident := substr(obj, length(kind) + 2);
        want := ARRAY(SELECT (e ->> 0) || '/' || (e ->> 1) FROM jsonb_array_elements(wanted -> obj) e);
        FOR pair IN
            SELECT ARRAY[CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
                         a.privilege_type]
            FROM (SELECT CASE WHEN kind = 'rel' THEN (SELECT coalesce(relacl, acldefault(
                        (CASE WHEN relkind = 'S' THEN 's' ELSE 'r' END)::"char", relowner)) FROM pg_class
                        WHERE oid = ident::regclass)
                     ELSE (SELECT coalesce(proacl, acldefault('f', proowner)) FROM pg_proc
                        WHERE oid = ident::regprocedure) END AS acl,
                         CASE WHEN kind = 'rel' THEN (SELECT relowner FROM pg_class WHERE oid = ident::regclass)
                     ELSE (SELECT proowner FROM pg_proc WHERE oid = ident::regprocedure) END AS owner) o,
                 aclexplode(o.acl) a
            WHERE a.grantee <> o.owner
        LOOP
            IF NOT (pair[1] || '/' || pair[2]) = ANY(want) THEN
                EXECUTE format('REVOKE %s ON %s %s FROM %s', pair[2],
                    CASE WHEN kind = 'rel' THEN 'TABLE' ELSE 'FUNCTION' END, ident,
                    CASE WHEN pair[1] = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(pair[1]) END);
            END IF;
        END LOOP;
    END LOOP;
END $sandstone$;
"""


def target_summary(conn: psycopg.Connection) -> Dict[str, Any]:
    """Is this a Supabase project, and does it already hold the user's things?"""
    has_auth = conn.execute("SELECT to_regclass('auth.users') IS NOT NULL").fetchone()[0]
    schemas = user_schemas(conn)
    objects = conn.execute("""
        SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')""", (schemas,)).fetchone()[0]
    rows = {}
    for ref in existing_platform_tables(conn):
        rows[ref.qualified] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            ref.ident())).fetchone()[0]
    return {"supabase": bool(has_auth), "user_schemas": schemas, "objects": objects,
            "platform_rows": rows}


def facts(conn: psycopg.Connection, schemas: Optional[List[str]] = None) -> Dict[str, Any]:
    """Everything the restore is checked against, read in one session."""
    schemas = user_schemas(conn) if schemas is None else schemas
    return {"user_schemas": schemas, "policies": policies(conn, schemas),
            "rls": rls_flags(conn, schemas), "acl": acls(conn, schemas),
            "platform_triggers": platform_triggers(conn, schemas),
            "platform_policies": platform_policies(conn),
            "realtime_tables": publication_tables(conn), "extensions": extensions(conn),
            "event_triggers": user_event_triggers(conn, schemas),
            "owners": owners(conn, schemas)}
