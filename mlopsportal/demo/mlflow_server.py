"""How the portal starts a local MLflow tracking server: `make run`, the tests and the benchmarks
all use this one command line, so they run the same lean server."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests

# The job runner is what makes a default server slow to start (10-15 s) and large (~2 GB).
LEAN_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_loopback_port() -> int:
    """A port nothing listens on at the moment; another process may still take it before we do."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlflow_server_argv(*, port: int, backend_dir: Path, artifacts_dir: Path | None = None) -> list[str]:
    """One worker, SQLite backend and artifacts under `backend_dir`, listening on loopback only."""
    return [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{backend_dir / 'mlflow.sqlite3'}",
        "--artifacts-destination",
        str(artifacts_dir or backend_dir / "artifacts"),
        "--workers",
        "1",
    ]


def mlflow_server_start(
    *, port: int, backend_dir: Path, log: IO[bytes] | int = subprocess.DEVNULL, seconds: float = 120
) -> tuple[subprocess.Popen, str]:
    """Start a server in its own process group and wait until /health answers."""
    uri = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        mlflow_server_argv(port=port, backend_dir=backend_dir),
        env={**os.environ, **LEAN_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MLflow server exited with {process.returncode}")
        try:
            if requests.get(f"{uri}/health", timeout=1).status_code == 200:
                return process, uri
        except requests.RequestException:
            pass
        time.sleep(0.25)
    mlflow_server_stop(process)
    raise TimeoutError(f"MLflow server did not answer on {uri} within {seconds:.0f} s")


def mlflow_server_stop(process: subprocess.Popen, *, grace: float = 10) -> None:
    """Stop a server from `mlflow_server_start` and its uvicorn workers: SIGTERM to its process
    group, then SIGKILL to whatever of the group is left after `grace` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # A worker may outlive its parent for a moment; take the whole group down.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def mlflow_server_running(
    *, backend_dir: Path, log: IO[bytes] | int = subprocess.DEVNULL, seconds: float = 120
) -> Iterator[str]:
    """A server on a free loopback port with its store under `backend_dir`; yields its URI and
    stops it afterwards. Removing `backend_dir` is left to the caller."""
    process, uri = mlflow_server_start(port=free_loopback_port(), backend_dir=backend_dir, log=log, seconds=seconds)
    try:
        yield uri
    finally:
        mlflow_server_stop(process)
