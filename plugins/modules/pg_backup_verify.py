#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_backup_verify
short_description: Verify Sandstone backups, or check a live database against the newest backup
description:
  - By default re-reads every backup in every location end to end (stored SHA-256, decompression,
    plain SHA-256), checks each manifest against its files, and reads each pg_dump archive's table
    of contents with C(pg_restore --list). The result is recorded in each backup's manifest.
  - With O(live=true) compares a live database with the newest full backup's manifest instead, that is
    the table list, row counts, row-level security per table and the C(pg_policies) rows.
  - Fails (exit code 4) naming the first bad backup or the first difference; the full results
    are returned with the failure.
  - Reports C(changed=false) because the backups are not changed (recording the result is bookkeeping).
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  live:
    description: Check a live database (see O(target_url), O(target_db)) instead of the repository.
    type: bool
    default: false
  backup:
    description: With O(live=true), the full backup to compare with.
    type: str
    default: latest
  backup_ids:
    description: Without O(live), verify only these backups (default every backup).
    type: list
    elements: str
    default: []
  target_url:
    description: With O(live=true), the database to check. Defaults to the configured database.
    type: str
  target_db:
    description: With O(live=true), the name of the database to check on that server.
    type: str
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Verifies the same way but does not record the result in the manifests.
'''

EXAMPLES = r'''
- name: Verify every backup in every location
  sandstone.backup.pg_backup_verify:
    config_file: /etc/sandstone-backup/backup.conf

- name: After a restore drill, check the restored database against the newest backup
  sandstone.backup.pg_backup_verify:
    live: true
    target_db: app_restored
'''

RETURN = r'''
backups:
  description: Without O(live), per backup C(ref), C(location), C(storage), C(ok), C(error), C(bytes) and C(files).
  returned: always without O(live), also on failure
  type: list
  elements: dict
checked:
  description: Without O(live), how many backups were checked.
  returned: always without O(live)
  type: int
failures:
  description: Without O(live), how many backups failed.
  returned: always without O(live)
  type: int
differences:
  description:
    - With O(live=true), each difference with C(kind) (missing_table, extra_table, row_count, rls, policy_missing,
      policy_changed, policy_extra), C(table) and a one-sentence C(message).
  returned: with O(live=true), also on failure
  type: list
  elements: dict
backup:
  description: With O(live=true), the id of the backup compared with.
  returned: with O(live=true)
  type: str
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api


def main():
    sm = SandstoneModule(
        dict(live=dict(type="bool", default=False),
             backup=dict(type="str", default="latest"),
             backup_ids=dict(type="list", elements="str", default=[]),
             target_url=dict(type="str", no_log=True),
             target_db=dict(type="str")),
        supports_check_mode=True)
    p = sm.params
    if p["live"]:
        sm.run(api.restore_verify, sm.context(), p["backup"], target_url=p["target_url"],
               target_db=p["target_db"])
    sm.run(api.verify, sm.context(), p["backup_ids"], dry_run=sm.module.check_mode)


if __name__ == "__main__":
    main()
