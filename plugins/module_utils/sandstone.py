# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ansible adapter: shared argument specs, options -> engine context, engine errors ->
fail_json. Modules stay a few lines long; all logic is in _engine."""
from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible_collections.sandstone.backup.plugins.module_utils._engine import api
    from ansible_collections.sandstone.backup.plugins.module_utils._engine.errors import SandstoneError
    ENGINE_IMPORT_ERROR = None
except ImportError as exc:  # psycopg, zstandard or cryptography missing on the managed host
    api = None
    SandstoneError = Exception
    ENGINE_IMPORT_ERROR = (exc, traceback.format_exc())


def connection_spec():
    return dict(
        db_url=dict(type="str", no_log=True),
        supabase_project_id=dict(type="str"),
        supabase_db_password=dict(type="str", no_log=True),
        login_host=dict(type="str"),
        login_port=dict(type="int"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        db=dict(type="str"),
        ssl_mode=dict(type="str", choices=["disable", "allow", "prefer", "require",
                                           "verify-ca", "verify-full"]),
    )


def encryption_spec():
    """Opt-in options of modules that write or read encrypted backups (doc fragment: encryption)."""
    return dict(
        encryption_key=dict(type="str", no_log=True),
        encryption_old_keys=dict(type="list", elements="str", no_log=True),
    )


def repository_spec():
    return dict(
        config_file=dict(type="path"),
        backup_dir=dict(type="path"),
        **s3_spec()
    )


def encryption_settings(params):
    """Module options of encryption_spec() -> configuration keys (unset stays unset)."""
    old = params.get("encryption_old_keys")
    return {"ENCRYPTION_KEY": params.get("encryption_key"),
            "ENCRYPTION_OLD_KEYS": ",".join(old) if old else None}


# module option -> configuration key of the S3 copy (documented in doc_fragments/repository.py)
S3_OPTIONS = {"s3_bucket": "S3_BUCKET", "s3_prefix": "S3_PREFIX",
              "s3_endpoint_url": "S3_ENDPOINT_URL", "s3_force_path_style": "S3_FORCE_PATH_STYLE",
              "aws_region": "AWS_REGION"}


def s3_spec():
    return dict(s3_bucket=dict(type="str"), s3_prefix=dict(type="str"),
                s3_endpoint_url=dict(type="str"), s3_force_path_style=dict(type="bool"),
                aws_region=dict(type="str"))


class SandstoneModule(object):
    """An AnsibleModule with the shared options, and the call into the engine."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(connection_spec())
        spec.update(repository_spec())
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if ENGINE_IMPORT_ERROR is not None:
            self.module.fail_json(msg=missing_required_lib("psycopg (3), zstandard and cryptography"),
                                  exception=ENGINE_IMPORT_ERROR[1])

    @property
    def params(self):
        return self.module.params

    def context(self, **overrides):
        p = self.module.params
        settings = {"SUPABASE_PROJECT_ID": p.get("supabase_project_id"),
                    "SUPABASE_DB_PASSWORD": p.get("supabase_db_password"),
                    "BACKUP_DIR": p.get("backup_dir")}
        settings.update(encryption_settings(p))
        settings.update({key: p.get(option) for option, key in S3_OPTIONS.items()})
        settings.update(overrides)
        connection = {"url": p.get("db_url"), "host": p.get("login_host"),
                      "port": p.get("login_port"), "user": p.get("login_user"),
                      "password": p.get("login_password"), "dbname": p.get("db"),
                      "sslmode": p.get("ssl_mode")}
        return api.Context(config_file=p.get("config_file"), overrides=settings,
                           connection=connection)

    def run(self, operation, *args, **kwargs):
        """Call one engine operation; exit with its result or its one-line error."""
        try:
            result = operation(*args, **kwargs)
        except SandstoneError as exc:
            # Some errors carry the full result (every verify result, every difference).
            details = getattr(exc, "details", None) or {}
            self.module.fail_json(msg=exc.one_line(), error=type(exc).__name__,
                                  exit_code=exc.exit_code, **details)
        self.module.exit_json(**result)
