#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_backup_info
short_description: What a Sandstone backup repository holds, and how its jobs went
description:
  - Returns, per backup type, the newest backup with its age, size, the locations that hold it
    (local, s3) and its verification state; the last success and the last failure of every job
    (backup, restore, cleanup, verify) from the audit log; storage used per location; leftovers
    of interrupted runs; damaged manifests; runs holding a lock right now.
  - Also returns every backup in every location.
  - Read only. It changes nothing, takes no lock, and never connects to the database.
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  type:
    description: List only backups of this type in RV(backups). RV(status) always covers every type.
    type: str
    choices: [full, schema, data]
  log_dir:
    description: Directory of the audit log (C(LOG_DIR)) the job history is read from.
    type: path
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Runs the same in check mode; it never changes anything.
'''

EXAMPLES = r'''
- name: Read the backup status
  sandstone.backup.pg_backup_info:
    config_file: /etc/sandstone-backup/backup.conf
  register: backups

- name: Fail when the newest full backup is older than a day
  ansible.builtin.assert:
    that:
      - backups.status.types.full.newest is not none
      - backups.status.types.full.age_seconds < 86400
    fail_msg: "no full backup in the last 24 hours"

- name: Fail when the last verification of the newest full backup failed
  ansible.builtin.assert:
    that: backups.status.types.full.verified.state != 'failed'
'''

RETURN = r'''
status:
  description:
    - C(types) maps full, schema and data to C(count), C(newest) (id, times, size, tables, rows), C(age_seconds), C(bytes),
      C(locations) (names of the locations holding the newest backup) and C(verified) (C(state) ok, failed, partial or
      never; C(at); C(error); per location).
    - C(jobs) maps each operation (C(backup.full), C(cleanup), C(verify), C(restore.verify), ...) to C(runs),
      C(last_outcome), C(last_success) and C(last_failure) (C(at), C(age_seconds), C(backup_id), C(error)).
    - C(locations) lists each location with C(name), C(location), C(backups), C(bytes), C(incomplete) and C(damaged).
    - C(total_bytes) is the storage used in all locations; C(running) lists runs holding a lock (C(stale) when the holder is dead).
  returned: always
  type: dict
backups:
  description: Every backup in any location, oldest first, with C(locations) and C(verified) (its verify state).
  returned: always
  type: list
  elements: dict
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api


def main():
    sm = SandstoneModule(
        dict(type=dict(type="str", choices=["full", "schema", "data"]),
             log_dir=dict(type="path")),
        supports_check_mode=True)
    sm.run(api.info, sm.context(LOG_DIR=sm.params["log_dir"]), sm.params["type"])


if __name__ == "__main__":
    main()
