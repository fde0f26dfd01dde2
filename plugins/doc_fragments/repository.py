# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    """Repository and configuration options shared by every module."""

    DOCUMENTATION = r'''
options:
  config_file:
    description:
      - Path of C(backup.conf) on the managed host. Module options win over the environment, which wins over the file.
    type: path
  backup_dir:
    description:
      - Root of the local backup repository (C(BACKUP_DIR)), holding C(full/), C(schema/) and C(data/) folders.
    type: path
'''
