# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    """Connection options shared by every module, documented once."""

    DOCUMENTATION = r'''
options:
  db_url:
    description:
      - Connection URL or libpq conninfo of the database, e.g. C(postgresql://postgres:PASS@db.ID.supabase.co:5432/postgres).
      - When unset, C(SUPABASE_DB_URL) from the environment or O(config_file) is used, then
        O(supabase_project_id) with O(supabase_db_password), then libpq's own defaults (C(PGHOST), C(PGSERVICE), ...).
    type: str
  supabase_project_id:
    description:
      - Supabase project reference; with O(supabase_db_password) connects to C(db.ID.supabase.co) as C(postgres) with C(sslmode=require).
    type: str
  supabase_db_password:
    description:
      - Database password used with O(supabase_project_id).
    type: str
  login_host:
    description: Database host; overrides the URL's.
    type: str
  login_port:
    description: Database port; overrides the URL's.
    type: int
  login_user:
    description: Database user; overrides the URL's.
    type: str
  login_password:
    description:
      - Database password; overrides the URL's. It is handed to pg_dump and psql in a 0600 passfile, never on a command line.
    type: str
  db:
    description: Database name; overrides the URL's.
    type: str
  ssl_mode:
    description: libpq C(sslmode); C(require) is the default for Supabase hosts.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
notes:
  - Passwords are never logged or returned; every password option is C(no_log).
requirements:
  - psycopg >= 3.1 and zstandard on the managed host (the C(sandstone.backup.agent) role installs them)
  - pg_dump, pg_restore and psql of the server's major version (or newer for pg_dump)
'''
