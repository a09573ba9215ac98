"""The Python a shadow replay runs a model in.

"local" (the default): the worker's own interpreter and packages, what MLflow calls
`env_manager="local"`. Quick, and right when models are trained with the portal's own stack; where
the model's logged requirements pin other versions, the replay lists each mismatch.

"uv": a virtualenv built from the model's own logged environment (`python_env.yaml` and
`requirements.txt`) by MLflow's own environment handling, the code behind
`mlflow models prepare-env --env-manager uv`. Environments are kept under a root directory, keyed
by MLflow's hash of the requirements, and reused by every later replay of a model with the same
requirements: the first replay of a new set of requirements pays the build (seconds with uv's
cache warm, minutes when the packages must be downloaded), later ones nothing.

The build runs package installers, which run code from the packages the model's author named
(an sdist's build script), so it runs in a process of its own with a whitelisted environment like
the replay's: no database URL, secret key or MLflow credentials. It keeps what uv needs to reach a
package index: variables starting with UV_ (an index URL with a token in it reaches the build too),
the TLS certificate and proxy variables. It has a time limit, after which its process group is
killed and the half-built environment removed.

No Django here: `replay.replay` asks for the interpreter of each model it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ENV_MANAGERS = ("local", "uv")
# Added to MLflow's hash of the requirements, so these environments are never mistaken for ones
# `mlflow models serve` built in the same root (theirs may hold its extra serving packages).
ENV_ID = "portal-shadow"
COMPLETE_MARK = ".portal-shadow-complete"
OUTPUT_CHARS = 3000
# What a package index behind a proxy or a private certificate authority needs, and nothing else.
BUILD_PASSED_THROUGH = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
# Run in the build process: MLflow's own restore of a model's environment (python_env.yaml, or
# conda.yaml's pip part for models logged before MLflow 1.26). The shadow replay reads Parquet, so
# pyarrow is added when the model's requirements do not bring it (MLflow's full package does).
BUILD_SCRIPT = """
import sys
from mlflow.utils.virtualenv import _get_or_create_virtualenv
model_path, root, env_id = sys.argv[1:4]
_get_or_create_virtualenv(
    model_path, env_id=env_id, env_root_dir=root, env_manager="uv", pip_requirements_override=["pyarrow"]
)
"""


@dataclass(frozen=True)
class ModelEnvironments:
    manager: str = "local"  # one of ENV_MANAGERS
    root: Path | None = None  # where "uv" keeps its environments
    build_seconds: float = 900.0  # wall-clock limit of one environment's build


class EnvironmentUnavailable(Exception):
    """The model's environment could not be built; the message says why, with the build's output."""


@dataclass(frozen=True)
class ModelPython:
    executable: str  # the interpreter that runs child.py for this model
    note: str = ""  # for the evaluation: where the model ran, and what building its environment cost


def model_python(model_path: Path, environments: ModelEnvironments) -> ModelPython:
    """The interpreter for the model in `model_path`."""
    manager, root, seconds = environments.manager, environments.root, environments.build_seconds
    if manager == "local":
        return ModelPython(sys.executable)
    if manager != "uv" or root is None:
        raise EnvironmentUnavailable(f"Unknown environment manager {manager!r}, or no root for its environments.")
    from mlflow.utils.virtualenv import _VIRTUALENV_ENVS_DIR, _get_python_env, _get_virtualenv_name

    # Reads MLmodel, python_env.yaml and requirements.txt: files, no code of the model's.
    python_env = _get_python_env(Path(model_path))
    env_dir = root / _VIRTUALENV_ENVS_DIR / _get_virtualenv_name(python_env, Path(model_path), ENV_ID)
    root.mkdir(parents=True, exist_ok=True)
    described = f"Python {python_env.python} with the model's logged requirements"
    with open(root / ".build.lock", "w") as lock:
        # One build at a time per root: a second worker asking for the same environment waits and
        # then reuses it, instead of building it twice into the same directory.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env_dir / COMPLETE_MARK).is_file():
            return ModelPython(str(env_dir / "bin" / "python"), f"Ran in its own uv environment ({described}).")
        # A directory without the mark is a build cut short (time limit, a killed worker): MLflow
        # would take any existing directory for a finished environment.
        shutil.rmtree(env_dir, ignore_errors=True)
        started = time.perf_counter()
        _build(model_path=Path(model_path), root=root, seconds=seconds, env_dir=env_dir)
        spent = time.perf_counter() - started
        (env_dir / COMPLETE_MARK).write_text(json.dumps({"seconds": round(spent, 1)}), encoding="utf-8")
    return ModelPython(
        str(env_dir / "bin" / "python"),
        f"Ran in its own uv environment ({described}), built for this replay in {spent:.1f} s.",
    )


def build_environment(*, home: Path) -> dict[str, str]:
    """The build process's whole environment: a whitelist, never a filtered copy of os.environ."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    # The worker's own interpreter first: uv takes it when the model was logged on the same
    # Python version, instead of looking for (or downloading) another.
    base_python = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable))).parent
    environment = {
        "PATH": os.pathsep.join(dict.fromkeys([str(Path(uv).parent), str(base_python), "/usr/bin", "/bin"])),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        # The worker user's own uv cache: packages the portal was installed with are linked from it.
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR")
        or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"),
        # The platform's certificate store, as pip and requests use it: a private certificate
        # authority in front of the index is trusted there, not in uv's bundled roots.
        "UV_SYSTEM_CERTS": "true",
        "PIP_NO_INPUT": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    environment.update({name: value for name, value in os.environ.items() if name.startswith("UV_")})
    environment.update({name: os.environ[name] for name in BUILD_PASSED_THROUGH if name in os.environ})
    return environment


def _build(*, model_path: Path, root: Path, seconds: float, env_dir: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="shadow-env-build-") as home:
        output_path = Path(home) / "output.log"
        with open(output_path, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", BUILD_SCRIPT, str(model_path), str(root), ENV_ID],
                cwd=home,
                env=build_environment(home=Path(home)),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
            timed_out = False
            try:
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        tail = output_path.read_text(encoding="utf-8", errors="replace")[-OUTPUT_CHARS:].strip()
    if timed_out or process.returncode != 0:
        shutil.rmtree(env_dir, ignore_errors=True)
        why = f"took longer than {seconds:g} s" if timed_out else f"failed (exit code {process.returncode})"
        message = f"Building the model's uv environment {why}"
        raise EnvironmentUnavailable(f"{message}; last output:\n{tail}" if tail else f"{message}.")
