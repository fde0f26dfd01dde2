#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_backup
short_description: Back up a PostgreSQL or Supabase database
description:
  - Takes a full, schema-only or table-data backup with C(pg_dump) from one consistent snapshot,
    compresses it (gzip or zstd), optionally encrypts it, and writes it with a manifest (sizes, SHA-256, row counts) into the backup repository.
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
  encrypt:
    description:
      - Encrypt the backup with O(encryption_key) (AES-256-GCM in authenticated segments). Defaults to
        C(ENCRYPT) from the configuration (false). Fails before anything is dumped when no key is set.
    type: bool
  upload_s3:
    description:
      - Copy the backup to S3 after it is written locally (C(UPLOAD_S3)); needs O(s3_bucket) or C(S3_BUCKET).
      - Data objects are uploaded first and verified by size and checksum, the manifest object last, so the bucket
        never shows a backup without all its bytes. A failed upload fails the task while the local backup stays valid.
    type: bool
  profile:
    description:
      - C(supabase) takes a full backup a fresh Supabase project can be restored from as its non-superuser C(postgres)
        role. It holds the custom roles (no passwords), the schema of the user's schemas, the data of the user's tables
        plus C(auth.users), C(auth.identities), C(storage.buckets) and C(storage.objects), and the user's triggers and
        policies on platform tables, all from one snapshot. See docs/SUPABASE.md.
      - C(plain) is one C(pg_dump) of the database. C(auto) (the default, C(PROFILE) in the configuration) picks
        C(supabase) for C(*.supabase.co) and C(*.supabase.com) hosts.
      - Schema and data backups are always plain.
    type: str
    choices: [auto, plain, supabase]
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
  - sandstone.backup.encryption
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

- name: Take an encrypted backup
  sandstone.backup.pg_backup:
    type: full
    encrypt: true
    encryption_key: "{{ vault_backup_encryption_key }}"
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
locations:
  description: Every place the backup is now kept, the local folder first, then its C(s3://) copy.
  returned: success, not in check mode
  type: list
  elements: str
s3:
  description: The S3 copy (location, files with size, SHA-256 and how the upload was verified).
  returned: success with upload_s3, not in check mode
  type: dict
cleaned_leftovers:
  description: Leftovers of interrupted runs removed before this backup (folders without manifest, unfinished uploads).
  returned: success, not in check mode
  type: list
  elements: str
manifest:
  description: Summary of the manifest (type, database, times, size, tables, rows).
  returned: success, not in check mode
  type: dict
tables:
  description: Tables with the row counts taken in the backup's snapshot (or, in check mode, the tables that would be dumped).
  returned: always
  type: list
  elements: dict
profile:
  description: C(supabase) when the backup was taken with the Supabase profile.
  returned: with the supabase profile
  type: str
roles:
  description: Custom roles in the backup (Supabase profile).
  returned: with the supabase profile
  type: list
  elements: str
user_schemas:
  description: The user's schemas whose DDL and data are in the backup (Supabase profile).
  returned: with the supabase profile
  type: list
  elements: str
warnings:
  description: What the backup could not hold, e.g. event triggers (Supabase profile).
  returned: with the supabase profile, not in check mode
  type: list
  elements: str
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import (
    SandstoneModule, api, encryption_spec)


def main():
    sm = SandstoneModule(
        dict(type=dict(type="str", default="full", choices=["full", "schema", "data"]),
             tables=dict(type="list", elements="str", default=[]),
             compression=dict(type="str", choices=["gzip", "zstd", "none"]),
             encrypt=dict(type="bool"),
             upload_s3=dict(type="bool"),
             profile=dict(type="str", choices=["auto", "plain", "supabase"]),
             **encryption_spec()),
        supports_check_mode=True)
    p = sm.params
    sm.run(api.backup, sm.context(UPLOAD_S3=p["upload_s3"], PROFILE=p["profile"]), p["type"],
           p["tables"], dry_run=sm.module.check_mode, compression=p["compression"],
           encrypt=p["encrypt"])


if __name__ == "__main__":
    main()
