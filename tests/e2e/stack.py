"""The whole portal as people use it, for the browser journeys: its own MLflow server, a database of
its own (PostgreSQL when DATABASE_URL names one, else SQLite), migrate + collectstatic + the demo,
a Celery worker and gunicorn, each a real process on loopback.

The stack is separate from pytest-django's test database on purpose: the journeys change state
(an alias moves in MLflow, an alert is acknowledged) that the other tests must never see, and the
demo is loaded once for all three journeys instead of once per test.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

from ..conftest import REPO_ROOT, MlflowServer, child_environ, free_port, stop_process_group, wait_for_http

BIN = Path(sys.executable).parent


@dataclass
class Stack:
    base_url: str
    mlflow_uri: str
    env: dict[str, str]
    work_dir: Path
    logins: dict[str, str] = field(default_factory=dict)
    pipeline_calls: list[dict] = field(default_factory=list)

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,  # the demo logs models to MLflow: minutes on a busy 2-core machine
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.work_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _database_url(work_dir: Path) -> tuple[str, str | None]:
    """(url for the stack, admin url to drop it afterwards or None for SQLite)."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{work_dir / 'portal.sqlite3'}", None
    parsed = urlparse(configured)
    name = f"{parsed.path.lstrip('/') or 'portal'}_e2e_stack"
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}")), admin


def _drop_database(url: str, admin: str) -> None:
    name = urlparse(url).path.lstrip("/")
    with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start(name: str, argv: list[str], stack: Stack) -> subprocess.Popen:
    log = (stack.work_dir / f"{name}.log").open("ab")
    return subprocess.Popen(
        argv, cwd=REPO_ROOT, env=stack.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


SECOND_REVIEWER = "rita"


def _pipeline(calls: list[dict]) -> ThreadingHTTPServer:
    """Stands in for the team's training pipeline: records each retrain request and answers 202."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append({"path": self.path, "body": body.decode(errors="replace")})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def portal_stack() -> Iterator[Stack]:
    work_dir = Path(tempfile.mkdtemp(prefix="portal-e2e-"))
    mlflow = MlflowServer(uri="", port=free_port(), backend_dir=work_dir)
    mlflow.uri = f"http://127.0.0.1:{mlflow.port}"
    database_url, admin_url = _database_url(work_dir)
    port = free_port()
    env = child_environ(drop_prefixes=("PYTEST_", "DJANGO_"))
    env |= {
        "DJANGO_SETTINGS_MODULE": "mlopsportal.settings",
        "DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(work_dir / "var"),
        "DJANGO_STATIC_ROOT": str(work_dir / "static"),
        "MLFLOW_TRACKING_URI": mlflow.uri,
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        # Our own queue: a `make run` worker or another test session on the same broker never
        # takes the journeys' tasks, and our worker takes nobody else's.
        "CELERY_TASK_DEFAULT_QUEUE": f"portal-e2e-{uuid.uuid4().hex[:8]}",
        "PORTAL_PROMOTION_RETRY_BACKOFF": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(base_url=f"http://127.0.0.1:{port}", mlflow_uri=mlflow.uri, env=env, work_dir=work_dir)
    processes: list[subprocess.Popen] = []
    pipeline = _pipeline(stack.pipeline_calls)
    try:
        mlflow.start()
        stack.manage("migrate", "--no-input", "--verbosity", "0")
        stack.manage("collectstatic", "--no-input", "--verbosity", "0")
        stack.manage("demo")
        stack.logins = json.loads((work_dir / "var" / "demo_logins.json").read_text())
        stack.logins[SECOND_REVIEWER] = f"e2e-{uuid.uuid4().hex}"
        stack.manage(
            "add_user",
            SECOND_REVIEWER,
            "--role",
            "reviewer",
            "--role",  # a reviewer who also trains models, and so may request promotions
            "engineer",
            "--name",
            "Rita Reviewer",
            "--password-stdin",
            stdin=stack.logins[SECOND_REVIEWER] + "\n",
        )
        # Promotions are requested by members of the model's project: Rita is on the churn team.
        stack.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from registry.models import Project; "
            "Project.objects.get(slug='churn-prediction').memberships.get_or_create("
            f"user=get_user_model().objects.get(username={SECOND_REVIEWER!r}), defaults={{'role': 'member'}})",
        )
        # The demo leaves its retrain trigger off, on a closed port; the journeys switch it on, here.
        pipeline_url = f"http://127.0.0.1:{pipeline.server_address[1]}/pipelines/churn/retrain"
        stack.manage(
            "shell",
            "-c",
            "from monitoring.models import RetrainTrigger; "
            f"RetrainTrigger.objects.update(url={pipeline_url!r}, is_active=True)",
        )
        processes.append(
            _start(
                "worker",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "mlopsportal",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--pool",
                    "threads",
                    "--hostname",
                    f"e2e-{port}@%h",
                ],
                stack,
            )
        )
        processes.append(
            _start(
                "web",
                [
                    str(BIN / "gunicorn"),
                    "mlopsportal.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--threads",
                    "8",
                    "--access-logfile",
                    "-",
                ],
                stack,
            )
        )
        wait_for_http(f"{stack.base_url}/login/", seconds=60, process=processes[-1])
        yield stack
    finally:
        for process in processes:
            stop_process_group(process)
        mlflow.stop()
        pipeline.shutdown()
        shutil.rmtree(work_dir, ignore_errors=True)
        if admin_url is not None:
            _drop_database(database_url, admin_url)
