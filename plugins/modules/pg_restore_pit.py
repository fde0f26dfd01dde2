#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_restore_pit
short_description: Restore a PostgreSQL or Supabase database, its schema or a table from a backup
description:
  - Restores a full backup, the schema, or chosen tables from a backup id, C(latest), a backup folder,
    or a dump file (including the C(.sql.gz) files of the original shell scripts).
  - Every byte is checked against the manifest's SHA-256 before the target is touched; a corrupt or truncated
    backup fails before anything is changed.
  - Encrypted backups are decrypted with O(encryption_key) or one of O(encryption_old_keys); a backup whose key
    is not configured, or that fails authentication, is refused before anything is changed.
  - The restore runs in a single transaction; on failure the target is as it was, and a database created for the restore is dropped again.
  - A non-empty target database (or a table holding rows) is refused unless O(force=true).
  - After the restore the row counts are compared with the manifest.
  - In check mode (the dry run) the backup is verified and the plan is returned; nothing is changed.
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  mode:
    description: What to restore.
    type: str
    choices: [full, schema, table]
    default: full
  backup:
    description: Backup id, C(latest), a backup folder or a dump file on the managed host.
    type: str
    default: latest
  tables:
    description: Tables for O(mode=table), e.g. C(public.orders). Tables that reference each other by foreign keys are replaced together.
    type: list
    elements: str
    default: []
  target_url:
    description:
      - Database to restore into. Defaults to the configured database (see O(db_url)); with O(target_db) only the database name changes.
    type: str
  target_db:
    description: Name of the database to restore into on the target server; created when missing.
    type: str
  force:
    description: Allow overwriting a non-empty database or replacing a table's rows.
    type: bool
    default: false
  profile:
    description:
      - A backup taken with the C(supabase) profile is always restored the Supabase way (roles, schema, data,
        verification of RLS flags and C(pg_policies)) into a fresh project; see docs/SUPABASE.md.
      - With C(supabase) (or C(auto) and a Supabase target host) a full or schema restore of a plain backup is
        refused, because a plain dump does not restore into a Supabase project; C(plain) allows it.
    type: str
    choices: [auto, plain, supabase]
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
  - sandstone.backup.encryption
attributes:
  check_mode:
    support: full
    description: Verifies the backup and returns the plan; changes nothing.
'''

EXAMPLES = r'''
- name: Dry run of restoring the newest full backup into a new database
  sandstone.backup.pg_restore_pit:
    mode: full
    backup: latest
    target_db: app_restored
  check_mode: true

- name: Bring back the orders table from last night's backup
  sandstone.backup.pg_restore_pit:
    mode: table
    backup: 20260126T020000Z
    tables: [public.orders]
    force: true
'''

RETURN = r'''
plan:
  description: What the restore does (or would do in check mode) - backup, target, create_database, overwrite, tables.
  returned: always
  type: dict
tables:
  description: Per table, the row count the backup recorded and the count found after the restore.
  returned: success, not in check mode
  type: list
  elements: dict
database_created:
  description: Whether the target database was created.
  returned: success, not in check mode
  type: bool
steps:
  description: Steps completed by a restore of a Supabase-profile backup (roles, schema, data, verify).
  returned: supabase-profile backups, not in check mode
  type: list
  elements: str
roles:
  description: Roles created, already existing (skipped), applied statements and refused statements with their error.
  returned: supabase-profile backups, not in check mode
  type: dict
warnings:
  description: What needs a hand afterwards (passwords of login roles, refused role statements, owners kept).
  returned: when there are any
  type: list
  elements: str
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import (
    SandstoneModule, api, encryption_spec)


def main():
    sm = SandstoneModule(
        dict(mode=dict(type="str", default="full", choices=["full", "schema", "table"]),
             backup=dict(type="str", default="latest"),
             tables=dict(type="list", elements="str", default=[]),
             target_url=dict(type="str", no_log=True),
             target_db=dict(type="str"),
             force=dict(type="bool", default=False),
             profile=dict(type="str", choices=["auto", "plain", "supabase"]),
             **encryption_spec()),
        supports_check_mode=True)
    p = sm.params
    sm.run(api.restore, sm.context(PROFILE=p["profile"]), p["mode"], p["backup"], p["tables"],
           target_url=p["target_url"], target_db=p["target_db"], force=p["force"],
           dry_run=sm.module.check_mode)


if __name__ == "__main__":
    main()
