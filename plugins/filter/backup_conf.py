# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_conf: render backup.conf from a dict, checked against the engine's schema, so the
role writes exactly what `sandstone-backup config validate` accepts."""
from __future__ import annotations

DOCUMENTATION = r'''
name: backup_conf
short_description: Render backup.conf from a dict, checked against the configuration schema
version_added: "0.1.0"
author: Sandstone Backup developers (@sandstone)
description:
  - Renders C(KEY=value) lines, each preceded by the key's description from the engine's
    configuration schema, values shell-quoted.
  - Unknown keys and values of the wrong kind fail with a one-line message; the message names
    a secret key but never shows its value.
options:
  _input:
    description: 'Settings, for example C({"SUPABASE_DB_URL": "postgresql://...", "RETENTION_DAYS": 30}).'
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Write backup.conf
  ansible.builtin.copy:
    content: "{{ {'BACKUP_DIR': '/var/backups/sandstone', 'RETENTION_DAYS': 30} | sandstone.backup.backup_conf }}"
    dest: /etc/sandstone-backup/backup.conf
    mode: "0600"
'''

RETURN = r'''
_value:
  description: The text of backup.conf.
  type: str
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.sandstone.backup.plugins.module_utils._engine import conffile
from ansible_collections.sandstone.backup.plugins.module_utils._engine.errors import SandstoneError


def backup_conf(values):
    if not isinstance(values, dict):
        raise AnsibleFilterError("backup_conf expects a dict of settings, e.g. {'RETENTION_DAYS': 30}")
    try:
        return conffile.render({to_text(k): v for k, v in values.items()})
    except SandstoneError as exc:
        raise AnsibleFilterError(exc.one_line()) from None


class FilterModule(object):
    def filters(self):
        return {"backup_conf": backup_conf}
