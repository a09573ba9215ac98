"""Bodies over a real HTTP connection, through gunicorn as `make run` and production serve the portal:
chunked bodies are read, and a connection stays usable after an answer given before the body was
read (mlopsportal/request_body.py). Django's test client cannot show either: it has no sockets.

gunicorn runs against this test's database (committed data, hence transactional_db)."""

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from mlopsportal.demo.management.commands.runlocal import Command as RunLocal
from monitoring.models import InferenceBatch
from tests.conftest import REPO_ROOT, child_environ, free_port, stop_process_group
from tests.monitoring.conftest import reference_frame
from tests.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LIMIT = 400_000  # the server's batch limit here, so "too large" needs no 50 MB body
BIG_UNREAD_BODY = b"feature_a,feature_b,segment\n" + b"1.0,2.0,north\n" * 20_000  # 280 KB: over gunicorn's 64 KB drain


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def portal_url(monitoring_storage: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = child_environ(drop_prefixes=("PYTEST_", "DJANGO_")) | {
        "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
        "DATABASE_URL": _database_url(),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_MONITORING_STORAGE_DIR": str(monitoring_storage),
        "PORTAL_MONITORING_MAX_BATCH_BYTES": str(LIMIT),
        "PORTAL_API_TOKEN_FAILURE_RATE": "",  # this test sends many wrong tokens on purpose
    }
    argv = RunLocal._gunicorn_argv(Path(sys.executable).parent, f"127.0.0.1:{port}")  # make run's settings
    argv[argv.index("--workers") + 1] = "1"
    server = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_answering(port, server)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process_group(server)


def _wait_until_answering(port: int, server: subprocess.Popen) -> None:
    def answering() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn on port {port} exited with {server.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/me/", timeout=30)  # 401 is an answer
        except requests.ConnectionError:
            return False
        return True

    wait_for(answering, timeout=60, interval=0.25, message=f"gunicorn answering on port {port}")


def _answer(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
    response = conn.getresponse()
    return response.status, response.read()


def test_a_pooled_connection_survives_answers_given_before_the_body_was_read(portal_url, monitor):
    conn = http.client.HTTPConnection(portal_url, timeout=30)
    early_answers = []
    for attempt in range(12):
        # A wrong ingest token, an unknown monitor, a wrong API token: each answered unread.
        path, auth = [
            (f"/api/v1/monitors/{monitor.pk}/batches/", "Bearer mpi_wrong"),
            (f"/api/v1/monitors/{monitor.pk + 1000}/batches/", "Bearer mpi_wrong"),
            ("/api/v1/monitors/", "Token mpa_wrong"),
        ][attempt % 3]
        conn.request("POST", path, BIG_UNREAD_BODY, {"Content-Type": "text/csv", "Authorization": auth})
        early_answers.append(_answer(conn)[0])
        conn.request("GET", "/api/v1/me/")  # the same socket, as a pooled client would reuse it
        assert _answer(conn)[0] == 401, f"the connection broke after early answer {attempt + 1}"
    assert early_answers == [401, 404, 401] * 4


def test_a_chunked_batch_is_read_and_stored(portal_url, monitor, ingest_key):
    rows = reference_frame(rows=500).to_csv(index=False).encode()
    chunks = (rows[i : i + 4096] for i in range(0, len(rows), 4096))
    conn = http.client.HTTPConnection(portal_url, timeout=30)

    conn.request(
        "POST",
        f"/api/v1/monitors/{monitor.pk}/batches/",
        chunks,
        {"Content-Type": "text/csv", "Authorization": f"Bearer {ingest_key}"},
        encode_chunked=True,
    )
    status, body = _answer(conn)

    assert status == 201, body
    assert InferenceBatch.objects.get(monitor=monitor).rows == 500


def test_a_chunked_body_over_the_limit_gets_413_and_nothing_is_stored(portal_url, monitor, ingest_key):
    conn = http.client.HTTPConnection(portal_url, timeout=30)
    conn.request(
        "POST",
        f"/api/v1/monitors/{monitor.pk}/batches/",
        (b"x" * 100_000 for _ in range(6)),
        {"Content-Type": "text/csv", "Authorization": f"Bearer {ingest_key}"},
        encode_chunked=True,
    )
    status, body = _answer(conn)

    assert status == 413
    assert b"larger than" in body
    assert not InferenceBatch.objects.exists()


def test_a_body_cut_short_by_the_client_is_refused_and_nothing_is_stored(portal_url, monitor, ingest_key):
    host, port = portal_url.split(":")
    body = reference_frame(rows=200).to_csv(index=False).encode()
    head = (
        f"POST /api/v1/monitors/{monitor.pk}/batches/ HTTP/1.1\r\nHost: {portal_url}\r\n"
        f"Authorization: Bearer {ingest_key}\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {len(body) * 10}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)  # the client dies with nine tenths of its body unsent
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Content-Length announced" in answer
    assert not InferenceBatch.objects.exists()


def test_a_pooled_connection_left_idle_between_requests_is_still_served(portal_url):
    """A client that waits between requests (a serving system posting every 5 s) reuses its pooled
    connection: at gunicorn's default keep-alive (2 s) the server had closed it, and a request sent
    as it closed was lost (mlopsportal/gunicorn_conf.py)."""
    host, port = portal_url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(2):
            conn.request("GET", "/api/v1/me/")
            status, _body = _answer(conn)
            assert status == 401
            sock = conn.sock
            time.sleep(3)
        conn.request("GET", "/api/v1/me/")
        assert _answer(conn)[0] == 401
        assert conn.sock is sock, "the same connection served every request"
    finally:
        conn.close()
