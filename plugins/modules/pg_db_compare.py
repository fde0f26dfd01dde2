#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_db_compare
short_description: Compare a restored database with a reference (tables, row counts, RLS, policies)
description:
  - Describes a database the way a restore must bring it back - every user table with its exact
    row count and whether row-level security is on, and every row of C(pg_policies).
  - With O(reference_db) or O(reference_url), compares it with that reference (usually the live
    source) and lists every difference; with O(fail_on_difference=true) any difference fails the task.
  - Reads only; never changes anything, so check mode runs it in full.
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  target_db:
    description: Name of the restored database on the server given by the connection options (default their database).
    type: str
  reference_db:
    description: Name of the reference database on the same server.
    type: str
  reference_url:
    description: Connection URL of the reference database, when it is on another server.
    type: str
  fail_on_difference:
    description: Fail when the restored database differs from the reference.
    type: bool
    default: true
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Reads only.
'''

EXAMPLES = r'''
- name: Compare the restored database with the live one
  sandstone.backup.pg_db_compare:
    config_file: /etc/sandstone-backup/backup.conf
    target_db: app_restored_20260126
    reference_db: postgres
'''

RETURN = r'''
target:
  description: The restored database - tables (table, rls, rows), rows, rls_tables, policies, server_version.
  returned: always
  type: dict
reference:
  description: The same for the reference, when one was given.
  returned: always
  type: dict
differences:
  description: One line per difference (missing tables or policies, row counts, RLS).
  returned: always
  type: list
  elements: str
matches:
  description: Whether the restored database matches the reference (null without a reference).
  returned: always
  type: bool
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api
from ansible_collections.sandstone.backup.plugins.module_utils._engine.errors import IntegrityError


def compare(sm):
    p = sm.params
    result = api.compare_databases(sm.context(), p["target_db"], p["reference_url"], p["reference_db"])
    if p["fail_on_difference"] and result["differences"]:
        found = result["differences"]
        raise IntegrityError(f"the restored database differs from the reference: {'; '.join(found[:5])}"
                             f"{' ...' if len(found) > 5 else ''} ({len(found)} difference(s))",
                             "do not switch to it; investigate the backup and the restore")
    return result


def main():
    sm = SandstoneModule(
        dict(target_db=dict(type="str"),
             reference_db=dict(type="str"),
             reference_url=dict(type="str", no_log=True),
             fail_on_difference=dict(type="bool", default=True)),
        supports_check_mode=True)
    sm.run(compare, sm)


if __name__ == "__main__":
    main()
