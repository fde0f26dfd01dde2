# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    """Encryption keys, for modules that write or read encrypted backups."""

    DOCUMENTATION = r'''
options:
  encryption_key:
    description:
      - Key backups are encrypted with (when encryption is on) and decrypted with (C(ENCRYPTION_KEY)),
        the base64 of 32 random bytes, made with C(openssl rand -base64 32).
      - Defaults to C(ENCRYPTION_KEY) from the environment or O(config_file). Keep a copy away from the
        managed host; without it no encrypted backup can be restored.
      - Encrypted backups are AES-256-GCM in authenticated segments; the format is specified in
        C(docs/ENCRYPTION.md) so a backup can also be decrypted without this collection.
    type: str
  encryption_old_keys:
    description:
      - Former keys (C(ENCRYPTION_OLD_KEYS)), accepted only for reading backups, so keys can be rotated;
        set the new key as O(encryption_key) and list the old one here.
    type: list
    elements: str
notes:
  - The keys are never logged or returned (C(no_log)); results and manifests carry only the key id,
    the first 8 bytes of HMAC-SHA256 of the key.
requirements:
  - cryptography on the managed host (the C(sandstone.backup.agent) role installs it)
'''
