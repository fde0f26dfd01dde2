"""A real S3-protocol server for the tests: moto's standalone server on a free loopback
port, a fresh bucket per test, and a small HTTP proxy in front of it that can answer 500
or hold requests, to show retries, clear failures and kills in the middle of an upload."""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, List, Optional

import pytest

ACCESS = {"AWS_ACCESS_KEY_ID": "sandstone-test", "AWS_SECRET_ACCESS_KEY": "sandstone-test-secret",
          "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "S3Server":
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, **ACCESS))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto_server exited at start")
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start within 30s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def client(self, endpoint: Optional[str] = None):
        import boto3
        from botocore.config import Config
        return boto3.session.Session(
            aws_access_key_id=ACCESS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ACCESS["AWS_SECRET_ACCESS_KEY"]).client(
            "s3", region_name="us-east-1", endpoint_url=endpoint or self.endpoint,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


class FaultProxy:
    """Forwards HTTP to moto. ``fail_first`` answers 500 to that many requests, ``fail_always``
    to every one; ``hold`` (a predicate on method and path) keeps matching requests waiting
    until ``release()``. ``seen`` records every request as 'METHOD path'."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.fail_first = 0
        self.fail_always = False
        self.hold: Optional[Callable[[str, str], bool]] = None
        self.tamper: Optional[Callable[[bytes], bytes]] = None  # applied to PUT bodies
        self.drop_puts = 0  # this many PUTs get their connection cut instead of an answer
        self.dropped = 0
        self.held = threading.Event()
        self.released = threading.Event()
        self.seen: List[str] = []
        self.failed = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return data
                        data += chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                with proxy.lock:
                    proxy.seen.append(f"{self.command} {self.path}")
                    fail = proxy.fail_always or proxy.failed < proxy.fail_first
                    if fail:
                        proxy.failed += 1
                with proxy.lock:
                    drop = self.command == "PUT" and proxy.dropped < proxy.drop_puts
                    if drop:
                        proxy.dropped += 1
                if drop:  # the upload is cut off: no answer, the connection just closes
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fail:
                    payload = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError"
                               b"</Code><Message>injected by the test proxy</Message></Error>")
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if proxy.tamper and self.command == "PUT" and body:
                    body = proxy.tamper(body)
                if proxy.hold and proxy.hold(self.command, self.path):
                    proxy.held.set()
                    proxy.released.wait(60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "content-length", "connection")}
                headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                            self.send_header(key, value)
                    # HEAD answers carry the object's length without its bytes
                    length = answer.getheader("Content-Length") if self.command == "HEAD" \
                        else str(len(data))
                    self.send_header("Content-Length", length or "0")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    name = f"sandstone-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(s3_server):
    """A boto3 client straight to moto (no proxy), to inspect and damage objects."""
    return s3_server.client()


@pytest.fixture
def s3_env(cli_env, s3_server, s3_bucket):
    """The CLI's environment with an S3 copy configured the way an operator would."""
    env = {k: v for k, v in cli_env.items() if not k.startswith("AWS_")}
    env.update(ACCESS, S3_BUCKET=s3_bucket, S3_PREFIX="prod", S3_ENDPOINT_URL=s3_server.endpoint,
               S3_FORCE_PATH_STYLE="true", S3_MAX_ATTEMPTS="3")
    return env


@pytest.fixture
def fault_proxy(s3_server):
    proxy = FaultProxy(s3_server.port).start()
    yield proxy
    proxy.stop()
