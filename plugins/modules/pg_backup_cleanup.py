#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_backup_cleanup
short_description: Delete the backups a retention policy does not keep, in every location
description:
  - Applies the retention policy to every backup location (local and S3 alike). Rules are a union - a backup is kept
    when any rule keeps it - and count each backup type on its own.
  - The newest full backup that verified good (if none did, the newest full backup) is never deleted, nor anything a
    kept backup depends on. Leftovers of interrupted runs are removed.
  - Each backup's manifest is deleted first, so a half-deleted backup never looks complete.
  - A damaged manifest, or one that names another folder, stops the cleanup before anything is deleted.
  - In check mode nothing is deleted; the result lists what would be deleted and why.
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  retention_days:
    description: Keep backups younger than this many days. Defaults to C(RETENTION_DAYS) (30).
    type: int
  keep_last:
    description: Keep the newest N backups of each type. Defaults to C(KEEP_LAST).
    type: int
  keep_daily:
    description: Keep the newest backup of each of the last N UTC days that have one. Defaults to C(KEEP_DAILY).
    type: int
  keep_weekly:
    description: Keep the newest backup of each of the last N ISO weeks that have one. Defaults to C(KEEP_WEEKLY).
    type: int
  keep_monthly:
    description: Keep the newest backup of each of the last N months that have one. Defaults to C(KEEP_MONTHLY).
    type: int
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Returns what would be deleted, with the reasons, and deletes nothing.
'''

EXAMPLES = r'''
- name: See what a 7 daily, 4 weekly, 12 monthly policy would delete
  sandstone.backup.pg_backup_cleanup:
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12
  check_mode: true

- name: Apply the configured retention
  sandstone.backup.pg_backup_cleanup:
    config_file: /etc/sandstone-backup/backup.conf
'''

RETURN = r'''
policy:
  description: The rules applied (only those that are set).
  returned: always
  type: dict
  sample: {days: 30, keep_monthly: 12}
locations:
  description:
    - Per location C(name), C(location), C(kept), C(freed_bytes) and either C(deleted) and C(removed_leftovers) or, in
      check mode, C(would_delete) and C(would_remove_leftovers). Each backup entry has C(ref), C(id), C(type), C(time),
      C(size) and C(reasons).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api


def main():
    sm = SandstoneModule(
        dict(retention_days=dict(type="int"), keep_last=dict(type="int"),
             keep_daily=dict(type="int"), keep_weekly=dict(type="int"),
             keep_monthly=dict(type="int")),
        supports_check_mode=True)
    p = sm.params
    sm.run(api.cleanup, sm.context(), dry_run=sm.module.check_mode, days=p["retention_days"],
           keep_last=p["keep_last"], keep_daily=p["keep_daily"], keep_weekly=p["keep_weekly"],
           keep_monthly=p["keep_monthly"])


if __name__ == "__main__":
    main()
