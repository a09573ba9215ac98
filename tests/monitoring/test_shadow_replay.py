"""Shadow replay with real models: registered in the session's MLflow server, downloaded here and run
in child processes started for them (monitoring/shadow/replay.py, monitoring/shadow/child.py).

The models are registered and downloaded once for the module; every replay starts real Python
processes (3-4 s each), so each test runs as few as its point needs."""

import json
import os
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from mlopsportal.demo.mlflow_content import sklearn_model_log
from monitoring.shadow.replay import BatchSample, ReplayLimits, model_download, replay
from registry.mlflow_client import mlflow_fluent_at

FEATURES = ["f0", "f1", "f2", "f3"]
LIMITS = ReplayLimits(seconds=60, memory_mb=4096)
SECRET_NAMES = ("DATABASE_URL", "DJANGO_SECRET_KEY")
SECRET_PREFIXES = ("PORTAL_", "MLFLOW_TRACKING_", "CELERY_")

# Models whose code is a file logged with them ("models from code"): the child process imports
# nothing of the tests, so a class defined in this module could not be unpickled there.
RAISING_MODEL = """
    import mlflow


    class Unloadable(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            raise RuntimeError("the feature store at fs.internal is unreachable")

        def predict(self, context, model_input, params=None):
            return [0] * len(model_input)


    mlflow.models.set_model(Unloadable())
"""
SLOW_MODEL = """
    import os
    import subprocess
    import time

    import mlflow


    class Hanging(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            helper = subprocess.Popen(["sleep", "600"])  # a process of its own, in the replay's group
            with open({pid_file!r}, "w") as out:
                out.write(f"{{os.getpid()}} {{helper.pid}}")
            time.sleep(600)
            return [0] * len(model_input)


    mlflow.models.set_model(Hanging())
"""
ENVIRONMENT_MODEL = """
    import json
    import os

    import mlflow


    class EnvironmentReader(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            seen = {"names": sorted(os.environ), "home": os.environ.get("HOME"), "cwd": os.getcwd()}
            return [json.dumps(seen)] * len(model_input)


    mlflow.models.set_model(EnvironmentReader())
"""
CRASHING_MODEL = """
    import os
    import signal
    import sys

    import mlflow


    class Crashing(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            print("tree node 4242 points past the end of the node array", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)  # as a native extension reading out of bounds would


    mlflow.models.set_model(Crashing())
"""
GREEDY_MODEL = """
    import mlflow
    import numpy as np


    class Greedy(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            table = np.ones((len(model_input), 2_000_000))  # 8 GB for 500 rows
            return table[:, 0]


    mlflow.models.set_model(Greedy())
"""


@dataclass
class Models:
    lr_v1: Path
    lr_v2: Path  # the same fitted model, registered again
    proba: Path  # predict_proba as its predict, logged with a scikit-learn pin this Python does not have
    raising: Path
    slow: Path
    environment: Path
    greedy: Path
    crashing: Path
    sklearn_model: LogisticRegression
    pid_file: Path
    tracking_uri: str
    lr_name: str


def features(rows: int, seed: int, dtype: str = "float32") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: rng.normal(0, 1, rows).astype(dtype) for name in FEATURES})


def python_model_log(code: str, *, directory: Path, name: str) -> None:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(path),
            pip_requirements=[f"mlflow=={mlflow.__version__}"],  # nothing to infer (a Python process, ~10 s)
            registered_model_name=name,
        )


@pytest.fixture(scope="module")
def models(mlflow_server, mlflow_client, tmp_path_factory) -> Models:
    code_dir = tmp_path_factory.mktemp("model-code")
    into = tmp_path_factory.mktemp("downloaded")
    pid_file = code_dir / "slow-model.pids"
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"shadow-{kind}-{suffix}" for kind in ("lr", "proba", "raising", "slow", "env", "greedy", "crash")}

    train = features(500, seed=0)
    target = (train["f0"] + 0.5 * train["f1"] - train["f3"] > 0).astype(int)
    model = LogisticRegression().fit(train, target)
    with mlflow_fluent_at(mlflow_server.uri):
        mlflow.set_experiment(f"shadow-replay-{suffix}")
        for _ in range(2):
            with mlflow.start_run():
                sklearn_model_log(
                    model,
                    name="model",
                    signature=infer_signature(train, model.predict(train)),  # float32 inputs
                    registered_model_name=names["lr"],
                )
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(train, model.predict_proba(train)),
                pyfunc_predict_fn="predict_proba",
                pip_requirements=[f"mlflow=={mlflow.__version__}", "scikit-learn==0.24.2"],
                registered_model_name=names["proba"],
            )
        python_model_log(RAISING_MODEL, directory=code_dir, name=names["raising"])
        python_model_log(SLOW_MODEL.format(pid_file=str(pid_file)), directory=code_dir, name=names["slow"])
        python_model_log(ENVIRONMENT_MODEL, directory=code_dir, name=names["env"])
        python_model_log(GREEDY_MODEL, directory=code_dir, name=names["greedy"])
        python_model_log(CRASHING_MODEL, directory=code_dir, name=names["crash"])

    def download(kind: str, version: int = 1) -> Path:
        return model_download(
            model_name=names[kind], version=version, tracking_uri=mlflow_server.uri, into=into / f"{kind}-{version}"
        )

    return Models(
        lr_v1=download("lr", 1),
        lr_v2=download("lr", 2),
        proba=download("proba"),
        raising=download("raising"),
        slow=download("slow"),
        environment=download("env"),
        greedy=download("greedy"),
        crashing=download("crash"),
        sklearn_model=model,
        pid_file=pid_file,
        tracking_uri=mlflow_server.uri,
        lr_name=names["lr"],
    )


def live_members(process_group: int) -> list[int]:
    """Processes of the group that are still running (a zombie has already died)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _parent, group = stat.rpartition(")")[2].split()[:3]
        if int(group) == process_group and state != "Z":
            members.append(int(entry.name))
    return members


def test_two_identical_models_predict_the_same_on_every_row(models):
    batches = [BatchSample(batch_id=10 + i, day=f"2026-11-0{i + 1}", frame=features(200, seed=i + 1)) for i in range(3)]

    result = replay(models={"candidate": models.lr_v2, "holder": models.lr_v1}, batches=batches, limits=LIMITS)

    candidate, holder = result.models["candidate"], result.models["holder"]
    sample = pd.concat([batch.frame for batch in batches], ignore_index=True)
    for replayed in (candidate, holder):
        assert replayed.error == ""
        assert [batch.batch_id for batch in replayed.batches] == [10, 11, 12]
        assert replayed.accepted_rows == 600 and replayed.rejected_rows == 0 and replayed.rejected_batches == 0
        assert list(replayed.predictions.index) == list(range(600))
        # The same answers as the fitted model in this process: the rows reached the model as sent.
        np.testing.assert_array_equal(replayed.predictions.to_numpy(), models.sklearn_model.predict(sample))
        assert replayed.notes == []
        assert replayed.load_seconds > 0 and replayed.predict_seconds > 0
        assert replayed.process_seconds > replayed.load_seconds + replayed.predict_seconds
        assert replayed.ms_per_1000_rows == pytest.approx(replayed.predict_seconds * 1e6 / 600)
    pd.testing.assert_series_equal(candidate.predictions, holder.predictions)
    assert result.rows == 600


def test_a_float64_batch_is_rejected_with_mlflows_reason_while_float32_batches_are_accepted(models):
    float32 = features(100, seed=1)
    with_gap = features(40, seed=5)
    with_gap.loc[7, "f1"] = np.nan
    batches = [
        BatchSample(batch_id=1, day="2026-11-01", frame=float32),
        BatchSample(batch_id=2, day="2026-11-02", frame=features(50, seed=2, dtype="float64").assign(extra=1.0)),
        BatchSample(batch_id=3, day="2026-11-03", frame=features(80, seed=3).assign(extra=2.0)),
        BatchSample(batch_id=4, day="2026-11-04", frame=features(30, seed=4).drop(columns="f2")),
        # Same columns and dtypes as the next batch, so predicted together first: the model's own
        # refusal of one row must still reject only its batch.
        BatchSample(batch_id=5, day="2026-11-05", frame=with_gap),
        BatchSample(batch_id=6, day="2026-11-06", frame=features(60, seed=6)),
    ]

    candidate = replay(models={"candidate": models.lr_v2}, batches=batches, limits=LIMITS).models["candidate"]

    assert candidate.error == ""
    accepted, wrong_type, extra_column, missing_column, missing_value, after = candidate.batches
    assert accepted.error == "" and accepted.expected == [] and accepted.received == []
    # float64 where the signature says float32: MLflow refuses to narrow it, naming the first column.
    assert "Incompatible input types for column f0. Can not safely convert float64 to float32." in wrong_type.error
    assert wrong_type.reason == "Incompatible input types for column f0. Can not safely convert float64 to float32."
    assert wrong_type.expected == [{"name": name, "type": "float", "required": True} for name in FEATURES]
    assert wrong_type.received == [{"name": name, "type": "float64"} for name in [*FEATURES, "extra"]]
    # A column the signature does not name is dropped by MLflow with a warning, not refused.
    assert extra_column.error == ""
    assert any("`['extra']`" in warning and "ignored" in warning for warning in extra_column.warnings)
    assert missing_column.reason == "Model is missing inputs ['f2']."
    assert {"name": "f2", "type": "float", "required": True} in missing_column.expected
    assert [column["name"] for column in missing_column.received] == ["f0", "f1", "f3"]
    assert "Input X contains NaN" in missing_value.error  # scikit-learn's own refusal, past MLflow's checks
    assert missing_value.received == [{"name": name, "type": "float32"} for name in FEATURES]
    assert after.error == ""

    assert candidate.accepted_rows == 240 and candidate.rejected_rows == 120 and candidate.rejected_batches == 3
    # Positions in the whole sample: batch 1 is rows 0-99, batch 2 100-149, batch 3 150-229, ...
    assert list(candidate.predictions.index) == [*range(0, 100), *range(150, 230), *range(300, 360)]
    kept = [float32, batches[2].frame[FEATURES], batches[5].frame]
    expected = models.sklearn_model.predict(pd.concat(kept, ignore_index=True))
    np.testing.assert_array_equal(candidate.predictions.to_numpy(), expected)


def test_a_model_whose_loading_raises_is_reported_and_the_other_model_still_runs(models):
    batches = [BatchSample(batch_id=7, day="2026-11-07", frame=features(120, seed=7))]

    result = replay(models={"candidate": models.raising, "holder": models.lr_v1}, batches=batches, limits=LIMITS)

    candidate, holder = result.models["candidate"], result.models["holder"]
    assert candidate.error.startswith("loading the model raised RuntimeError")
    assert "the feature store at fs.internal is unreachable" in candidate.error
    assert candidate.batches == [] and candidate.predictions.empty and candidate.accepted_rows == 0
    assert candidate.ms_per_1000_rows is None
    assert holder.error == "" and holder.accepted_rows == 120
    np.testing.assert_array_equal(holder.predictions.to_numpy(), models.sklearn_model.predict(batches[0].frame))


def test_a_model_that_hangs_is_killed_at_the_time_limit_with_its_whole_process_group(models):
    models.pid_file.unlink(missing_ok=True)
    batches = [BatchSample(batch_id=9, day="2026-11-09", frame=features(10, seed=9))]
    limits = ReplayLimits(seconds=8, memory_mb=4096)

    start = time.monotonic()
    candidate = replay(models={"candidate": models.slow}, batches=batches, limits=limits).models["candidate"]
    elapsed = time.monotonic() - start

    assert candidate.error.startswith("time limit of 8 s reached while predicting batch 9")
    assert candidate.process_seconds < 8 + 2 and elapsed < 8 + 4
    assert candidate.predictions.empty and candidate.batches == []
    model_pid, helper_pid = map(int, models.pid_file.read_text().split())
    # The model's process and the process it started: the group was killed, nothing of it runs on.
    assert candidate.process_group is not None and live_members(candidate.process_group) == []
    assert model_pid != helper_pid and not {model_pid, helper_pid} & set(live_members(candidate.process_group))


def test_a_model_that_crashes_the_process_is_reported_with_the_signal_and_its_last_output(models):
    batches = [BatchSample(batch_id=11, day="2026-11-11", frame=features(10, seed=11))]

    candidate = replay(models={"candidate": models.crashing}, batches=batches, limits=LIMITS).models["candidate"]

    assert candidate.error.startswith("the replay process was killed by SIGSEGV while predicting batch 11")
    assert "tree node 4242 points past the end of the node array" in candidate.error
    assert candidate.exit_code == -11 and candidate.predictions.empty


def test_the_model_sees_none_of_the_portals_secrets_in_its_environment(models, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:hunter2@db.internal/portal")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "not-so-secret")
    monkeypatch.setenv("PORTAL_MLFLOW_WEBHOOK_SECRET", "webhook-secret")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-token")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:password@broker.internal:6379/0")
    batches = [BatchSample(batch_id=5, day="2026-11-05", frame=features(3, seed=5))]

    candidate = replay(models={"candidate": models.environment}, batches=batches, limits=LIMITS).models["candidate"]

    assert candidate.error == "" and candidate.accepted_rows == 3
    seen = json.loads(candidate.predictions.iloc[0])
    names = set(seen["names"])
    assert not names & set(SECRET_NAMES)
    assert not [name for name in names if name.startswith(SECRET_PREFIXES)]
    assert names <= {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "MLFLOW_DISABLE_TELEMETRY",
        "DO_NOT_TRACK",
        "HF_HUB_OFFLINE",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
    }
    # Its home and working directory are a fresh directory of its own, not the portal's.
    assert seen["home"] == seen["cwd"] and not seen["cwd"].startswith(os.getcwd())
    assert os.environ["DATABASE_URL"].startswith("postgres://")  # this process still had them


def test_a_2d_output_is_compared_by_its_first_column_and_unmet_requirement_pins_are_noted(models):
    frame = features(150, seed=6)
    batches = [BatchSample(batch_id=6, day="2026-11-06", frame=frame)]

    candidate = replay(models={"candidate": models.proba}, batches=batches, limits=LIMITS).models["candidate"]

    assert candidate.error == "" and candidate.accepted_rows == 150
    np.testing.assert_allclose(candidate.predictions.to_numpy(), models.sklearn_model.predict_proba(frame)[:, 0])
    assert "the model returns arrays of 2 columns; the replay compares the first" in candidate.notes
    assert any("scikit-learn" in note and "required: scikit-learn==0.24.2" in note for note in candidate.notes)


def test_a_model_that_allocates_past_the_memory_limit_is_stopped_with_a_memory_error(models):
    batches = [BatchSample(batch_id=8, day="2026-11-08", frame=features(500, seed=8))]

    greedy = replay(
        models={"candidate": models.greedy}, batches=batches, limits=ReplayLimits(seconds=60, memory_mb=2048)
    ).models["candidate"]

    assert greedy.error.startswith("memory limit of 2048 MB reached while predicting batch 8")
    assert greedy.predictions.empty


@pytest.mark.timeout(60)  # MLflow's client retries an absent server for minutes
def test_downloading_a_model_leaves_mlflows_process_wide_uris_as_they_were(models, tmp_path):
    mlflow.set_tracking_uri("http://127.0.0.1:9")  # nothing listens there: the download must not use it
    before = {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")}

    path = model_download(model_name=models.lr_name, version=2, tracking_uri=models.tracking_uri, into=tmp_path)

    assert (path / "MLmodel").is_file() and path.is_relative_to(tmp_path)
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:9"
    assert {key: value for key, value in os.environ.items() if key.startswith("MLFLOW_")} == before
