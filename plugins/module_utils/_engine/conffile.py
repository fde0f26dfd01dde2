"""Render backup.conf from settings, checked against the schema (used by the role through
the backup_conf filter, so what it writes is what `config validate` accepts)."""
from __future__ import annotations

import shlex
from typing import Any, List, Mapping

from .config import SCHEMA, coerce
from .errors import ConfigError

HEADER = ("# Sandstone Backup configuration, written by the sandstone.backup.agent role.\n"
          "# Keep this file mode 0600. Environment variables of the same name override it.\n")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render(values: Mapping[str, Any]) -> str:
    """KEY=value lines in schema order, each with its description; unknown keys and
    values of the wrong kind raise ConfigError (a secret's value is never in the message)."""
    unknown = sorted(name for name in values if name not in SCHEMA)
    if unknown:
        raise ConfigError(f"unknown backup.conf key(s): {', '.join(unknown)}",
                          f"valid keys: {', '.join(SCHEMA)}")
    lines: List[str] = [HEADER]
    for name, key in SCHEMA.items():
        if name not in values:
            continue
        try:
            coerce(key, values[name], "the role's settings")
        except ConfigError as exc:
            if key.secret:
                raise ConfigError(f"{name} has a value of the wrong kind", exc.hint) from None
            raise
        lines.append(f"# {key.description}")
        lines.append(f"{name}={shlex.quote(_text(values[name]))}")
        lines.append("")
    return "\n".join(lines)
