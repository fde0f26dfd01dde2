"""Encryption keys: parsing ENCRYPTION_KEY / ENCRYPTION_OLD_KEYS, key ids, the keyring.

Standard library only, so config.py can validate keys without importing ``cryptography``.
A key id names a key without revealing it: the first 8 bytes of HMAC-SHA256(key, label).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .errors import ConfigError

KEY_BYTES = 32
KEY_ID_BYTES = 8
KEY_ID_LABEL = b"sandstone-backup key-id v1"
MAKE_ONE = "make one with: openssl rand -base64 32"


class KeyNotConfigured(ConfigError):
    """The key a backup was encrypted with is not among the configured keys."""


def decode_key(text: str, name: str = "ENCRYPTION_KEY") -> bytes:
    """Base64 of exactly 32 bytes (what ``openssl rand -base64 32`` prints), or a ConfigError
    that says how to make one. The key itself never appears in the message."""
    cleaned = "".join(str(text).split())
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is not valid base64", MAKE_ONE) from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{name} decodes to {len(raw)} bytes, an AES-256 key needs {KEY_BYTES}",
                          MAKE_ONE)
    return raw


def split_keys(text: Optional[str]) -> List[str]:
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def key_id(secret: bytes) -> bytes:
    return hmac.new(secret, KEY_ID_LABEL, hashlib.sha256).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class MasterKey:
    """One configured key. ``repr`` shows the id only, never the secret."""

    secret: bytes = field(repr=False)
    id: bytes = b""

    @classmethod
    def from_base64(cls, text: str, name: str = "ENCRYPTION_KEY") -> "MasterKey":
        secret = decode_key(text, name)
        return cls(secret=secret, id=key_id(secret))

    @property
    def id_hex(self) -> str:
        return self.id.hex()


class Keyring:
    """The key backups are written with (may be None) and every key they may be read with."""

    def __init__(self, primary: Optional[MasterKey] = None, old: Optional[List[MasterKey]] = None):
        self.primary = primary
        self._by_id: Dict[bytes, MasterKey] = {}
        for key in ([primary] if primary else []) + list(old or []):
            self._by_id.setdefault(key.id, key)

    def __repr__(self) -> str:
        return f"Keyring(ids={[k.hex() for k in self._by_id]})"

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def get(self, wanted: bytes) -> Optional[MasterKey]:
        return self._by_id.get(wanted)

    @property
    def ids(self) -> List[str]:
        return [k.hex() for k in self._by_id]


def keyring_from_settings(settings: Any) -> Keyring:
    """All keys for reading: ENCRYPTION_KEY first, then ENCRYPTION_OLD_KEYS."""
    primary_text = settings.get("ENCRYPTION_KEY")
    primary = MasterKey.from_base64(primary_text) if primary_text else None
    old = [MasterKey.from_base64(text, f"ENCRYPTION_OLD_KEYS item {n}")
           for n, text in enumerate(split_keys(settings.get("ENCRYPTION_OLD_KEYS")), 1)]
    return Keyring(primary, old)


def writing_key(settings: Any) -> MasterKey:
    """The key new backups are encrypted with; a ConfigError before anything is dumped if unset."""
    text = settings.get("ENCRYPTION_KEY")
    if not text:
        raise ConfigError("ENCRYPT is true but ENCRYPTION_KEY is not set",
                          f"set ENCRYPTION_KEY (and keep a copy outside this machine); {MAKE_ONE}")
    return MasterKey.from_base64(text)
