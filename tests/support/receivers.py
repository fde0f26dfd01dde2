"""Real receivers for notifications, on free loopback ports: an HTTP server that records
webhook requests (Slack- and Discord-shaped JSON) and an aiosmtpd SMTP server that records
mail, plain, with STARTTLS or with implicit TLS (a self-signed certificate made here)."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tests.support.pgserver import free_port


# ---------------------------------------------------------------- webhooks

@dataclass
class Request:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class WebhookReceiver:
    """Records every request; answers 200 "ok" (Slack's answer), or the statuses queued
    with ``fail_next`` first."""

    def __init__(self) -> None:
        self.requests: List[Request] = []
        self._statuses: List[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Request("POST", self.path, dict(self.headers), body))
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._statuses.extend(statuses)

    def on(self, path: str) -> List[Request]:
        return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


# ---------------------------------------------------------------- SMTP

@dataclass
class Mail:
    mail_from: str
    rcpt_tos: List[str]
    message: email.message.EmailMessage
    tls: bool
    login: Optional[str]

    @property
    def body(self) -> str:
        return self.message.get_content()


@dataclass
class SelfSignedCert:
    cert_file: Path
    key_file: Path


def make_self_signed_cert(folder: Path) -> SelfSignedCert:
    """A certificate for 127.0.0.1 / localhost that the client is told to trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandstone test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return SelfSignedCert(cert_file, key_file)


class SMTPReceiver:
    """aiosmtpd on a free loopback port. ``security``: none | starttls | tls. With
    ``users`` ({login: password}) it requires AUTH and rejects wrong passwords."""

    def __init__(self, security: str = "none", cert: Optional[SelfSignedCert] = None,
                 users: Optional[Dict[str, str]] = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mails: List[Mail] = []
        self.port = free_port()
        self.security = security
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                message = email.message_from_bytes(envelope.original_content or envelope.content,
                                                   policy=email.policy.default)
                tls = session.ssl is not None or \
                    server.transport.get_extra_info("ssl_object") is not None
                login = session.auth_data if session.authenticated else None
                receiver.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message,
                                           tls, login))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            password = auth_data.password.decode() if isinstance(auth_data.password, bytes) \
                else auth_data.password
            ok = users is not None and users.get(login) == password
            return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

        kwargs: Dict[str, Any] = {}
        context = None
        if security != "none":
            assert cert is not None, "TLS needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert.cert_file), str(cert.key_file))
        if security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=security == "starttls")
        # (with implicit TLS aiosmtpd warns that AUTH does not require TLS: it only counts
        # STARTTLS, but the whole session is encrypted; the test filters that warning)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     ssl_context=context if security == "tls" else None, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_receiver():
    receiver = SMTPReceiver("none")
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_cert(tmp_path) -> SelfSignedCert:
    return make_self_signed_cert(tmp_path / "tls")


@pytest.fixture
def smtp_factory():
    """Start receivers with other security settings; stopped after the test."""
    started: List[SMTPReceiver] = []

    def start(security: str = "none", cert: Optional[SelfSignedCert] = None,
              users: Optional[Dict[str, str]] = None) -> SMTPReceiver:
        receiver = SMTPReceiver(security, cert, users)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0
