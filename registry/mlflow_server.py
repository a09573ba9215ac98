"""How the portal starts a local MLflow tracking server: `make run`, the tests and the benchmarks
all use this one command line, so they run the same lean server."""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

# The job runner is what makes a default server slow to start (10-15 s) and large (~2 GB).
LEAN_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


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
    process.kill()
    raise TimeoutError(f"MLflow server did not answer on {uri} within {seconds:.0f} s")
