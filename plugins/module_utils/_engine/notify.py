"""Notifications: Slack and Discord webhooks and email over SMTP, after every operation
(a monitor hook) and from `check`.

Why hand-written clients and not apprise: apprise's Slack and Discord plugins build the
request URL themselves (https://hooks.slack.com/services/..., https://discord.com/api/
webhooks/...), so they cannot post a Slack- or Discord-shaped message to any other URL:
not to a Slack-compatible endpoint (Mattermost, Rocket.Chat), not to a proxy, and not to
the loopback receiver our tests check the messages with; its generic json:// target posts
apprise's own JSON, not Slack's or Discord's. A webhook is one HTTPS POST of a JSON body
(urllib) and mail is the standard library's smtplib, so the hand-written part is the
message shape, which we want to own anyway. The reasoning is in docs/NOTIFICATIONS.md.

Sending never raises out of the hook: short timeouts, a few retries for what may pass
(connection refused, timeouts, HTTP 429/5xx, SMTP 4xx), then the failure is logged and
recorded in the audit log. Webhook URLs and the SMTP password never appear in a log line.
"""
from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import __version__, audit, monitor
from .repository import iso, utcnow

log = logging.getLogger("sandstone")

TIMEOUT_SECONDS = 10
ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.5)  # waits between attempts; bounded so a dead receiver costs ~2 s
USER_AGENT = f"sandstone-backup/{__version__}"

COLORS = {"success": 0x2EB67D, "warning": 0xECB22E, "failure": 0xE01E5A}
ICONS = {"success": "✅", "warning": "⚠️", "failure": "❌"}
WORDS = {"success": "OK", "warning": "WARNING", "failure": "FAILED"}


# ---------------------------------------------------------------- the message

@dataclass
class Message:
    """One notification, independent of the channel it goes to."""

    outcome: str  # success | warning | failure
    title: str  # e.g. "FAILED: full backup of app on db1"
    at: str  # when the operation finished (ISO 8601, UTC)
    fields: List[Tuple[str, str]] = field(default_factory=list)  # (label, value), in order
    problems: List[Tuple[str, str]] = field(default_factory=list)  # (what is wrong, next step)

    def text(self) -> str:
        """Plain text: the email body and the Slack/Discord fallback."""
        lines = [self.title, ""]
        width = max((len(label) for label, _value in self.fields), default=0)
        lines += [f"{label + ':':<{width + 1}} {value}" for label, value in self.fields]
        for problem, step in self.problems:
            lines += ["", f"Error:     {problem}" if self.outcome == "failure"
                      else f"Warning:   {problem}"]
            if step:
                lines.append(f"Next step: {step}")
        return "\n".join(lines) + "\n"


def describe(name: str) -> str:
    """'backup.full' -> 'full backup', for people; unknown names pass through."""
    kind, _dot, sub = name.partition(".")
    words = {"backup": "backup", "restore": "restore", "import": "import", "export": "export",
             "verify": "verification", "cleanup": "cleanup", "drill": "restore drill",
             "check": "health check"}
    noun = words.get(kind, kind)
    return f"{sub} {noun}" if sub else noun


def _bytes(size: Any) -> str:
    """'12.3 MiB (12897484 bytes)': readable, and exact for whoever compares."""
    try:
        exact = int(size)
    except (TypeError, ValueError):
        return str(size)
    value = float(exact)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit} ({exact} bytes)" if exact >= 1024 else f"{exact} bytes"


def build_message(settings, record: Dict[str, Any]) -> Message:
    outcome = record.get("outcome", "failure")
    host = record.get("host") or socket.gethostname()
    what = describe(str(record.get("operation", "operation")))
    database = record.get("database") or ""
    title = f"{WORDS.get(outcome, outcome.upper())}: {what}"
    title += f" of {database}" if database else ""
    title += f" on {host}"
    fields: List[Tuple[str, str]] = [("Operation", str(record.get("operation"))),
                                     ("Database", database or "-"),
                                     ("Outcome", outcome)]
    if record.get("backup_id"):
        fields.append(("Backup", str(record["backup_id"])))
    elif record.get("backup"):
        fields.append(("Backup", str(record["backup"])))
    if record.get("size") is not None:
        fields.append(("Size", _bytes(record["size"])))
    if record.get("duration_seconds") is not None:
        fields.append(("Duration", f"{float(record['duration_seconds']):.1f} s"))
    if record.get("location"):
        fields.append(("Location", str(record["location"])))
    if record.get("target"):
        fields.append(("Target", str(record["target"])))
    fields += [("Host", host), ("Who", str(record.get("who", ""))),
               ("Finished", str(record.get("finished_at") or iso(utcnow())))]
    problems: List[Tuple[str, str]] = []
    if outcome == "failure":
        log_file = f"{settings.get('LOG_DIR') or '.'}/sandstone-backup.log"
        problems.append((str(record.get("error") or "unknown error"),
                         str(record.get("hint") or f"read {log_file} on {host}")))
    for warning in record.get("warnings") or []:
        problems.append((str(warning.get("message")), str(warning.get("hint") or "")))
    return Message(outcome=outcome, title=title, at=str(record.get("finished_at") or iso(utcnow())),
                   fields=fields, problems=problems)


# ---------------------------------------------------------------- channel payloads

def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions: escape what came from outside."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _discord_escape(text: str) -> str:
    """Table names like no_such_table must not turn into italics."""
    for char in "\\*_~`|>":
        text = text.replace(char, "\\" + char)
    return text


def slack_payload(message: Message) -> Dict[str, Any]:
    """Incoming-webhook JSON: ``text`` (the notification preview and fallback) and a
    coloured attachment holding Block Kit blocks (at most 10 fields per section)."""
    blocks: List[Dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": _cut(f"{ICONS.get(message.outcome, '')} "
                                                 f"{message.title}", 150)}}]
    for start in range(0, len(message.fields), 10):
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_slack_escape(value)}", 2000)}
            for label, value in message.fields[start:start + 10]]})
    for problem, step in message.problems[:20]:
        label = "Error" if message.outcome == "failure" else "Warning"
        text = f"*{label}:* {_slack_escape(problem)}" + \
            (f"\n*Next step:* {_slack_escape(step)}" if step else "")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
    color = f"#{COLORS.get(message.outcome, 0x888888):06x}"
    return {"text": _cut(_slack_escape(message.title), 3000),
            "attachments": [{"color": color, "fallback": _cut(_slack_escape(message.text()), 3000),
                             "blocks": blocks}]}


def discord_payload(message: Message) -> Dict[str, Any]:
    """Webhook JSON: ``content`` plus one embed (Discord's limits: 256-character title,
    25 fields of 1024 characters, 4096-character description)."""
    description = "\n\n".join(
        (f"**{'Error' if message.outcome == 'failure' else 'Warning'}:** {_discord_escape(problem)}"
         + (f"\n**Next step:** {_discord_escape(step)}" if step else ""))
        for problem, step in message.problems)
    embed = {"title": _cut(message.title, 256),
             "color": COLORS.get(message.outcome, 0x888888),
             "fields": [{"name": label, "value": _cut(_discord_escape(value) or "-", 1024),
                         "inline": label not in ("Location", "Target")}
                        for label, value in message.fields[:25]],
             "timestamp": message.at}
    if description:
        embed["description"] = _cut(description, 4096)
    return {"content": _cut(f"{ICONS.get(message.outcome, '')} {message.title}", 2000),
            "embeds": [embed], "allowed_mentions": {"parse": []}}


def email_message(settings, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[sandstone-backup] {message.title}"
    mail["From"] = settings.get("EMAIL_FROM") or f"sandstone-backup@{socket.getfqdn()}"
    mail["To"] = ", ".join(recipients(settings))
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=socket.getfqdn())
    mail["X-Sandstone-Outcome"] = message.outcome
    mail.set_content(message.text())
    return mail


# ---------------------------------------------------------------- sending

@dataclass
class Delivery:
    channel: str  # slack | discord | email
    ok: bool
    attempts: int
    error: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


class _Failed(Exception):
    """A failure already worded for the log: a rejected request, a refused login ..."""


class _Retry(_Failed):
    """A failure that may pass: try again after a pause."""

    def __init__(self, text: str, wait: Optional[float] = None) -> None:
        super().__init__(text)
        self.wait = wait


def _scrub(text: str, secrets: List[str]) -> str:
    """Error texts from urllib/http.client can quote the URL; it carries the secret token."""
    for secret in secrets:
        if secret and len(secret) >= 4:  # never a bare "/" that would mangle every path
            text = text.replace(secret, "<secret>")
    return text


def _attempt(channel: str, send: Callable[[], None], secrets: List[str]) -> Delivery:
    for number in range(1, ATTEMPTS + 1):
        try:
            send()
            return Delivery(channel, True, number)
        except _Retry as exc:
            error = _scrub(str(exc), secrets)
            if number == ATTEMPTS:
                return Delivery(channel, False, number, error)
            pause = exc.wait if exc.wait is not None else BACKOFF_SECONDS[min(number, len(BACKOFF_SECONDS)) - 1]
            log.info("notification by %s failed (%s); trying again in %.1fs", channel, error, pause)
            time.sleep(pause)
        except _Failed as exc:  # permanent: will not pass by trying again
            return Delivery(channel, False, number, _scrub(str(exc), secrets))
        except Exception as exc:  # anything unforeseen: still never out of the hook
            return Delivery(channel, False, number,
                            _scrub(f"{type(exc).__name__}: {exc}", secrets))
    return Delivery(channel, False, ATTEMPTS, "not sent")  # pragma: no cover


def _url_secrets(url: str) -> List[str]:
    parts = urllib.parse.urlsplit(url)
    return [url, parts.path, parts.query, parts.netloc if "@" in parts.netloc else ""]


def post_json(url: str, payload: Dict[str, Any]) -> None:
    """One POST; raises _Retry for what may pass, another exception for what will not."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise _Failed("the webhook URL is not an https:// URL")
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip()
        text = f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
        if exc.code == 429 or exc.code >= 500:
            wait = exc.headers.get("Retry-After") if exc.headers else None
            try:
                seconds = min(float(wait), TIMEOUT_SECONDS) if wait else None
            except ValueError:
                seconds = None
            raise _Retry(text, seconds) from None
        raise _Failed(text) from None
    except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):  # will not pass by waiting
            raise _Failed(f"TLS with {urllib.parse.urlsplit(url).hostname} failed: {reason}") from None
        raise _Retry(f"cannot reach {urllib.parse.urlsplit(url).hostname}: {reason}") from None


def recipients(settings) -> List[str]:
    return [part.strip() for part in str(settings.get("EMAIL_TO") or "").split(",") if part.strip()]


def email_enabled(settings) -> bool:
    enabled = settings.get("EMAIL_ENABLED")
    if enabled is None:
        return bool(settings.get("EMAIL_SMTP_HOST") and recipients(settings))
    return bool(enabled)


def send_email(settings, mail: EmailMessage) -> None:
    host = settings.get("EMAIL_SMTP_HOST")
    if not host or not recipients(settings):
        raise _Failed("EMAIL_ENABLED is true but EMAIL_SMTP_HOST or EMAIL_TO is empty")
    security = settings.get("EMAIL_SMTP_SECURITY") or "starttls"
    port = settings.get("EMAIL_SMTP_PORT") or {"tls": 465, "starttls": 587}.get(security, 25)
    ca_file = settings.get("EMAIL_SMTP_CA_FILE") or None
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise _Failed(f"EMAIL_SMTP_CA_FILE {ca_file} cannot be used ({exc})") from None
    try:
        if security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS,
                                                    context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            if security == "starttls":
                client.starttls(context=context)  # refuses to go on in clear text
                client.ehlo()
            if settings.get("EMAIL_SMTP_USER"):
                client.login(settings["EMAIL_SMTP_USER"], settings.get("EMAIL_SMTP_PASSWORD") or "")
            client.send_message(mail)
    except smtplib.SMTPConnectError as exc:  # a subclass of SMTPResponseException
        raise _Retry(f"cannot reach SMTP server {host}:{port}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error
        text = f"SMTP {exc.smtp_code}: " + (reply.decode("utf-8", "replace")
                                            if isinstance(reply, bytes) else str(reply))
        if 400 <= exc.smtp_code < 500:
            raise _Retry(text) from None
        raise _Failed(text) from None
    except (smtplib.SMTPServerDisconnected, ConnectionError,
            socket.timeout, TimeoutError) as exc:
        raise _Retry(f"cannot reach SMTP server {host}:{port}: {exc}") from None
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            raise _Failed(f"TLS with {host}:{port} failed: {exc}") from None
        raise _Retry(f"cannot reach SMTP server {host}:{port}: {exc}") from None


def send(settings, message: Message) -> List[Delivery]:
    """Send to every configured channel; never raises."""
    deliveries: List[Delivery] = []
    slack = settings.get("SLACK_WEBHOOK_URL")
    if slack:
        payload = slack_payload(message)
        deliveries.append(_attempt("slack", lambda: post_json(slack, payload), _url_secrets(slack)))
    discord = settings.get("DISCORD_WEBHOOK_URL")
    if discord:
        payload_d = discord_payload(message)
        deliveries.append(_attempt("discord", lambda: post_json(discord, payload_d),
                                   _url_secrets(discord)))
    if email_enabled(settings):
        try:
            mail = email_message(settings, message)
        except Exception as exc:  # a malformed EMAIL_FROM / EMAIL_TO
            deliveries.append(Delivery("email", False, 0, f"cannot build the mail: {exc}"))
        else:
            deliveries.append(_attempt("email", lambda: send_email(settings, mail),
                                       [settings.get("EMAIL_SMTP_PASSWORD") or ""]))
    return deliveries


def wanted(settings, record: Dict[str, Any]) -> bool:
    """Failures and warnings always need a person; successes only with NOTIFY_ON=always."""
    if record.get("dry_run"):
        return False
    return record.get("outcome") != "success" or settings.get("NOTIFY_ON") == "always"


def notification_hook(settings, record: Dict[str, Any]) -> None:
    """The monitor hook: notify, log what could not be sent, and put that failure in the
    audit log as its own record (the operation's record is already written)."""
    if not wanted(settings, record):
        return
    deliveries = send(settings, build_message(settings, record))
    record["notifications"] = [d.as_dict() for d in deliveries]
    failed = [d for d in deliveries if not d.ok]
    for delivery in failed:
        log.warning("notification by %s failed after %d attempt(s): %s (%s: %s)",
                    delivery.channel, delivery.attempts, delivery.error,
                    record.get("operation"), record.get("outcome"))
    if failed:
        audit.append(settings.get("LOG_DIR"), {
            "operation": "notify", "for_operation": record.get("operation"),
            "for_outcome": record.get("outcome"), "database": record.get("database"),
            "backup_id": record.get("backup_id"), "who": record.get("who"),
            "host": record.get("host"), "started_at": record.get("finished_at"),
            "finished_at": iso(utcnow()), "outcome": "failure",
            "error": "; ".join(f"{d.channel}: {d.error}" for d in failed),
            "hint": "check the notification settings (SLACK_WEBHOOK_URL, DISCORD_WEBHOOK_URL, "
                    "EMAIL_*) and that this host can reach them",
            "channels": [d.as_dict() for d in deliveries]})


monitor.HOOKS.append(notification_hook)
