"""One configuration schema for environment variables, backup.conf, CLI flags and module options.

Sources, the first that sets a key wins: explicit value (module option / CLI flag),
environment, backup.conf, default. Unknown keys in backup.conf are rejected, so a typo is
loud instead of silently ignored.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from .errors import ConfigError
from .keys import decode_key, split_keys


@dataclass(frozen=True)
class Key:
    name: str
    description: str
    example: str
    default: Any = None
    kind: str = "str"  # str | int | bool | choice | key | keys (base64 AES-256 keys)
    choices: tuple = ()
    secret: bool = False


SCHEMA: Dict[str, Key] = {
    k.name: k
    for k in (
        Key("SUPABASE_DB_URL", "Connection URL of the database to back up (a postgresql:// URL "
            "or libpq conninfo). Takes precedence over SUPABASE_PROJECT_ID.",
            "postgresql://postgres:PASSWORD@db.abcdefghijklmnop.supabase.co:5432/postgres",
            secret=True),
        Key("SUPABASE_PROJECT_ID", "Supabase project reference; with SUPABASE_DB_PASSWORD it "
            "builds postgresql://postgres:PASS@db.ID.supabase.co:5432/postgres (sslmode=require).",
            "abcdefghijklmnop"),
        Key("SUPABASE_DB_PASSWORD", "Database password used with SUPABASE_PROJECT_ID.",
            "s3cret", secret=True),
        Key("BACKUP_DIR", "Root of the local backup repository (full/, schema/, data/ ...).",
            "/var/backups/sandstone", default="storage"),
        Key("LOG_DIR", "Directory for logs; kept outside the repository so logs never travel "
            "with backups.", "/var/log/sandstone", default="logs"),
        Key("RETENTION_DAYS", "Days a backup is kept by cleanup.", "30", default=30, kind="int"),
        Key("COMPRESS", "Compress backups (true/false).", "true", default=True, kind="bool"),
        Key("COMPRESSION", "Compression algorithm when COMPRESS is true.", "zstd",
            default="gzip", kind="choice", choices=("gzip", "zstd")),
        Key("COMPRESSION_LEVEL", "Compression level (gzip 1-9, zstd 1-19); empty for the "
            "algorithm's default.", "6", kind="int"),
        Key("PROFILE", "How to treat the database: supabase backs up custom roles, the user's "
            "schemas, their data plus auth.users/identities and storage.buckets/objects, and "
            "restores them into a fresh Supabase project as its non-superuser postgres; plain "
            "is a pg_dump of everything; auto picks supabase for *.supabase.co/.com hosts.",
            "supabase", default="auto", kind="choice", choices=("auto", "plain", "supabase")),
        Key("PG_BIN_DIR", "Directory holding pg_dump, pg_restore and psql; empty to pick the "
            "newest installed version that can dump the server.", "/usr/lib/postgresql/17/bin"),
        Key("ENCRYPT", "Encrypt backups with ENCRYPTION_KEY (AES-256-GCM in authenticated "
            "segments, see docs/ENCRYPTION.md).", "true", default=False, kind="bool"),
        Key("ENCRYPTION_KEY", "Key new backups are encrypted with and old ones decrypted with: "
            "base64 of 32 random bytes, made by 'openssl rand -base64 32'. Keep a copy off this "
            "machine: without it no encrypted backup can be restored.",
            "<output of: openssl rand -base64 32>", kind="key", secret=True),
        Key("ENCRYPTION_OLD_KEYS", "Former ENCRYPTION_KEY values, comma-separated, accepted for "
            "reading only, so keys can be rotated without losing old backups.",
            "<old key 1>,<old key 2>", kind="keys", secret=True),
        # Retention: a backup is kept when any rule keeps it; empty = rule unused.
        Key("KEEP_LAST", "Cleanup keeps the newest N backups of each type; empty = unused.",
            "7", kind="int"),
        Key("KEEP_DAILY", "Cleanup keeps the newest backup of each of the last N days (UTC) "
            "that have one; empty = unused.", "7", kind="int"),
        Key("KEEP_WEEKLY", "Cleanup keeps the newest backup of each of the last N ISO weeks "
            "that have one; empty = unused.", "4", kind="int"),
        Key("KEEP_MONTHLY", "Cleanup keeps the newest backup of each of the last N months "
            "that have one; empty = unused.", "12", kind="int"),
        Key("LOCK_WAIT_SECONDS", "How long a run waits for another run on the same repository "
            "or database to finish before failing; 0 fails at once.", "600", default=0,
            kind="int"),
        # S3 replication (storage/s3.py). Credentials come from the standard AWS chain
        # (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance role), never from here.
        Key("UPLOAD_S3", "Copy every backup to S3 after it is written locally (true/false).",
            "true", default=False, kind="bool"),
        Key("S3_BUCKET", "Bucket that keeps the copies (required when UPLOAD_S3 is true); "
            "when set, restore and list also find backups there.",
            "my-backups"),
        Key("S3_PREFIX", "Folder inside the bucket; empty for the bucket's root.", "sandstone/prod"),
        Key("AWS_REGION", "Region of the bucket; empty for the AWS default chain's.", "eu-central-1"),
        Key("S3_ENDPOINT_URL", "Endpoint of an S3-compatible store (MinIO, Cloudflare R2, "
            "Supabase Storage); empty for AWS S3.",
            "https://ACCOUNT.r2.cloudflarestorage.com"),
        Key("S3_FORCE_PATH_STYLE", "Address the bucket as ENDPOINT/BUCKET instead of "
            "BUCKET.ENDPOINT (MinIO, Supabase Storage).", "true", default=False, kind="bool"),
        Key("S3_PART_SIZE_MB", "Size of each multipart upload part in MiB (5 or more); memory "
            "used by an upload stays about one part.", "16", default=16, kind="int"),
        Key("S3_MAX_ATTEMPTS", "Attempts per S3 request before the upload fails (retries "
            "use jittered exponential backoff).", "5", default=5, kind="int"),
        # Notifications, warnings and metrics (notify.py, checks.py, metrics.py)
        Key("NOTIFY_ON", "When to notify: 'failure' (failures and warnings only) or 'always' "
            "(every operation).", "always", default="failure", kind="choice",
            choices=("failure", "always")),
        Key("SLACK_WEBHOOK_URL", "Slack incoming-webhook URL; empty for no Slack messages.",
            "https://hooks.slack.com/services/T000/B000/XXXX", secret=True),
        Key("DISCORD_WEBHOOK_URL", "Discord webhook URL; empty for no Discord messages.",
            "https://discord.com/api/webhooks/123456/XXXX", secret=True),
        Key("EMAIL_ENABLED", "Send notifications by email. Empty: on when EMAIL_SMTP_HOST and "
            "EMAIL_TO are set.", "true", kind="bool"),
        Key("EMAIL_SMTP_HOST", "SMTP server for notification mail.", "smtp.example.com"),
        Key("EMAIL_SMTP_PORT", "SMTP port; empty for the security mode's usual port (587 "
            "starttls, 465 tls, 25 none).", "587", kind="int"),
        Key("EMAIL_SMTP_SECURITY", "How the SMTP connection is protected: starttls, tls "
            "(implicit TLS) or none.", "starttls", default="starttls", kind="choice",
            choices=("starttls", "tls", "none")),
        Key("EMAIL_SMTP_USER", "SMTP login; empty to send without authentication.",
            "backups@example.com"),
        Key("EMAIL_SMTP_PASSWORD", "SMTP password.", "s3cret", secret=True),
        Key("EMAIL_SMTP_CA_FILE", "CA bundle (PEM) to trust for the SMTP server's certificate; "
            "empty for the system's trust store.", "/etc/ssl/certs/internal-ca.pem"),
        Key("EMAIL_FROM", "Sender address of notification mail; empty for "
            "sandstone-backup@HOSTNAME.", "backups@example.com"),
        Key("EMAIL_TO", "Recipients of notification mail, comma-separated.",
            "oncall@example.com,dba@example.com"),
        Key("MAX_BACKUP_AGE_HOURS", "'check' warns when the newest full backup is older than "
            "this many hours; 0 turns the check off.", "26", default=26, kind="int"),
        Key("SLOT_LAG_WARN_BYTES", "'check' warns when a replication slot holds back more WAL "
            "than this many bytes; 0 turns the check off.", "1073741824",
            default=1073741824, kind="int"),
        Key("METRICS_FILE", "Prometheus node_exporter textfile to write after every operation "
            "(written atomically); empty for none.",
            "/var/lib/node_exporter/textfile/sandstone.prom"),
    )
}

TRUE_WORDS = {"1", "true", "yes", "on", "y"}
FALSE_WORDS = {"0", "false", "no", "off", "n", ""}


def coerce(key: Key, raw: Any, source: str) -> Any:
    """Turn a raw string (or native value) into the key's type, or say what is wrong."""
    if raw is None:
        return None
    if key.kind == "bool":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigError(f"{key.name}={raw!r} from {source} is not a boolean",
                          "use true or false")
    if key.kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        text = str(raw).strip()
        if text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key.name}={raw!r} from {source} is not a whole number",
                              f"set it like {key.name}={key.example}") from None
    text = str(raw)
    if key.kind in ("key", "keys"):
        items = split_keys(text) if key.kind == "keys" else [text.strip()] if text.strip() else []
        for number, item in enumerate(items, 1):
            label = key.name if key.kind == "key" else f"{key.name} item {number}"
            decode_key(item, f"{label} from {source}")
        return ",".join(items) if items else None
    if key.kind == "choice" and text not in key.choices:
        raise ConfigError(f"{key.name}={raw!r} from {source} is not one of "
                          f"{', '.join(key.choices)}", f"set it like {key.name}={key.example}")
    return text


def parse_conf_text(text: str, source: str) -> Dict[str, str]:
    """Parse backup.conf: shell-style KEY=value lines, # comments, optional quotes."""
    values: Dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].strip()
        name, sep, rest = stripped.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"{source}:{number}: expected KEY=value, got {line.strip()!r}",
                              "fix or remove the line")
        if name not in SCHEMA:
            raise ConfigError(f"{source}:{number}: unknown key {name}",
                              "run 'sandstone-backup config generate' to see the valid keys")
        try:
            parts = shlex.split(rest, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{source}:{number}: {exc}", "check the quotes") from None
        values[name] = " ".join(parts)
    return values


def read_conf_file(path: str) -> Dict[str, str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_conf_text(handle.read(), path)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist",
                          "create it with 'sandstone-backup config generate > FILE'") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable by this user",
                          "run as the backup user or fix the file's owner") from None


class Settings:
    """Resolved configuration with the source of each value (for `config validate`)."""

    def __init__(self, values: Dict[str, Any], sources: Dict[str, str]) -> None:
        self._values = values
        self.sources = sources

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self._values.get(name)
        return default if value is None else value

    def redacted(self) -> Dict[str, Any]:
        return {name: ("********" if SCHEMA[name].secret and value else value)
                for name, value in self._values.items()}


def load(explicit: Optional[Mapping[str, Any]] = None,
         config_file: Optional[str] = None,
         environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Resolve every schema key. ``explicit`` values of None count as unset."""
    env = os.environ if environ is None else environ
    explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
    for name in explicit:
        if name not in SCHEMA:
            raise ConfigError(f"unknown setting {name}", "this is a bug in the caller")
    path = config_file or env.get("SANDSTONE_CONFIG") or None
    file_values = read_conf_file(path) if path else {}
    values: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for name, key in SCHEMA.items():
        if name in explicit:
            raw, source = explicit[name], "option"
        elif env.get(name) not in (None, ""):
            raw, source = env[name], "environment"
        elif name in file_values:
            raw, source = file_values[name], path
        else:
            values[name], sources[name] = key.default, "default"
            continue
        values[name], sources[name] = coerce(key, raw, source), source
    return Settings(values, sources)


def generate_sample() -> str:
    """A commented backup.conf with every key, from the schema."""
    lines = ["# Sandstone Backup configuration (backup.conf). Keep this file mode 0600.",
             "# Environment variables of the same name override these values.", ""]
    for key in SCHEMA.values():
        lines.append(f"# {key.description}")
        if key.choices:
            lines.append(f"# One of: {', '.join(key.choices)}")
        default = "" if key.default is None else str(key.default).lower() \
            if isinstance(key.default, bool) else str(key.default)
        if key.default is None:
            lines.append(f"#{key.name}={shlex.quote(key.example)}")
        else:
            lines.append(f"{key.name}={shlex.quote(default)}")
        lines.append("")
    return "\n".join(lines)
