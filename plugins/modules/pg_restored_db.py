#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: pg_restored_db
short_description: Switch a restored database into the live one's place, or drop a scratch database
description:
  - O(state=switched) ends the sessions on both databases, renames the live database to O(keep_as)
    and the restored one to the live name. The old live database is kept, never dropped.
  - O(state=absent) drops a scratch database (e.g. after a recovery drill). It refuses to drop the
    configured (live) database.
  - In check mode the plan is returned and nothing changes.
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
options:
  name:
    description: The restored or scratch database.
    type: str
    required: true
  state:
    description: C(switched) to put it in the live database's place, C(absent) to drop it.
    type: str
    choices: [switched, absent]
    required: true
  live_db:
    description: Name of the live database; defaults to the database of the connection options.
    type: str
  keep_as:
    description: New name of the live database after a switch (default C(<live>_before_restore)).
    type: str
extends_documentation_fragment:
  - sandstone.backup.connection
  - sandstone.backup.repository
attributes:
  check_mode:
    support: full
    description: Returns the plan; changes nothing.
'''

EXAMPLES = r'''
- name: Put the verified restore in place of the live database
  sandstone.backup.pg_restored_db:
    config_file: /etc/sandstone-backup/backup.conf
    name: app_restored_20260126
    state: switched
    keep_as: app_broken_20260126

- name: Drop the drill's scratch database
  sandstone.backup.pg_restored_db:
    config_file: /etc/sandstone-backup/backup.conf
    name: sandstone_drill_20260201
    state: absent
'''

RETURN = r'''
plan:
  description: What was (or in check mode would be) done.
  returned: always
  type: dict
'''

from ansible_collections.sandstone.backup.plugins.module_utils.sandstone import SandstoneModule, api


def main():
    sm = SandstoneModule(
        dict(name=dict(type="str", required=True),
             state=dict(type="str", required=True, choices=["switched", "absent"]),
             live_db=dict(type="str"),
             keep_as=dict(type="str")),
        supports_check_mode=True)
    p = sm.params
    sm.run(api.restored_database, sm.context(), p["name"], p["state"], live_db=p["live_db"],
           keep_as=p["keep_as"], dry_run=sm.module.check_mode)


if __name__ == "__main__":
    main()
