"""The child side of a shadow replay: load one MLflow pyfunc model and predict stored batches.

Started by monitoring/shadow/replay.py as

    python -I child.py WORKDIR

with WORKDIR as its current directory, an environment of a few whitelisted variables (no secret of
the portal's: no database URL, no Django key, no MLflow credentials), its own session and process
group, an address-space limit (RLIMIT_AS) and a wall-clock limit enforced by the parent. This file
is a standalone script: it imports only the standard library, pandas, numpy (through pandas),
pyarrow and mlflow, nothing of the portal or Django, so loading a model pulls in no portal code,
settings or connections.

WORKDIR holds `job.json` ({"model_path", "memory_mb", "batches": [{"batch_id", "file",
"first_row", "numbers_as_served"}]}) and one Parquet file per batch; `numbers_as_served` names the
columns that arrived as untyped numbers (JSON, CSV), read at the signature's number type. The script writes, in WORKDIR:

- `progress.jsonl`: one line per step done (imports, requirement check, load, each batch), so the
  parent can tell where a child it killed at the time limit was;
- `predictions.parquet`: columns `row` (position in the concatenated sample) and `prediction`, for
  the rows of accepted batches only;
- `result.json`: errors, per-batch outcomes, notes and timings (written last, atomically).

Batches go through `PyFuncModel.predict`, so MLflow's own signature enforcement accepts or
rejects each; a rejection is recorded with MLflow's text and the expected and received columns,
and the next batch is tried. Consecutive batches with the same numeric columns and dtypes (which
that enforcement judges alike) are predicted in one call, and one by one if that call fails; a
model whose answer for a row depends on the other rows of the call would see the difference.
A model that cannot be loaded, or runs out of memory, is a model-level error.

What this process is NOT protected from, and what it can still do: it runs as the same OS user as
the portal's worker, so the model's code can read any file that user can read (settings files,
the SQLite database, other processes' /proc entries of that user) and open network connections.
The parent gives it no secrets in its environment or arguments; keeping secrets away from files
and /proc takes running the "shadow" Celery queue's workers as a separate user or container.
Being the model's own process, it can also forge its own result files: a replay reports what a
model does with the rows, not a proof against a model written to deceive.
"""

import time

STARTED = time.perf_counter()

import contextlib  # noqa: E402 - the clock above starts before the imports it measures
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ERROR_CHARS = 20_000  # MLflow's schema errors quote a preview of the rows; a model's own text is unbounded
WARNINGS_PER_BATCH = 10
# Consecutive batches of the same columns and dtypes are predicted together up to these sizes.
GROUP_BYTES = 64 * 1024 * 1024
GROUP_ROWS = 250_000


def progress(workdir: Path, event: str, **fields: Any) -> None:
    with open(workdir / "progress.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps({"event": event, "at": time.perf_counter() - STARTED, **fields}) + "\n")


def cut(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + " … (cut)"


def memory_message(memory_mb: int, where: str, exc: BaseException) -> str:
    return f"memory limit of {memory_mb} MB reached {where} ({type(exc).__name__}: {str(exc)[:500]})"


def requirement_notes(model_path: str) -> list[str]:
    """The model's requirements.txt pins this Python's packages do not satisfy, by MLflow's own check
    (the one behind load_model's warning), and a Python version other than the model's."""
    notes: list[str] = []
    try:
        from mlflow.pyfunc import _get_pip_requirements_from_model_path
        from mlflow.utils.requirements_utils import _check_requirement_satisfied

        for requirement in _get_pip_requirements_from_model_path(model_path):
            mismatch = _check_requirement_satisfied(requirement)
            if mismatch is not None:
                notes.append(f"requirement not met by the replay's Python: {mismatch}")
    except Exception as exc:  # a private MLflow helper: a change there must not stop the replay
        notes.extend(requirement_notes_by_metadata(Path(model_path), reason=repr(exc)))
    try:
        from mlflow.models import Model

        flavor = Model.load(os.path.join(model_path, "MLmodel")).flavors.get("python_function", {})
        saved = str(flavor.get("python_version") or "")
        running = platform.python_version()
        if saved and saved.split(".")[:2] != running.split(".")[:2]:
            notes.append(f"the model was saved with Python {saved}; the replay runs Python {running}")
    except Exception:  # loading reports an unreadable MLmodel properly
        pass
    return notes


def requirement_notes_by_metadata(model_path: Path, *, reason: str) -> list[str]:
    """Fallback: compare requirements.txt with importlib.metadata, pins and ranges alike."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    notes = [f"MLflow's requirement check failed ({reason}); compared requirements.txt with installed packages"]
    path = model_path / "requirements.txt"
    if not path.is_file():
        return notes
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or (requirement.specifier and installed not in requirement.specifier):
            notes.append(
                f"requirement not met by the replay's Python: {requirement.name} "
                f"(current: {installed or 'uninstalled'}, required: {line})"
            )
    return notes


def schema_columns(model: Any) -> list[dict[str, Any]]:
    """The model's input signature as [{"name", "type", "required"}]; [] without a signature."""
    from mlflow.types import DataType

    schema = model.metadata.get_input_schema()
    if schema is None:
        return []
    columns = []
    for spec in schema.inputs:
        kind = getattr(spec, "type", None)
        if hasattr(spec, "shape"):  # TensorSpec: a numpy dtype and a shape
            type_name = f"{kind} {tuple(spec.shape)}"
        elif isinstance(kind, DataType):
            type_name = kind.name
        else:
            type_name = str(kind)
        columns.append({"name": spec.name, "type": type_name, "required": bool(getattr(spec, "required", True))})
    return columns


# What a JSON or CSV number becomes when MLflow's scoring server reads it against the signature.
SERVED_NUMBER_DTYPES = {"float": "float32", "double": "float64", "integer": "int32", "long": "int64"}


def numbers_as_served(frame: Any, names: list[str], expected: list[dict[str, Any]]) -> Any:
    """Columns that arrived as untyped numbers (JSON, or CSV without declared types) read as the
    scoring server reads them: at the number type the signature declares. Production's JSON 0.5 is
    not a float64 a float32 model refuses. A fractional column never becomes an integer one (the
    server refuses that too)."""
    declared = {column["name"]: column["type"] for column in expected}
    for name in names:
        target = SERVED_NUMBER_DTYPES.get(declared.get(name, ""))
        if target is None or name not in frame:
            continue
        kind = frame[name].dtype.kind
        if kind in "iu" or (kind == "f" and target.startswith("float")):
            frame[name] = frame[name].astype(target)
    return frame


def frame_columns(frame: Any) -> list[dict[str, str]]:
    return [{"name": str(name), "type": str(dtype)} for name, dtype in frame.dtypes.items()]


def one_per_row(output: Any, rows: int) -> tuple[Any, str]:
    """One value per row from a model's output (a 1-D result as is, the first column of a 2-D one)
    and a note when columns were left out."""
    import numpy as np
    import pandas as pd

    note = ""
    if isinstance(output, pd.DataFrame):
        if output.shape[1] == 0:
            raise ValueError("the model returned a DataFrame with no columns")
        if output.shape[1] > 1:
            names = ", ".join(map(str, output.columns[:10]))
            note = (
                f"the model returns {output.shape[1]} columns ({names}); "
                f"the replay compares the first, {output.columns[0]!s}"
            )
        values = output.iloc[:, 0].to_numpy()
    elif isinstance(output, pd.Series):
        values = output.to_numpy()
    else:
        values = np.asarray(output)
        if values.ndim == 2:
            if values.shape[1] == 0:
                raise ValueError("the model returned an array with no columns")
            if values.shape[1] > 1:
                note = f"the model returns arrays of {values.shape[1]} columns; the replay compares the first"
            values = values[:, 0]
        elif values.ndim != 1:
            raise ValueError(f"the model returned {type(output).__name__} of shape {values.shape}, not one per row")
    if len(values) != rows:
        raise ValueError(f"the model returned {len(values)} predictions for {rows} rows")
    return values, note


class Collected(logging.Handler):
    """MLflow's own warnings while predicting a batch (e.g. extra columns it ignores)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())


def predict_batch(model: Any, frame: Any) -> tuple[Any, float, list[str]]:
    """model.predict(frame), the seconds inside it and the warnings it raised (MLflow's log and Python's)."""
    handler = Collected()
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            output = model.predict(frame)
            seconds = time.perf_counter() - start
    finally:
        mlflow_logger.removeHandler(handler)
    messages = handler.messages + [f"{w.category.__name__}: {w.message}" for w in caught]
    return output, seconds, list(dict.fromkeys(m[:1000] for m in messages))[:WARNINGS_PER_BATCH]


def reason_of(message: str) -> str:
    """MLflow's schema errors read "Failed to enforce schema of data '<rows>' with schema '<schema>'.
    Error: <reason>": the reason without the rows."""
    head, sep, tail = message.rpartition("Error: ")
    return tail.strip() if sep and head.startswith("Failed to enforce schema") else message[:2000]


@contextlib.contextmanager
def import_clock(spent: list[float]) -> Iterator[None]:
    """Seconds spent importing modules inside the block (outermost imports only): most of a load
    is often importing the flavour's libraries (scikit-learn, scipy, skops ~2 s), which a
    long-lived process would have imported once. Covers `import` statements and
    importlib.import_module looked up at call time, as MLflow's loaders do."""
    import builtins
    import importlib

    depth = [0]

    def timed(function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
                depth[0] -= 1

        return wrapper

    original_import, original_import_module = builtins.__import__, importlib.import_module
    builtins.__import__ = timed(original_import)
    importlib.import_module = timed(original_import_module)
    try:
        yield
    finally:
        builtins.__import__ = original_import
        importlib.import_module = original_import_module


def group_key(frame: Any) -> tuple | None:
    """Batches with the same column names and numeric or boolean dtypes get the same verdict from
    MLflow's signature enforcement, which checks these by name and dtype, not by value: they are
    predicted in one call (per-call overhead of MLflow and the model counts, batches being small).
    Any other dtype (strings, objects, dates) goes one batch at a time."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if any(not (is_numeric_dtype(dtype) or is_bool_dtype(dtype)) for dtype in frame.dtypes):
        return None
    return tuple((str(name), str(dtype)) for name, dtype in frame.dtypes.items())


def predict_one(model: Any, batch: dict[str, Any], frame: Any, expected: list[dict[str, Any]]) -> tuple:
    """(outcome, values or None when rejected, note) for one batch; MemoryError propagates."""
    outcome: dict[str, Any] = {"batch_id": batch["batch_id"], "rows": len(frame), "error": "", "warnings": []}
    try:
        output, seconds, outcome["warnings"] = predict_batch(model, frame)
        values, note = one_per_row(output, len(frame))
    except MemoryError:
        raise
    except BaseException as exc:  # the model's code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = str(exc) or type(exc).__name__
        outcome.update(
            error=cut(text),
            reason=reason_of(text),
            exception=type(exc).__name__,
            expected=expected,
            received=frame_columns(frame),
        )
        return outcome, None, ""
    outcome["predict_seconds"] = seconds
    return outcome, values, note


def warm_up(model: Any, frame: Any) -> float:
    """One prediction on the first row, not timed as predicting: a model's first call pays one-off
    costs (lazy imports, caches; ~25 ms for a scikit-learn pipeline) that would otherwise weigh on
    the timing of whichever model has fewer rows. Its outcome does not matter; a rejection
    here is found again on the batch."""
    start = time.perf_counter()
    with contextlib.suppress(Exception):
        predict_batch(model, frame.head(1))
    return time.perf_counter() - start


def predict_group(model: Any, items: list[tuple[dict[str, Any], Any]], expected: list[dict[str, Any]]) -> list:
    """Batches of one group_key in one predict call, split back by rows (time shared by rows);
    if that call fails, each batch on its own, so each gets its own verdict and error text."""
    import pandas as pd

    if len(items) > 1:
        whole = pd.concat([frame for _, frame in items], ignore_index=True)
        try:
            output, seconds, caught = predict_batch(model, whole)
            values, note = one_per_row(output, len(whole))
        except MemoryError:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
        else:
            done, first = [], 0
            for batch, frame in items:
                rows = len(frame)
                outcome = {
                    "batch_id": batch["batch_id"],
                    "rows": rows,
                    "error": "",
                    "warnings": caught,
                    "predict_seconds": seconds * rows / len(whole),
                }
                done.append((outcome, values[first : first + rows], note))
                first += rows
            return done
        finally:
            del whole
    return [predict_one(model, batch, frame, expected) for batch, frame in items]


def run(workdir: Path) -> dict[str, Any]:
    job = json.loads((workdir / "job.json").read_text(encoding="utf-8"))
    memory_mb = int(job.get("memory_mb") or 0)
    result: dict[str, Any] = {
        "error": "",
        "batches": [],
        "notes": [],
        "load_seconds": 0.0,
        "predict_seconds": 0.0,
        "read_seconds": 0.0,
        "write_seconds": 0.0,
    }

    start = time.perf_counter()
    import mlflow.pyfunc
    import pandas as pd

    result["imports_seconds"] = time.perf_counter() - STARTED
    result["imports_started"] = start - STARTED
    progress(workdir, "imported")

    model_path = job["model_path"]
    result["notes"] = requirement_notes(model_path)
    progress(workdir, "checked", notes=result["notes"])

    start = time.perf_counter()
    load_imports = [0.0]
    try:
        # The requirement and Python version checks are done above, as notes, not as log warnings.
        with import_clock(load_imports):
            model = mlflow.pyfunc.load_model(model_path, suppress_warnings=True)
    except MemoryError as exc:
        result["error"] = memory_message(memory_mb, "while loading the model", exc)
        return result
    except BaseException as exc:  # whatever the model's code raises, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        result["error"] = cut(f"loading the model raised {type(exc).__name__}: {exc}")
        result["traceback"] = traceback.format_exc()[-4000:]
        return result
    finally:
        result["load_seconds"] = time.perf_counter() - start
        result["load_imports_seconds"] = load_imports[0]
    progress(workdir, "loaded", seconds=result["load_seconds"])

    expected = schema_columns(model)
    predictions: list[Any] = []
    pending: list[tuple[dict[str, Any], Any]] = []
    pending_bytes = 0
    batches = job["batches"]

    def flush() -> bool:
        """Predict the pending batches; False when the model ran out of memory."""
        nonlocal pending_bytes
        ids = [batch["batch_id"] for batch, _ in pending]
        try:
            done = predict_group(model, pending, expected)
        except MemoryError as exc:
            where = f"batch {ids[0]}" if len(ids) == 1 else f"batches {ids[0]} to {ids[-1]}"
            result["error"] = memory_message(memory_mb, f"while predicting {where}", exc)
            return False
        for (batch, _), (outcome, values, note) in zip(pending, done, strict=True):
            if values is not None:
                result["predict_seconds"] += outcome["predict_seconds"]
                if note and note not in result["notes"]:
                    result["notes"].append(note)
                first = int(batch["first_row"])
                index = pd.RangeIndex(first, first + outcome["rows"])
                predictions.append(pd.Series(values, index=index, name="prediction"))
            result["batches"].append(outcome)
            progress(workdir, "batch", batch_id=batch["batch_id"], error=bool(outcome["error"]))
        pending.clear()
        pending_bytes = 0
        return True

    for position, batch in enumerate(batches):
        start = time.perf_counter()
        frame = pd.read_parquet(workdir / batch["file"])
        if batch.get("numbers_as_served"):
            frame = numbers_as_served(frame, batch["numbers_as_served"], expected)
        result["read_seconds"] += time.perf_counter() - start
        if position == 0:
            result["warmup_seconds"] = warm_up(model, frame)
        size = int(frame.memory_usage(index=False, deep=False).sum())
        key = group_key(frame)
        joins = (
            pending
            and key is not None
            and key == group_key(pending[-1][1])
            and pending_bytes + size <= GROUP_BYTES
            and sum(len(f) for _, f in pending) + len(frame) <= GROUP_ROWS
        )
        if pending and not joins and not flush():
            return result
        pending.append((batch, frame))
        pending_bytes += size
        del frame
    if pending and not flush():
        return result

    start = time.perf_counter()
    table = pd.concat(predictions) if predictions else pd.Series([], dtype="float64", name="prediction")
    frame = table.rename_axis("row").reset_index()
    try:
        frame.to_parquet(workdir / "predictions.parquet", index=False)
    except Exception as exc:  # e.g. a column of mixed Python objects that Parquet cannot type
        frame["prediction"] = frame["prediction"].astype(str)
        frame.to_parquet(workdir / "predictions.parquet", index=False)
        result["notes"].append(f"predictions stored as text: {type(exc).__name__}: {str(exc)[:300]}")
    result["write_seconds"] = time.perf_counter() - start
    return result


def main() -> int:
    workdir = Path(sys.argv[1]).resolve()
    try:
        result = run(workdir)
    except MemoryError as exc:
        job = json.loads((workdir / "job.json").read_text(encoding="utf-8"))
        result = {
            "error": memory_message(int(job.get("memory_mb") or 0), "in the replay process", exc),
            "batches": [],
            "notes": [],
        }
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["child_seconds"] = time.perf_counter() - STARTED
    temporary = workdir / "result.json.tmp"
    temporary.write_text(json.dumps(result, default=str), encoding="utf-8")
    os.replace(temporary, workdir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
