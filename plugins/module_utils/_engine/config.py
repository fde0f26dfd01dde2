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


@dataclass(frozen=True)
class Key:
    name: str
    description: str
    example: str
    default: Any = None
    kind: str = "str"  # str | int | bool | choice
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
