#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_backup
short_description: Back up a PostgreSQL or Supabase database
description:
  - Takes a full, schema-only or table-data backup with C(pg_dump) from one consistent snapshot,
    compresses it (gzip or zstd) and writes it with a manifest (sizes, SHA-256, row counts) into the backup repository.
  - The manifest is written last; a backup interrupted at any point leaves nothing that looks complete.
  - In check mode nothing is written; the result is the plan (tables, estimated size, destination).
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  type:
    description: What to back up.
    type: str
    choices: [full, schema, data]
    default: full
  tables:
    description: Tables for O(type=data), e.g. C(public.orders).
    type: list
    elements: str
    default: []
  compression:
    description: Compression algorithm; defaults to C(COMPRESSION) from the configuration (gzip).
    type: str
    choices: [gzip, zstd, none]
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Returns the plan and writes nothing.
'''

EXAMPLES = r'''
- name: Take the nightly full backup
  sandstone.backup.pg_backup:
    type: full
    db_url: "{{ vault_supabase_db_url }}"
    backup_dir: /var/backups/sandstone

- name: Back up two tables before a risky migration
  sandstone.backup.pg_backup:
    type: data
    tables: [public.orders, public.invoices]
    config_file: /etc/sandstone-backup/backup.conf
'''

RETURN = r'''
backup_id:
  description: Id of the new backup (sorts by time).
  returned: success, not in check mode
  type: str
  sample: 20260126T020000Z
location:
  description: Folder of the backup.
  returned: success, not in check mode
  type: str
manifest:
  description: Summary of the manifest (type, database, times, size, tables, rows).
  returned: success, not in check mode
  type: dict
tables:
  description: Tables with the row counts taken in the backup's snapshot (or, in check mode, the tables that would be dumped).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api


def main():
    sm = SandstoneModule(
        dict(type=dict(type="str", default="full", choices=["full", "schema", "data"]),
             tables=dict(type="list", elements="str", default=[]),
             compression=dict(type="str", choices=["gzip", "zstd", "none"])),
        supports_check_mode=True)
    p = sm.params
    sm.run(api.backup, sm.context(), p["type"], p["tables"], dry_run=sm.module.check_mode,
           compression=p["compression"])


if __name__ == "__main__":
    main()
