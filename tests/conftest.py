"""Shared fixtures: a real MLflow server, a real Celery worker, users for every role."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from celery.signals import before_task_publish, task_postrun

from mlopsportal.demo.mlflow_server import LEAN_ENV, mlflow_server_argv
from registry.mlflow_client import mlflow_process_state_kept
from registry.roles import Role

from .factories import ProjectFactory, UserFactory
from .waiting import TaskLedger, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # The hashed-name manifest is built by collectstatic, a deployment step (`make run` does it and
    # tests/test_make_run.py covers it); unit tests render pages from the source files instead.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Factories create many users; a deliberately slow password hash would dominate the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate-limit counters in this process only: tests share 127.0.0.1 and reuse user ids, so a
    # cache shared across test sessions would carry one test's requests into another's budget.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def child_environ(*, drop: set[str] = frozenset(), drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment for a child process, without MLflow's own variables: MLflow's
    fluent API writes MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI into os.environ, so a child
    would otherwise register models on whichever server a test last pointed MLflow at."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith(("MLFLOW_", *drop_prefixes))
    }


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def browser_page_as(user, *, live_server, client, width: int = 1280) -> Iterator[object]:
    """A headless Chromium page on the live server, logged in as `user` through the test client's
    session; page errors are collected in `page.errors`."""
    from django.conf import settings as django_settings
    from playwright.sync_api import sync_playwright

    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.add_cookies(
                [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
            page = context.new_page()
            page.errors = []
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            yield page
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage_py(env: dict[str, str], *args: str) -> str:
    """`python manage.py <args>` in a child process with `env` (a stack of a test's own); its output."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def wait_for_http(url: str, *, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop_process_group(process: subprocess.Popen, *, grace: float = 10) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# Webhook tests have MLflow deliver to a portal on plain-HTTP loopback, which MLflow refuses by
# default; and MLflow caches the webhook list per event for a minute, longer than a test waits.
WEBHOOKS_TO_LOOPBACK = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_CACHE_TTL": "0",
}


@dataclass
class MlflowServer:
    uri: str
    port: int
    backend_dir: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.backend_dir / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            mlflow_server_argv(port=self.port, backend_dir=self.backend_dir),
            env={**os.environ, **LEAN_ENV, **WEBHOOKS_TO_LOOPBACK},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_http(f"{self.uri}/health", seconds=90, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None
            self.log.close()


@contextlib.contextmanager
def mlflow_server_running(prefix: str = "portal-mlflow-") -> Iterator[MlflowServer]:
    """A real MLflow tracking server on a free loopback port, with a store of its own, stopped and
    removed afterwards."""
    backend_dir = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    server = MlflowServer(uri=f"http://127.0.0.1:{port}", port=port, backend_dir=backend_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(backend_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    """One real MLflow tracking server for the whole test session."""
    with mlflow_server_running() as server:
        yield server


@pytest.fixture
def mlflow_uri(mlflow_server: MlflowServer, settings) -> str:
    """Points the portal at the session's MLflow server for one test."""
    if mlflow_server.process is None:  # a test stopped it to see an outage; bring it back
        mlflow_server.start()
    settings.MLFLOW_TRACKING_URI = mlflow_server.uri
    return mlflow_server.uri


@pytest.fixture
def throttle_rates(settings):
    """Sets API rate-limit scopes for one test, e.g. throttle_rates(user="3/minute"); None switches
    a scope off (registry/throttling.py reads the rates on every request)."""

    def set_rates(**scopes: str | None) -> None:
        defaults = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**defaults, **scopes}}

    return set_rates


@pytest.fixture(autouse=True)
def rate_limits_fresh() -> None:
    """Every test starts with full rate-limit budgets."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def mlflow_globals_restored() -> Iterator[None]:
    """Whatever a test points MLflow's fluent API at (module globals and the environment
    variables MLflow mirrors them into) is put back afterwards, so no later test or child process
    talks to a server it did not choose."""
    with mlflow_process_state_kept():
        yield


@pytest.fixture(scope="session")
def mlflow_client(mlflow_server: MlflowServer):
    """MLflow's own client on the session's server, for tests that log runs and register models.
    Tests name what they create uniquely: the server is shared by the whole session."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(mlflow_server.uri)
    return MlflowClient(tracking_uri=mlflow_server.uri)


@pytest.fixture(scope="session")
def celery_queue() -> str:
    """A queue of our own, so a `make run` worker on the same broker never takes the tests' tasks."""
    return f"portal-tests-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def celery_worker(transactional_db, celery_queue: str) -> Iterator[object]:
    """A real Celery worker (threads in this process) consuming from the configured broker.
    Tests using it see data through committed transactions, hence transactional_db."""
    from celery.contrib.testing.worker import start_worker

    from mlopsportal.celery import app

    app.conf.task_default_queue = celery_queue
    app.conf.task_always_eager = False
    # The shadow replay's own queue (settings.SHADOW_QUEUE), made ours too.
    shadow_queue = f"{celery_queue}-shadow"
    app.conf.task_routes = {"monitoring.tasks.shadow_evaluation_execute": {"queue": shadow_queue}}
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        loglevel="WARNING",
        queues=[celery_queue, shadow_queue],
        shutdown_timeout=30,
    ) as worker:
        yield worker


def _user(role: Role | None, username: str):
    return UserFactory(username=username, roles=[role] if role else [])


@pytest.fixture
def manager(db):
    return _user(Role.MANAGER, "maya")


@pytest.fixture
def reviewer(db):
    return _user(Role.REVIEWER, "ravi")


@pytest.fixture
def engineer(db):
    return _user(Role.ENGINEER, "erin")


@pytest.fixture
def portal_admin(db):
    return _user(Role.ADMIN, "ada")


@pytest.fixture
def outsider(db):
    """An engineer who belongs to no project."""
    return _user(Role.ENGINEER, "otto")


@pytest.fixture
def private_project(engineer, reviewer, manager):
    project = ProjectFactory(name="Private pilot", visibility="private")
    project.memberships.create(user=engineer, role="lead")
    project.memberships.create(user=reviewer, role="member")
    project.memberships.create(user=manager, role="member")
    return project


@pytest.fixture
def worker_drained(celery_worker) -> Iterator[Callable[[], None]]:
    """Call it to wait until the worker has run every task queued since the test began (and every
    task those queued); then assert that no duplicate arrived."""
    ledger = TaskLedger()
    before_task_publish.connect(ledger.on_publish, weak=False)
    task_postrun.connect(ledger.on_finish, weak=False)

    def wait() -> None:
        wait_for(ledger.drained, timeout=120, message="the worker running every task queued")

    try:
        yield wait
    finally:
        before_task_publish.disconnect(ledger.on_publish)
        task_postrun.disconnect(ledger.on_finish)
