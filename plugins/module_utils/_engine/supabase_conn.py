"""Connection details Supabase users trip over: the direct host vs. the pooler, session vs.
transaction mode, IPv6-only direct hosts. Pure functions on host, port and user, so they are
tested without reaching Supabase; pg.py asks them for a better message when a connect fails."""
from __future__ import annotations

import re
import socket
from typing import Callable, List, Optional, Tuple

from .errors import ConfigError, ConnectError

PROFILES = ("auto", "plain", "supabase")
DIRECT_HOST = re.compile(r"^db\.([a-z0-9]+)\.supabase\.co$")
POOLER_HOST = re.compile(r"^([a-z0-9-]+)\.pooler\.supabase\.com$")
SUPABASE_HOST = re.compile(r"(^|\.)(supabase\.co|supabase\.com)$")
TRANSACTION_PORT = 6543
SESSION_PORT = 5432
SESSION_POOLER_HINT = ("postgresql://postgres.{ref}:PASSWORD@aws-0-REGION.pooler.supabase.com:5432/"
                       "postgres (the dashboard's Connect > Session pooler URL)")


def is_supabase_host(host: str) -> bool:
    return bool(SUPABASE_HOST.search((host or "").lower()))


def resolve_profile(setting: Optional[str], host: str) -> str:
    """auto -> supabase for Supabase hosts (direct or pooler), plain otherwise."""
    value = (setting or "auto").lower()
    if value not in PROFILES:
        raise ConfigError(f"PROFILE={setting!r} is not one of {', '.join(PROFILES)}",
                          "set PROFILE to auto, plain or supabase")
    if value == "auto":
        return "supabase" if is_supabase_host(host) else "plain"
    return value


def refuse_plain_into_supabase(setting: Optional[str], target_host: str, mode: str,
                               label: str) -> None:
    """A plain pg_dump replays platform DDL, ALTER ROLE ... NOSUPERUSER and the source's
    grants, which a project's non-superuser postgres cannot run: refuse before touching it."""
    if mode in ("full", "schema") and resolve_profile(setting, target_host) == "supabase":
        raise ConfigError(f"{label} is a plain backup and the target is restored with the "
                          f"supabase profile; a plain dump does not restore into a Supabase project",
                          "take a backup with --profile supabase, or pass --profile plain to "
                          "restore it anyway")


def project_ref(host: str, user: str) -> Optional[str]:
    """The project ref from db.<ref>.supabase.co or from the pooler user postgres.<ref>."""
    match = DIRECT_HOST.match((host or "").lower())
    if match:
        return match.group(1)
    if user and "." in user:
        return user.split(".", 1)[1]
    return None


def check_for_dump(host: str, port: str, user: str, what: str = "backups and restores") -> None:
    """pg_dump and pg_restore need a session: the pooler in transaction mode (port 6543)
    hands each transaction to another server connection, which breaks exported snapshots,
    SET commands and prepared state. Refuse it with the session-mode URL."""
    host = (host or "").lower()
    if not POOLER_HOST.match(host) or str(port or SESSION_PORT) != str(TRANSACTION_PORT):
        return
    ref = project_ref(host, user) or "PROJECT_REF"
    pooler_user = user if user and user.startswith("postgres.") else f"postgres.{ref}"
    raise ConfigError(
        f"{host}:{TRANSACTION_PORT} is Supabase's pooler in transaction mode, which cannot run "
        f"{what} (exported snapshots and session settings do not survive it)",
        f"use session mode on port {SESSION_PORT}: postgresql://{pooler_user}:PASSWORD@{host}:"
        f"{SESSION_PORT}/postgres")


Resolver = Callable[[str, int], List[Tuple[int, ...]]]


def _families(host: str, port: int, resolver: Optional[Resolver] = None) -> List[int]:
    resolve = resolver or socket.getaddrinfo
    try:
        return sorted({info[0] for info in resolve(host, port)})
    except (OSError, UnicodeError):
        return []


def ipv6_only(host: str, port: int = SESSION_PORT, resolver: Optional[Resolver] = None) -> bool:
    families = _families(host, port, resolver)
    return bool(families) and socket.AF_INET6 in families and socket.AF_INET not in families


def explain_failure(host: str, port: str, user: str, text: str,
                    resolver: Optional[Resolver] = None) -> Optional[ConnectError]:
    """A Supabase-specific explanation of a failed connect, or None to use the general one.

    Direct hosts (db.<ref>.supabase.co) have only an IPv6 address unless the IPv4 add-on is
    bought; from a network without IPv6 libpq says 'Network is unreachable' or times out."""
    host_l = (host or "").lower()
    match = DIRECT_HOST.match(host_l)
    if match is None:
        if POOLER_HOST.match(host_l) and "Tenant or user not found" in text:
            ref = project_ref(host_l, user)
            return ConnectError(f"the Supabase pooler {host} does not know user {user!r}",
                                f"the pooler's user is postgres.{ref or 'PROJECT_REF'} "
                                f"(postgres, a dot, the project ref)")
        return None
    unreachable = any(word in text for word in (
        "Network is unreachable", "Cannot assign requested address", "timeout expired",
        "No route to host", "could not translate host name"))
    if not unreachable:
        return None
    if not ipv6_only(host_l, int(port or SESSION_PORT), resolver):
        return None
    return ConnectError(f"{host} has only an IPv6 address and this machine cannot reach it over "
                        f"IPv6", "use the session pooler instead (IPv4): "
                        + SESSION_POOLER_HINT.format(ref=match.group(1)))
