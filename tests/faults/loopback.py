"""Stand-ins on 127.0.0.1 for the faults an outside party causes: a proxy in front of a real server
that can be switched to answering 500 or to refusing connections, and an endpoint that hangs.

Both run in threads of the test process and record what they saw, so a test can say what happened
on the wire (how many calls reached the real server, whether the portal gave up on a hung call)."""

import contextlib
import json
import select
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ..conftest import free_port

# Hop-by-hop headers, and those `requests` sets itself, are not relayed.
NOT_RELAYED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class Call:
    method: str
    path: str
    mode: str  # what the proxy did: "pass" (relayed), "error" (answered 500)
    status: int


class FaultyProxy:
    """A reverse proxy in front of `upstream`. Modes: "pass" relays every request; "error" answers
    500 without relaying (MLflow's database is gone, say); "refuse" closes the listening socket, so
    a connection is refused as if the server were down, and the port is bound again on "pass"."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.mode = "pass"
        self.calls: list[Call] = []
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.mode
                if mode == "error":
                    status, content, content_type = 500, b'{"error_code": "INTERNAL_ERROR"}', "application/json"
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_RELAYED}
                    answer = requests.request(
                        self.command, f"{proxy.upstream}{self.path}", data=body, headers=headers, timeout=30
                    )
                    status, content = answer.status_code, answer.content
                    content_type = answer.headers.get("Content-Type", "application/json")
                with proxy._lock:
                    proxy.calls.append(Call(self.command, self.path.split("?")[0], mode, status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_DELETE = _relay

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _open(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "error", "refuse")
        if mode == "refuse":
            self._close()
        elif self._server is None:
            self._open()
        self.mode = mode

    def calls_to(self, method: str, path_end: str, *, mode: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c for c in self.calls if c.method == method and c.path.endswith(path_end) and mode in (None, c.mode)
            ]


@contextlib.contextmanager
def faulty_proxy(upstream: str) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(upstream)
    proxy.set_mode("pass")
    try:
        yield proxy
    finally:
        proxy._close()


@dataclass
class Delivery:
    path: str
    answered: bool  # the endpoint answered; False: it hung until the caller hung up (or the end)
    caller_hung_up: bool
    held: float = 0.0  # seconds from reading the request to the caller hanging up (hung calls)


@dataclass
class HangingEndpoint:
    """An HTTP endpoint (a webhook receiver, a pipeline API) that reads each request and then, in
    "hang" mode, sends nothing until the caller closes the connection or the endpoint is stopped;
    in "trickle" mode answers 200 and then its body one byte every 0.2 s, as long as the caller
    reads; in "ok" mode answers 200 with a small JSON body. Every delivery is recorded."""

    port: int = field(default_factory=free_port)
    mode: str = "hang"
    deliveries: list[Delivery] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if endpoint.mode == "hang":
                    hung_up, since = False, time.monotonic()
                    while not endpoint.stopping.is_set():
                        readable, _, _ = select.select([self.connection], [], [], 0.1)
                        if readable and not self.connection.recv(1, 2):  # MSG_PEEK: b"" is the caller closing
                            hung_up = True
                            break
                    endpoint.deliveries.append(
                        Delivery(self.path, answered=False, caller_hung_up=hung_up, held=time.monotonic() - since)
                    )
                    return
                if endpoint.mode == "trickle":
                    since = time.monotonic()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        while not endpoint.stopping.is_set():
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:  # the caller hung up
                        pass
                    endpoint.deliveries.append(
                        Delivery(self.path, answered=False, caller_hung_up=True, held=time.monotonic() - since)
                    )
                    return
                body = json.dumps({"run_id": f"run-{len(endpoint.deliveries) + 1}", "state": "PENDING"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                endpoint.deliveries.append(Delivery(self.path, answered=True, caller_hung_up=False))

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextlib.contextmanager
def hanging_endpoint() -> Iterator[HangingEndpoint]:
    endpoint = HangingEndpoint()
    server = ThreadingHTTPServer(("127.0.0.1", endpoint.port), endpoint._handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield endpoint
    finally:
        endpoint.stopping.set()
        server.shutdown()
        server.server_close()


def observed(request: pytest.FixtureRequest, title: str, lines: dict[str, object]) -> None:
    """Print what a fault scenario observed, past pytest's output capture, so CI's log keeps it."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    text = f"\n[faults] {title}\n" + "".join(f"    {key}: {value}\n" for key, value in lines.items())
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(text, flush=True)
