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
  s3_bucket:
    description:
      - Bucket that keeps the S3 copies (C(S3_BUCKET)). When set, backups in the bucket are found by listing,
        restore and verify even when their local folder is gone.
      - Credentials come from the standard AWS chain on the managed host (C(AWS_ACCESS_KEY_ID) and
        C(AWS_SECRET_ACCESS_KEY), C(AWS_PROFILE), an instance role), never from module options.
    type: str
  s3_prefix:
    description:
      - Folder inside the bucket (C(S3_PREFIX)); the same layout as the local repository lives under it.
    type: str
  s3_endpoint_url:
    description:
      - Endpoint of an S3-compatible store such as MinIO, Cloudflare R2 or Supabase Storage (C(S3_ENDPOINT_URL)); omit for AWS S3.
    type: str
  s3_force_path_style:
    description:
      - Address the bucket as C(ENDPOINT/BUCKET) rather than C(BUCKET.ENDPOINT) (C(S3_FORCE_PATH_STYLE)); MinIO and Supabase Storage need it.
    type: bool
  aws_region:
    description:
      - Region of the bucket (C(AWS_REGION)).
    type: str
notes:
  - Notifications, the audit log and metrics are configured in C(backup.conf) (O(config_file)) or the
    environment of the managed host, not with module options, so a timer and a playbook behave the same.
    C(SLACK_WEBHOOK_URL), C(DISCORD_WEBHOOK_URL) and C(EMAIL_SMTP_HOST), C(EMAIL_TO) and the other C(EMAIL_*)
    keys choose where messages go; C(NOTIFY_ON=failure) (the default) sends failures and warnings only,
    C(NOTIFY_ON=always) every operation. A notification that cannot be sent never fails the task; it is logged.
  - Every operation is appended to C(LOG_DIR/audit.jsonl); with C(METRICS_FILE) set, a Prometheus
    node_exporter textfile is rewritten after each one. See docs/NOTIFICATIONS.md.
'''
