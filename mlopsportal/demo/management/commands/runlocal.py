"""`make run`: the whole portal on one machine, supervised from one terminal.

Starts (or reuses) a local MLflow server, migrates and collects static files while it boots, starts
the web server (gunicorn) while the demo loads, then a Celery worker and Celery beat. Output of
every process is prefixed with its name. Ctrl-C, SIGTERM, or any process dying stops all of them:
each runs in its own process group, so its children go too.

The order is what makes a newcomer's first start quick on two cores: nothing waits for a server
that is still booting when it could be doing other work, and the migrations and static files run in
this process, which has already paid Django's start-up. The worker and beat start after the demo,
so they never race the demo's own writes and sync on the SQLite file.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from mlopsportal.demo.mlflow_server import LEAN_ENV, mlflow_server_argv
from mlopsportal.demo.steps import DEMO_USERS, demo_load, demo_passwords

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
STOP_GRACE_SECONDS = 10


class Supervisor:
    def __init__(self, write: Any) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.write = write

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: we stop it and all its children
        )
        self.processes[name] = process
        threading.Thread(target=self._relay, args=(name, process.stdout), daemon=True).start()

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self.write(f"{name:>7} | {line.decode(errors='replace').rstrip()}")

    def first_exited(self) -> str | None:
        return next((name for name, p in self.processes.items() if p.poll() is not None), None)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # A server's workers may outlive their parent for a moment; take the whole group down.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def _wait_until(url: str, *, seconds: float, supervisor: Supervisor, name: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if supervisor.first_exited() == name:
            raise CommandError(f"{name} exited before it answered at {url}; see its output above.")
        time.sleep(0.3)
    raise CommandError(f"{name} did not answer at {url} within {seconds:.0f} s.")


class Command(BaseCommand):
    help = "Run MLflow, a Celery worker, Celery beat and the web server together (what `make run` does)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORTAL_PORT", "8000")))
        parser.add_argument("--skip-demo", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        supervisor = Supervisor(write=lambda line: (self.stdout.write(line), self.stdout.flush()))
        # Ctrl-C and SIGTERM (e.g. from a process manager) both stop everything. SIGINT is set
        # explicitly: a shell that starts us in the background makes it ignored, and Python keeps
        # an inherited "ignore" instead of raising KeyboardInterrupt.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            self._run(supervisor, options)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            # A second Ctrl-C while the processes stop would abort stop_all and leave the rest
            # running; the stop is bounded by STOP_GRACE_SECONDS anyway.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            supervisor.stop_all()
            self.stdout.write("All processes stopped.")

    def _run(self, supervisor: Supervisor, options: dict[str, Any]) -> None:
        python = sys.executable
        bin_dir = Path(python).parent
        var_dir = settings.VAR_DIR
        tracking = urlparse(settings.MLFLOW_TRACKING_URI)

        mlflow_health = f"{settings.MLFLOW_TRACKING_URI}/health"
        start_mlflow = tracking.hostname in LOOPBACK_HOSTS and not _answers(mlflow_health)
        if start_mlflow:
            artifacts = var_dir / "mlartifacts"
            artifacts.mkdir(exist_ok=True)
            supervisor.start(
                "mlflow",
                mlflow_server_argv(port=tracking.port or 5000, backend_dir=var_dir, artifacts_dir=artifacts),
                env=LEAN_ENV,
            )
        else:
            self.stdout.write(f"Using the MLflow server at {settings.MLFLOW_TRACKING_URI}")

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        address = f"{options['host']}:{options['port']}"
        supervisor.start("web", self._gunicorn_argv(bin_dir, address))
        if start_mlflow:
            _wait_until(mlflow_health, seconds=90, supervisor=supervisor, name="mlflow")

        if not options["skip_demo"]:
            # The demo's retrain trigger points here, so the tour's "Trigger retraining" is answered.
            supervisor.start("pipeline", [python, str(settings.BASE_DIR / "manage.py"), "demo_pipeline"])
            demo_load(progress=self.stdout.write)

        celery = [python, "-m", "celery", "-A", "mlopsportal"]
        supervisor.start(
            "worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2", "--hostname", "local@%h"]
        )
        supervisor.start(
            "beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", str(var_dir / "celerybeat-schedule")]
        )
        _wait_until(f"http://{address}/login/", seconds=60, supervisor=supervisor, name="web")
        self._banner(address)

        while (exited := supervisor.first_exited()) is None:
            time.sleep(0.5)
        raise CommandError(f"{exited} stopped unexpectedly (exit code {supervisor.processes[exited].returncode}).")

    @staticmethod
    def _gunicorn_argv(bin_dir: Path, address: str) -> list[str]:
        return [
            str(bin_dir / "gunicorn"),
            "mlopsportal.wsgi",
            "--config",
            "python:mlopsportal.gunicorn_conf",
            "--bind",
            address,
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]

    def _banner(self, address: str) -> None:
        lines = [
            "",
            f"  MLOps Portal is up:  http://{address}/",
            f"  MLflow:              {settings.MLFLOW_TRACKING_URI}",
            "  Demo logins:",
        ]
        passwords = demo_passwords()
        lines += [f"    {u.role.value:<9} {u.username:<10} {passwords[u.username]}" for u in DEMO_USERS]
        lines += ["  Ctrl-C stops everything.", ""]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
