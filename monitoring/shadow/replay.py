"""Shadow replay: run MLflow pyfunc models on rows production sent, each in a separate, secret-free,
limited process.

Before a reviewer approves moving a serving alias to a candidate version, the candidate and the
alias's current holder are run on a sample of stored inference batches. Loading an MLflow model
runs code chosen by whoever registered it (pickles, a PythonModel's load_context, code paths), so
this process never loads one: `model_download` fetches the artifacts here, where the MLflow
credentials are, and `replay` starts `child.py` once per model, one after the other.

What the child gets, and what that buys:

- its environment is a whitelist built here (PATH=/usr/bin:/bin, HOME and TMPDIR in its own fresh
  work directory, LANG, thread counts, MLflow's telemetry switched off), never os.environ: no
  DATABASE_URL, DJANGO_SECRET_KEY, PORTAL_*, CELERY_* or MLFLOW_TRACKING_* reaches the model;
- `python -I`: PYTHON* variables, the user's site-packages and the current directory are not on
  its import path, and it imports nothing of the portal or Django;
- its own session and process group, killed whole at the time limit and after it exits (so a
  model's own child processes go too, unless they start a session of their own);
- RLIMIT_AS (address space) at the memory limit, RLIMIT_FSIZE on the files it writes, no core files;
- no file descriptor of the worker's (close_fds): no database or broker connection to reuse;
- its own copies of the batches in its own work directory, removed afterwards: the candidate's
  process is not handed the files the holder's reads (though, same user, it could look for them);
- one process per model, in turn: a model that hangs, crashes or runs out of memory costs only
  its own results, and the two models' timings are not taken side by side on a shared CPU.

What it does NOT do: the child runs as the same OS user as this worker. The model's code can read
every file that user can read (settings files, a SQLite database, the MLflow artifacts of other
models) and /proc of that user's processes (the worker's own environment among them), it can
open network connections, and the processes it starts count against that user's process limit
(only the time limit bounds a fork bomb; a model's subprocess that starts a session of its own
escapes the group kill). Full isolation is running the dedicated "shadow" Celery queue's workers
as a separate user without access to those files, or in a container without network. The child
also writes its own result files, so a model written to deceive can misreport its own results.

The interpreter is the worker's own (MLflow's `env_manager="local"`), or a virtualenv built from
the model's logged requirements (`"uv"`): see `environments`. Under "local", the requirement pins
the model was logged with that this Python does not satisfy (by MLflow's own check) are listed in
`ModelReplay.notes`, so a difference in predictions can be read against them.

No Django here: the service that picks batches and stores results calls this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.shadow.environments import EnvironmentUnavailable, ModelEnvironments, model_python

CHILD_SCRIPT = Path(__file__).resolve().with_name("child.py")
OUTPUT_LINES = 20  # of the child's stdout and stderr, kept when it crashed
OUTPUT_CHARS = 4000
# Variables kept from this process: OpenBLAS builds that crash or compute wrongly on some processors
# are steered by these; they carry no secret.
PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "Unable to allocate", "out of memory")


@dataclass(frozen=True)
class BatchSample:
    batch_id: int
    day: str  # ISO date the rows are from
    frame: pd.DataFrame  # the sampled rows exactly as production sent them, dtypes as stored
    # Columns that arrived as untyped numbers (JSON, CSV without X-Column-Types): the model process
    # reads them at the number type its signature declares, as MLflow's scoring server reads JSON.
    numbers_as_served: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplayLimits:
    seconds: float = 120.0  # wall-clock limit per model process
    memory_mb: int = 4096  # RLIMIT_AS of the child
    # BLAS/OpenMP threads of the child: one keeps a replay from taking every core of a shared worker,
    # and every thread's stack and buffers count against the address-space limit.
    threads: int = 1
    # RLIMIT_FSIZE: the largest file the child may write (its output log among them), so a model
    # printing in a loop fills no disk before the time limit; past it the child dies of SIGXFSZ.
    file_mb: int = 1024


@dataclass
class BatchOutcome:
    batch_id: int
    rows: int
    error: str = ""  # "" when the model accepted the batch, else MLflow's own error text (str(exc))
    expected: list[dict] = field(default_factory=list)  # [{"name", "type", "required"}]: the model's input signature
    received: list[dict] = field(default_factory=list)  # [{"name", "type"}]: the batch's columns and dtypes as sent
    # MLflow's schema errors quote a preview of the rows; this is the reason alone ("Incompatible
    # input types for column f0. Can not safely convert float64 to float32."), or the error's start.
    reason: str = ""
    # Warnings while predicting an accepted batch, MLflow's among them: "Found extra inputs in the
    # model input that are not defined in the model signature: `['x']`. These inputs will be ignored."
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.error


def _empty_predictions() -> pd.Series:
    return pd.Series([], dtype="float64", name="prediction")


@dataclass
class ModelReplay:
    role: str  # "candidate" or "holder"
    # "" or why nothing could be predicted: loading raised (with the exception text), the time limit,
    # the memory limit, or the child crashed (exit code or signal and its last output lines).
    error: str = ""
    # The error is the model's environment that could not be built (environments.py): the package index
    # away or a requirement no index has; the model itself never ran.
    environment_failed: bool = False
    batches: list[BatchOutcome] = field(default_factory=list)  # in order; none after a model-level error
    # Index: row position in the concatenated sample (0..N-1 over all BatchSamples in order), for the
    # rows of accepted batches only. The first column of a 2-D output (said so in `notes`).
    predictions: pd.Series = field(default_factory=_empty_predictions)
    load_seconds: float = 0.0
    # Inside predict(), accepted batches only (batches predicted in one call share its time by rows).
    predict_seconds: float = 0.0
    process_seconds: float = 0.0  # the child's whole wall time: interpreter, imports, load, predict, I/O
    notes: list[str] = field(default_factory=list)  # requirement mismatches, 2-D outputs, ...
    # Python's start and exit plus importing pandas and MLflow: what any replay pays before loading.
    startup_seconds: float = 0.0
    imports_seconds: float = 0.0  # the child script's start to pandas and MLflow imported (part of startup)
    # Of load_seconds, importing the flavour's libraries (scikit-learn, scipy, skops: ~2 s cold).
    load_imports_seconds: float = 0.0
    warmup_seconds: float = 0.0  # a one-row prediction before the timed ones, for one-off first-call costs
    io_seconds: float = 0.0  # batches copied and read, predictions written and read back
    peak_rss_mb: float | None = None  # the child's own peak resident set, when it reported it
    exit_code: int | None = None  # negative: killed by that signal
    process_group: int | None = None  # the child's process group (its pid), gone when replay returns
    output_tail: str = ""  # the child's last stdout/stderr lines, when it failed

    @property
    def accepted_rows(self) -> int:
        return sum(batch.rows for batch in self.batches if batch.accepted)

    @property
    def rejected_rows(self) -> int:
        return sum(batch.rows for batch in self.batches if not batch.accepted)

    @property
    def rejected_batches(self) -> int:
        return sum(1 for batch in self.batches if not batch.accepted)

    @property
    def ms_per_1000_rows(self) -> float | None:
        """Milliseconds inside predict() per 1,000 accepted rows; None when none was accepted."""
        rows = self.accepted_rows
        return self.predict_seconds * 1_000_000 / rows if rows else None


@dataclass
class ReplayResult:
    models: dict[str, ModelReplay]  # by role
    rows: int = 0  # rows in the sample, all batches
    write_seconds: float = 0.0  # writing the sample's batches to Parquet, once for all models


def model_download(*, model_name: str, version: int, tracking_uri: str, into: Path) -> Path:
    """Download models:/<name>/<version> into `into` in this process, so MLflow's credentials (read
    from this process's environment) never reach the child that loads it. Returns the model's
    directory (the one holding MLmodel).

    The URIs are passed to MLflow explicitly and MLflow's process-wide ones are neither read nor
    changed (a Celery worker's other threads may be using them). Not `download_artifacts` on the
    models:/ URI itself: MLflow 3.17 resolves a models:/ URI through the process-wide registry URI
    whatever registry_uri it is given (ModelsArtifactRepository._get_model_uri_infos). The version's
    download URI (where its files are stored, e.g. mlflow-artifacts:/...) has no such detour."""
    import mlflow.artifacts
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    location = client.get_model_version_download_uri(model_name, str(version))
    into.mkdir(parents=True, exist_ok=True)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=location, dst_path=str(into), tracking_uri=tracking_uri, registry_uri=tracking_uri
    )
    return Path(local)


def replay(
    *,
    models: Mapping[str, Path],
    batches: Sequence[BatchSample],
    limits: ReplayLimits,
    environments: ModelEnvironments | None = None,
) -> ReplayResult:
    """Run each model (role -> downloaded model directory) on the batches, one child process per
    model, one after the other, each in the interpreter `environments` gives it."""
    with tempfile.TemporaryDirectory(prefix="shadow-inputs-") as inputs_dir:
        inputs = Path(inputs_dir)
        start = time.perf_counter()
        files: list[dict[str, Any]] = []
        first_row = 0
        for position, batch in enumerate(batches):
            name = f"batch-{position:05d}.parquet"
            # Parquet keeps each batch's own dtypes (float32 stays float32); the index is not data.
            batch.frame.to_parquet(inputs / name, index=False)
            files.append(
                {
                    "batch_id": batch.batch_id,
                    "file": name,
                    "first_row": first_row,
                    "numbers_as_served": list(batch.numbers_as_served),
                }
            )
            first_row += len(batch.frame)
        result = ReplayResult(models={}, rows=first_row, write_seconds=time.perf_counter() - start)
        for position, (role, model_path) in enumerate(models.items()):
            result.models[role] = _model_replay(
                role=role,
                model_path=Path(model_path),
                inputs=inputs,
                files=files,
                limits=limits,
                environments=environments or ModelEnvironments(),
                output_log=inputs / f"output-{position}.log",
            )
    return result


def child_environment(*, workdir: Path, limits: ReplayLimits) -> dict[str, str]:
    """The child's whole environment: a whitelist, never a filtered copy of os.environ."""
    threads = str(max(1, limits.threads))
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        # MLflow sends anonymous usage events unless one of these is set (mlflow/telemetry/utils.py).
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        # A model that would fetch weights from the Hugging Face hub fails at once instead of hanging.
        "HF_HUB_OFFLINE": "1",
    }
    environment.update({name: os.environ[name] for name in PASSED_THROUGH if name in os.environ})
    return environment


def _limit(kind: int, megabytes: int) -> int:
    """`megabytes` in bytes, or this process's own hard limit if lower (a child cannot raise it)."""
    hard = resource.getrlimit(kind)[1]
    wanted = megabytes * 1024 * 1024
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def _limits_setter(limits: ReplayLimits) -> Callable[[], None]:
    """What the child runs between fork and exec. The values are computed here, so the forked
    child only calls setrlimit (preexec_fn runs in a copy of a process that may have other threads,
    where taking a lock could deadlock)."""
    memory = _limit(resource.RLIMIT_AS, limits.memory_mb)
    files = _limit(resource.RLIMIT_FSIZE, limits.file_mb)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _group_kill(process_group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


def _model_replay(
    *,
    role: str,
    model_path: Path,
    inputs: Path,
    files: list[dict[str, Any]],
    limits: ReplayLimits,
    environments: ModelEnvironments,
    output_log: Path,
) -> ModelReplay:
    try:
        python = model_python(model_path, environments)
    except EnvironmentUnavailable as exc:
        return ModelReplay(role=role, error=str(exc), environment_failed=True)
    workdir = Path(tempfile.mkdtemp(prefix="shadow-replay-"))
    try:
        start = time.perf_counter()
        for batch in files:
            shutil.copyfile(inputs / batch["file"], workdir / batch["file"])
        copy_seconds = time.perf_counter() - start
        job = {"model_path": str(model_path.resolve()), "memory_mb": limits.memory_mb, "batches": files}
        (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")

        timed_out = False
        with open(output_log, "wb") as output:
            start = time.perf_counter()
            process = subprocess.Popen(  # our own script, in the model's interpreter
                [python.executable, "-I", str(CHILD_SCRIPT), str(workdir)],
                cwd=workdir,
                env=child_environment(workdir=workdir, limits=limits),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limits_setter(limits),  # only setrlimit, values computed before fork
                close_fds=True,
            )
            try:
                process.wait(timeout=limits.seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            # The whole group: the model's own subprocesses go with it, at the limit or after a normal exit.
            _group_kill(process.pid)
            process.wait()
            process_seconds = time.perf_counter() - start

        replayed = ModelReplay(
            role=role, process_seconds=process_seconds, exit_code=process.returncode, process_group=process.pid
        )
        if python.note:
            replayed.notes.append(python.note)
        result_path = workdir / "result.json"
        if result_path.is_file():
            _result_read(replayed, workdir=workdir, result=json.loads(result_path.read_text(encoding="utf-8")))
            replayed.io_seconds += copy_seconds
            if process.returncode != 0:
                replayed.notes.append(f"the replay process {_exit_text(process.returncode)} after writing its result")
            return replayed

        events = _progress(workdir)
        for event in events:
            if event["event"] == "checked":
                replayed.notes.extend(event.get("notes", []))
            elif event["event"] == "loaded":
                replayed.load_seconds = float(event.get("seconds", 0.0))
        phase = _phase(events, files)
        tail = _tail(output_log)
        if timed_out:
            replayed.error = f"time limit of {limits.seconds:g} s reached {phase}; the replay process group was killed"
        else:
            replayed.output_tail = tail
            crash = f"the replay process {_exit_text(process.returncode)} {phase} without writing its result"
            if any(sign in tail for sign in MEMORY_SIGNS):
                crash = f"memory limit of {limits.memory_mb} MB reached: {crash}"
            replayed.error = f"{crash}; last output:\n{tail}" if tail else crash
        return replayed
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _result_read(replayed: ModelReplay, *, workdir: Path, result: dict[str, Any]) -> None:
    replayed.error = str(result.get("error") or "")
    replayed.notes.extend(result.get("notes") or [])
    replayed.load_seconds = float(result.get("load_seconds") or 0.0)
    replayed.load_imports_seconds = float(result.get("load_imports_seconds") or 0.0)
    replayed.warmup_seconds = float(result.get("warmup_seconds") or 0.0)
    replayed.predict_seconds = float(result.get("predict_seconds") or 0.0)
    replayed.imports_seconds = float(result.get("imports_seconds") or 0.0)
    child_seconds = float(result.get("child_seconds") or replayed.process_seconds)
    replayed.startup_seconds = max(0.0, replayed.process_seconds - child_seconds) + replayed.imports_seconds
    replayed.peak_rss_mb = result.get("peak_rss_mb")
    replayed.io_seconds = float(result.get("read_seconds") or 0.0) + float(result.get("write_seconds") or 0.0)
    replayed.batches = [
        BatchOutcome(
            batch_id=int(batch["batch_id"]),
            rows=int(batch["rows"]),
            error=str(batch.get("error") or ""),
            expected=list(batch.get("expected") or []),
            received=list(batch.get("received") or []),
            reason=str(batch.get("reason") or ""),
            warnings=list(batch.get("warnings") or []),
        )
        for batch in result.get("batches") or []
    ]
    predictions_path = workdir / "predictions.parquet"
    if predictions_path.is_file():
        start = time.perf_counter()
        frame = pd.read_parquet(predictions_path)
        replayed.predictions = pd.Series(
            frame["prediction"].to_numpy(), index=pd.Index(frame["row"].to_numpy()), name="prediction"
        )
        replayed.io_seconds += time.perf_counter() - start


def _progress(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "progress.jsonl"
    events = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return [event for event in events if isinstance(event, dict) and "event" in event]


def _phase(events: list[dict[str, Any]], files: list[dict[str, Any]]) -> str:
    """Where the child was when it stopped, from the steps it recorded."""
    done = {event["event"] for event in events}
    if "loaded" in done:
        finished = sum(1 for event in events if event["event"] == "batch")
        if finished >= len(files):
            return "after predicting every batch, while writing the predictions"
        return f"while predicting batch {files[finished]['batch_id']} ({finished} of {len(files)} batches done)"
    if "imported" in done:
        return "while loading the model"
    return "while starting Python and importing pandas and MLflow"


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as output:
            output.seek(max(0, output.seek(0, os.SEEK_END) - 64 * 1024))
            text = output.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-OUTPUT_LINES:])[-OUTPUT_CHARS:]
