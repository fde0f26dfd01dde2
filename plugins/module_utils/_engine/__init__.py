"""Sandstone Backup engine: plain Python, no Ansible imports, relative imports only.

The same package is imported as
``ansible_collections.sandstone.backup.plugins.module_utils._engine`` by the modules and
as ``sandstone_backup`` by the CLI (see pyproject.toml), which is why every import
inside it is relative.
"""
__version__ = "0.1.0"
