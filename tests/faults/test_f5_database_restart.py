"""F5: PostgreSQL restarts under traffic.

A PostgreSQL cluster of the test's own (initdb on a free loopback port) holds a portal served by
gunicorn with `make run`'s configuration. Three clients post batches (each retried with its
Idempotency-Key until it is taken) and read the monitor over the API while the cluster is restarted
(`pg_ctl restart -m fast`). What must hold: a request the restart interrupts gets 503 with a JSON
message and Retry-After, never 500; every batch a client was told was taken is stored once, and no
file is left without its row; the portal answers again without a restart of its own processes
(the same gunicorn workers before and after). Before the 503, those requests got 500.

Needs PostgreSQL's server binaries and root (the cluster runs as the postgres user); skipped
elsewhere."""

import glob
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from mlopsportal.demo.management.commands.runlocal import Command as RunLocal
from tests.conftest import REPO_ROOT, child_environ, free_port, manage_py, stop_process_group
from tests.monitoring.conftest import reference_frame

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:]), "")
SETUP = """
import json
from monitoring.services.ingest_tokens import ingest_token_create
from monitoring.services.monitors import monitor_create
from registry.services import api_token_rotate
from tests.factories import ProjectFactory, UserFactory
from tests.monitoring.conftest import SCHEMA
admin = UserFactory(username="ops", is_staff=True, is_superuser=True)
monitor = monitor_create(actor=None, project=ProjectFactory(name="F5"), name="f5", model_name="churn",
                         alias="champion", expected_schema=SCHEMA)
print(json.dumps({"monitor": monitor.pk, "ingest": ingest_token_create(actor=None, monitor=monitor).key,
                  "api": api_token_rotate(user=admin)}))
"""


def as_postgres(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=True)


@pytest.fixture
def own_postgres(tmp_path):
    if not PG_BIN or shutil.which("runuser") is None:
        pytest.skip("needs PostgreSQL's server binaries and runuser")
    data = Path(f"/tmp/portal-f5-{uuid.uuid4().hex[:8]}")
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    port = free_port()
    try:
        as_postgres(f"{PG_BIN}/initdb", "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    except (subprocess.CalledProcessError, PermissionError) as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"cannot create a PostgreSQL cluster here: {exc}")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [f"{PG_BIN}/pg_ctl", "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w"]
    as_postgres(*pg_ctl, "start")
    as_postgres(f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(port), "portal")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/portal", pg_ctl
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", *pg_ctl, "-m", "immediate", "stop"], check=False)
        shutil.rmtree(data, ignore_errors=True)


def _answers(url: str, headers: dict[str, str]) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_requests_during_a_database_restart_fail_cleanly_and_the_portal_recovers_by_itself(own_postgres, tmp_path):
    database_url, pg_ctl = own_postgres
    store = tmp_path / "batches"
    env = child_environ(drop={"DATABASE_URL", "CELERY_BROKER_URL"}) | {
        "DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_MONITORING_STORAGE_DIR": str(store),
        "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing here talks to MLflow
    }

    def manage(*args: str) -> str:
        return manage_py(env, *args)

    manage("migrate", "--no-input")
    keys = json.loads(manage("shell", "-c", SETUP).strip().splitlines()[-1])
    address = f"127.0.0.1:{free_port()}"
    web = subprocess.Popen(
        RunLocal._gunicorn_argv(Path(sys.executable).parent, address),
        cwd=REPO_ROOT,
        env=env,
        stdout=(tmp_path / "web.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://{address}/api/v1/monitors/{keys['monitor']}"
        read_headers = {"Authorization": f"Token {keys['api']}"}
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/", read_headers):
            assert web.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()[-3000:]
            time.sleep(0.25)
        workers_before = children(web.pid)
        answers: list[tuple[float, str, int, dict, str]] = []  # when, what, status, body, Retry-After
        taken: list[str] = []
        stop = threading.Event()
        lock = threading.Lock()
        body = reference_frame(50, seed=5).to_csv(index=False)
        ingest_headers = {"Authorization": f"Bearer {keys['ingest']}", "Content-Type": "text/csv"}

        def record(what: str, response: requests.Response) -> None:
            try:
                content = response.json()
            except ValueError:
                content = {"not json": response.text[:200]}
            with lock:
                answers.append(
                    (time.monotonic(), what, response.status_code, content, response.headers.get("Retry-After", ""))
                )

        def client() -> None:
            session = requests.Session()
            while not stop.is_set():
                key = uuid.uuid4().hex
                for _ in range(60):  # a sender retries the same batch until it is taken
                    response = session.post(
                        f"{base}/batches/",
                        data=body,
                        timeout=30,
                        headers={**ingest_headers, "Idempotency-Key": key},
                    )
                    record("batch", response)
                    if response.status_code in (200, 201):
                        with lock:
                            taken.append(key)
                        break
                    time.sleep(0.2)
                record("read", session.get(f"{base}/", headers=read_headers, timeout=30))

        threads = [threading.Thread(target=client) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        restart_started = time.monotonic()
        as_postgres(*pg_ctl, "-m", "fast", "restart")
        restarted = time.monotonic()
        time.sleep(8)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        workers_after = children(web.pid)
    finally:
        stop_process_group(web)

    statuses = Counter(status for _, _, status, _, _ in answers)
    refused = [a for a in answers if a[2] == 503]
    after = [a for a in answers if a[0] > restarted + 3]
    print(
        f"\n[faults] F5 PostgreSQL restart ({restarted - restart_started:.1f} s) under 3 clients: {len(answers)} "
        f"answers {dict(statuses)}; {len(taken)} batches taken, each stored once; gunicorn workers unchanged"
    )
    assert set(statuses) <= {200, 201, 503}, [a for a in answers if a[2] not in (200, 201, 503)][:3]
    for _, _, _, content, retry_after in refused:
        assert content["error"]["code"] == "database_unavailable" and retry_after == "5", content
    assert after and all(status in (200, 201) for _, _, status, _, _ in after)  # recovered by itself
    assert workers_after == workers_before  # no process of the portal was restarted

    stored = json.loads(
        manage(
            "shell",
            "-c",
            "import json; from monitoring.models import InferenceBatch as B; "
            "print(json.dumps([[b.idempotency_key, b.file_name] for b in B.objects.all()]))",
        )
        .strip()
        .splitlines()[-1]
    )
    assert sorted(key for key, _ in stored) == sorted(taken)  # each taken batch once, nothing else
    files = sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())
    assert files == sorted(name for _, name in stored)  # no file without its row
