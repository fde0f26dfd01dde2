"""A local PostgreSQL made to look like a Supabase project, modelled on supabase/postgres
(migrations/db/init-scripts, the demote-postgres and grant migrations, supautils.conf.j2) and
the GoTrue and storage-api migrations' core tables. Not a copy: only what a backup and a
restore touch.

What a real project has and this look-alike stands in for:
- ``postgres`` is NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS, member of anon,
  authenticated, service_role, pg_read_all_data, pg_monitor, pg_signal_backend.
- supautils' ``privileged_role_allowed_configs`` lets ``postgres`` SET session_replication_role;
  here that is ``GRANT SET ON PARAMETER session_replication_role TO postgres`` (PostgreSQL 15+).
- supautils' ``policy_grants`` lets ``postgres`` create policies on storage.objects without
  owning it. Plain PostgreSQL demands ownership for CREATE POLICY, so here ``postgres`` is a
  member of ``supabase_storage_admin`` (as every project had from 2022 to 2024, migration
  20220609081115). It is NOT a member of ``supabase_auth_admin``: auth tables stay foreign.
- ``supabase_admin`` is the superuser that owns the platform schemas.

Roles are cluster-wide, so each project that must start clean gets its own server
(``supabase_target``); the source projects share one server, a database each.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Dict, List

import pytest

from tests.support.pgserver import PgServer

POSTGRES_PASSWORD = "pg-Pa55:word"

CLUSTER_SQL = f"""
CREATE ROLE supabase_admin SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS LOGIN;
CREATE ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS
    PASSWORD '{POSTGRES_PASSWORD}';
CREATE ROLE supabase_replication_admin LOGIN REPLICATION;
CREATE ROLE supabase_read_only_user LOGIN BYPASSRLS;
GRANT pg_read_all_data TO supabase_read_only_user;
CREATE ROLE anon NOLOGIN INHERIT;
CREATE ROLE authenticated NOLOGIN INHERIT;
CREATE ROLE service_role NOLOGIN INHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
CREATE ROLE dashboard_user NOSUPERUSER CREATEDB CREATEROLE REPLICATION;
GRANT anon, authenticated, service_role TO postgres;
GRANT pg_read_all_data, pg_signal_backend, pg_monitor TO postgres;
GRANT supabase_storage_admin TO postgres;
GRANT SET ON PARAMETER session_replication_role TO postgres;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
"""

# Run as supabase_admin inside the project's database.
PLATFORM_SQL = """
CREATE PUBLICATION supabase_realtime;
ALTER PUBLICATION supabase_realtime OWNER TO postgres;

CREATE SCHEMA extensions;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO postgres, anon, authenticated, service_role;
GRANT ALL ON SCHEMA extensions TO postgres;
GRANT USAGE ON SCHEMA public TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES
    TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS
    TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES
    TO anon, authenticated, service_role;
CREATE SCHEMA realtime;
CREATE TABLE realtime.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp);
CREATE SCHEMA graphql_public;

-- auth (GoTrue): owned by supabase_auth_admin, postgres gets ALL on the tables, never owns them
CREATE SCHEMA auth AUTHORIZATION supabase_admin;
CREATE TABLE auth.users (
    instance_id uuid, id uuid NOT NULL PRIMARY KEY, aud varchar(255), role varchar(255),
    email varchar(255), encrypted_password varchar(255), email_confirmed_at timestamptz,
    invited_at timestamptz, confirmation_token varchar(255), recovery_token varchar(255),
    last_sign_in_at timestamptz, raw_app_meta_data jsonb, raw_user_meta_data jsonb,
    is_super_admin boolean, created_at timestamptz, updated_at timestamptz,
    phone text UNIQUE DEFAULT NULL, is_anonymous boolean NOT NULL DEFAULT false);
CREATE UNIQUE INDEX users_email_partial_key ON auth.users (email) WHERE is_anonymous = false;
CREATE TABLE auth.identities (
    provider_id text NOT NULL, user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL, provider text NOT NULL, last_sign_in_at timestamptz,
    created_at timestamptz, updated_at timestamptz,
    email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    CONSTRAINT identities_provider_id_provider_unique UNIQUE (provider_id, provider));
CREATE TABLE auth.sessions (id uuid PRIMARY KEY, user_id uuid NOT NULL
    REFERENCES auth.users(id) ON DELETE CASCADE, created_at timestamptz);
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('20171026211738'), ('20240427152123');
COMMENT ON TABLE auth.users IS 'Auth: Stores user login data within a secure schema.';
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $$;
CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text $$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$;
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
ALTER TABLE auth.sessions OWNER TO supabase_auth_admin;
ALTER TABLE auth.schema_migrations OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.role() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.email() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.jwt() OWNER TO supabase_auth_admin;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, postgres;
GRANT ALL ON SCHEMA auth TO supabase_auth_admin, dashboard_user;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO postgres, dashboard_user;
GRANT ALL ON ALL ROUTINES IN SCHEMA auth TO postgres, dashboard_user;

-- storage (storage-api): owned by supabase_storage_admin, deletes only through the API
CREATE SCHEMA storage AUTHORIZATION supabase_admin;
GRANT USAGE ON SCHEMA storage TO postgres, anon, authenticated, service_role;
GRANT ALL ON SCHEMA storage TO supabase_storage_admin;
CREATE TABLE storage.buckets (
    id text NOT NULL PRIMARY KEY, name text NOT NULL, owner uuid, owner_id text,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
    public boolean DEFAULT false, file_size_limit bigint, allowed_mime_types text[]);
CREATE UNIQUE INDEX bname ON storage.buckets (name);
CREATE TABLE storage.objects (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    bucket_id text REFERENCES storage.buckets(id), name text, owner uuid, owner_id text,
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
    last_accessed_at timestamptz DEFAULT now(), metadata jsonb, version text,
    path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    user_metadata jsonb);
CREATE UNIQUE INDEX bucketid_objname ON storage.objects (bucket_id, name);
CREATE TABLE storage.migrations (id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL,
    hash varchar(40) NOT NULL, executed_at timestamp DEFAULT current_timestamp);
INSERT INTO storage.migrations VALUES (0, 'create-migrations-table', 'e18db593bcde2aca');
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE _parts text[];
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[1:array_length(_parts, 1) - 1];
END $$;
CREATE FUNCTION storage.protect_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('storage.allow_delete_query', true), 'false') <> 'true' THEN
        RAISE EXCEPTION 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
            USING ERRCODE = '42501';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER protect_buckets_delete BEFORE DELETE ON storage.buckets
    FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();
CREATE TRIGGER protect_objects_delete BEFORE DELETE ON storage.objects
    FOR EACH STATEMENT EXECUTE FUNCTION storage.protect_delete();
ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
ALTER TABLE storage.migrations OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.foldername(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.protect_delete() OWNER TO supabase_storage_admin;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO postgres, anon, authenticated, service_role;
GRANT ALL ON ALL ROUTINES IN SCHEMA storage TO postgres, anon, authenticated, service_role;
"""

# The application, written by the project's developer as ``postgres`` (Supabase's
# user-management quickstart plus a few things the documented migration gets wrong).
APP_SQL = """
DO $$ BEGIN  -- roles are cluster-wide: several source projects share one server
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporting') THEN
        CREATE ROLE reporting NOLOGIN;
        CREATE ROLE app_worker LOGIN CONNECTION LIMIT 5 IN ROLE reporting;
        ALTER ROLE app_worker SET statement_timeout = '5s';
        GRANT reporting TO authenticated;
    END IF;
END $$;

CREATE TABLE public.profiles (
    id uuid NOT NULL PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
    username text UNIQUE, full_name text, updated_at timestamptz);
COMMENT ON TABLE public.profiles IS 'One profile per auth user, made by handle_new_user';
COMMENT ON COLUMN public.profiles.username IS 'Shown to other users';
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Public profiles are viewable by everyone." ON public.profiles
    FOR SELECT USING (true);
CREATE POLICY "Users can insert their own profile." ON public.profiles
    FOR INSERT WITH CHECK ((SELECT auth.uid()) = id);
CREATE POLICY "Users can update own profile." ON public.profiles
    FOR UPDATE USING ((SELECT auth.uid()) = id);

CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = '' AS $$
BEGIN
    INSERT INTO public.profiles (id, full_name) VALUES (new.id, new.raw_user_meta_data ->> 'full_name');
    RETURN new;
END $$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();

CREATE TABLE public.todos (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth.users(id), task text NOT NULL CHECK (char_length(task) > 3),
    is_complete boolean DEFAULT false, inserted_at timestamptz NOT NULL DEFAULT now());
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;  -- enabled from the dashboard
CREATE INDEX todos_task_trgm ON public.todos USING gin (task extensions.gin_trgm_ops);
ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Individuals can view their own todos." ON public.todos
    FOR SELECT TO authenticated USING ((SELECT auth.uid()) = user_id);
CREATE POLICY "Individuals can create todos." ON public.todos
    FOR INSERT TO authenticated WITH CHECK ((SELECT auth.uid()) = user_id);
REVOKE ALL ON TABLE public.todos FROM anon;
GRANT SELECT ON public.todos TO reporting;

CREATE TABLE public.messages (id bigserial PRIMARY KEY, room text NOT NULL, body text,
    sender uuid REFERENCES auth.users(id));
ALTER PUBLICATION supabase_realtime ADD TABLE public.messages, public.todos;

CREATE SCHEMA app;
CREATE TABLE app.audit (id bigserial PRIMARY KEY, what text, at timestamptz DEFAULT now());
CREATE VIEW app.open_todos AS SELECT user_id, count(*) AS open FROM public.todos
    WHERE NOT is_complete GROUP BY user_id;
CREATE FUNCTION app.open_count(uid uuid) RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT open FROM app.open_todos WHERE user_id = uid $$;

CREATE POLICY "Avatar images are publicly accessible." ON storage.objects
    FOR SELECT USING (bucket_id = 'avatars');
CREATE POLICY "Users upload their own avatar." ON storage.objects
    FOR INSERT TO authenticated
    WITH CHECK (bucket_id = 'avatars' AND (SELECT auth.uid())::text = (storage.foldername(name))[1]);
"""

USERS = [
    ("0b6a4e3c-4a8f-4a53-9d1e-9c5b0b7f3a11", "ada@example.com", "Ada Lovelace"),
    ("1f2d3c4b-5a69-4788-9a0b-1c2d3e4f5a62", "grace@example.com", "Grace Hopper"),
    ("2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a73", "alan@example.com", "Alan Turing"),
]

DATA_SQL = """
INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password,
    email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
SELECT '00000000-0000-0000-0000-000000000000', u.id::uuid, 'authenticated', 'authenticated',
       u.email, extensions.crypt('pw-' || u.email, extensions.gen_salt('bf', 4)),
       now(), '{"provider": "email"}', jsonb_build_object('full_name', u.name), now(), now()
FROM (VALUES %(users)s) AS u(id, email, name);
INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at)
SELECT id::text, id, jsonb_build_object('sub', id::text, 'email', email), 'email', now()
FROM auth.users;
UPDATE public.profiles SET username = split_part(p.full_name, ' ', 1) FROM public.profiles p
WHERE p.id = profiles.id;
INSERT INTO public.todos (user_id, task, is_complete)
SELECT u.id, 'task ' || g || ' of ' || u.email, g %% 3 = 0
FROM auth.users u, generate_series(1, 40) g;
INSERT INTO public.messages (room, body, sender)
SELECT 'lobby', 'hello ' || g, (SELECT id FROM auth.users ORDER BY email LIMIT 1)
FROM generate_series(1, 25) g;
INSERT INTO app.audit (what) SELECT 'event ' || g FROM generate_series(1, 10) g;
INSERT INTO storage.buckets (id, name, public) VALUES ('avatars', 'avatars', true),
    ('private', 'private', false);
INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata, version)
SELECT 'avatars', u.id || '/avatar.png', u.id, u.id::text,
       '{"size": 1024, "mimetype": "image/png"}', 'v1' FROM auth.users u;
"""


@dataclass
class Project:
    """One Supabase look-alike: a server and the database that plays the project's."""

    server: PgServer
    dbname: str
    jwt_secret: str = field(default_factory=lambda: uuid.uuid4().hex)

    def url(self, user: str = "postgres", password: str = POSTGRES_PASSWORD) -> str:
        return self.server.url(self.dbname, user=user, password=password)

    def connect_as_postgres(self):
        import psycopg
        return psycopg.connect(self.url(), autocommit=True)

    def superuser(self):
        return self.server.connect(self.dbname)


def install_cluster_roles(server: PgServer) -> None:
    with server.connect() as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'supabase_admin'").fetchone():
            return
        conn.execute(CLUSTER_SQL)


def make_project(server: PgServer, dbname: str, with_app: bool) -> Project:
    """A fresh project: platform schemas; with ``with_app``, the user's app and data too."""
    install_cluster_roles(server)
    with server.connect() as conn:
        if dbname != "postgres":
            conn.execute(f'CREATE DATABASE "{dbname}"')
        conn.execute(f'ALTER DATABASE "{dbname}" OWNER TO postgres')
    project = Project(server, dbname)
    with server.connect(dbname) as conn:
        conn.execute("SET ROLE supabase_admin")
        conn.execute(PLATFORM_SQL)
        conn.execute("RESET ROLE")
        conn.execute(f"ALTER DATABASE \"{dbname}\" SET app.settings.jwt_secret = "
                     f"'{project.jwt_secret}'")
    if with_app:
        users = ", ".join(f"('{i}', '{e}', '{n}')" for i, e, n in USERS)
        with project.connect_as_postgres() as conn:  # the developer is postgres, not a superuser
            conn.execute(APP_SQL)
            conn.execute(DATA_SQL % {"users": users})
        with project.superuser() as conn:  # objects that belong to a custom role
            conn.execute("GRANT USAGE, CREATE ON SCHEMA app TO reporting")
            conn.execute("ALTER VIEW app.open_todos OWNER TO reporting")
            conn.execute("ALTER FUNCTION app.open_count(uuid) OWNER TO reporting")
    return project


@pytest.fixture(scope="session")
def supabase_source_server():
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def supabase_source(supabase_source_server):
    """Project A with the app, its users, storage metadata and policies."""
    name = f"proj_{uuid.uuid4().hex[:8]}"
    project = make_project(supabase_source_server, name, with_app=True)
    yield project
    supabase_source_server.drop_database(name)


@pytest.fixture
def supabase_target():
    """Project B: a brand-new server (so roles really have to be created), platform only."""
    server = PgServer().start()
    try:
        yield make_project(server, "postgres", with_app=False)
    finally:
        server.stop()


def snapshot(project: Project) -> Dict[str, List]:
    """Facts to compare between projects, read as the superuser."""
    queries = {
        "policies": "SELECT schemaname, tablename, policyname, permissive, roles::text[], cmd, "
                    "qual, with_check FROM pg_policies ORDER BY 1, 2, 3",
        "rls": "SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity "
               "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'app', 'auth', 'storage') "
               "ORDER BY 1, 2",
        "publication": "SELECT schemaname, tablename FROM pg_publication_tables "
                       "WHERE pubname = 'supabase_realtime' ORDER BY 1, 2",
        "user_triggers": "SELECT c.oid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) "
                         "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                         "WHERE NOT t.tgisinternal ORDER BY 1, 2",
        "comments": "SELECT c.oid::regclass::text, d.objsubid, d.description FROM pg_description d "
                    "JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass "
                    "ORDER BY 1, 2",
        "acl_todos": "SELECT grantee::regrole::text, privilege_type FROM "
                     "aclexplode((SELECT relacl FROM pg_class WHERE oid = to_regclass('public.todos'))) "
                     "WHERE grantee <> 0 ORDER BY 1, 2",
        "extensions": "SELECT extname, extnamespace::regnamespace::text FROM pg_extension "
                      "ORDER BY 1",
        "indexes": "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                   "WHERE indrelid IN (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname IN ('public', 'app')) ORDER BY 1",
        "owners": "SELECT c.oid::regclass::text, pg_get_userbyid(c.relowner) FROM pg_class c "
                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'app') "
                  "UNION ALL SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) "
                  "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname IN ('public', 'app') ORDER BY 1",
        "sequences": "SELECT schemaname, sequencename, last_value FROM pg_sequences "
                     "WHERE schemaname IN ('public', 'app') ORDER BY 1, 2",
        "roles": "SELECT rolname, rolcanlogin, rolinherit, rolconnlimit, rolconfig FROM pg_roles "
                 "WHERE rolname IN ('reporting', 'app_worker') ORDER BY 1",
        "members": "SELECT r.rolname, m.rolname FROM pg_auth_members a JOIN pg_roles r "
                   "ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
                   "WHERE r.rolname IN ('reporting', 'app_worker') ORDER BY 1, 2",
    }
    with project.superuser() as conn:
        return {name: [tuple(r) for r in conn.execute(q).fetchall()]
                for name, q in queries.items()}
