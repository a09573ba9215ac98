"""`make run` from a clean copy of the repository brings the whole portal up healthy on embedded
defaults (SQLite, the SQLAlchemy broker, a local MLflow server, demo data), mirrors what is logged to
MLflow afterwards, and Ctrl-C stops all of it."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from mlopsportal.demo.monitoring import DEMO_MONITOR

from .conftest import REPO_ROOT, child_environ, free_port, stop_process_group, wait_for_http

pytestmark = pytest.mark.slow


def _clean_copy(destination: Path) -> Path:
    """The tracked files only, as a fresh clone has them (mtimes kept, so the venv stamp holds)."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = REPO_ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def _descendants_alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def _process_tree(root_pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [root_pid]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def _log_in(base_url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    login_page = session.get(f"{base_url}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    response = session.post(
        f"{base_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base_url}/login/"},
        timeout=10,
    )
    assert response.status_code == 200, response.text[:500]
    assert "/login/" not in response.url, f"{username} could not log in"
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base_url}/"})
    return session


def _mlflow_variables(pid: int) -> dict[str, str]:
    """The MLFLOW_* variables a running process was started with."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {key: value for key, _, value in pairs if key.startswith("MLFLOW_")}


def _mlflow_server_pids(root_pid: int) -> set[int]:
    for pid in _process_tree(root_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # `python .../bin/mlflow server ...`: the script runs under its interpreter
        if any(arg.endswith(b"/mlflow") and argv[i + 1 : i + 2] == [b"server"] for i, arg in enumerate(argv)):
            return _process_tree(pid)
    return set()


def _healthz_all_ok(base_url: str, *, seconds: float) -> dict:
    """/healthz once every check, the worker's heartbeat included, reports ok."""
    deadline = time.monotonic() + seconds
    while True:
        response = requests.get(f"{base_url}/healthz", timeout=10)
        health = response.json()
        if response.status_code == 200 and all(check["ok"] for check in health["checks"].values()):
            return health
        assert time.monotonic() < deadline, f"/healthz {response.status_code}: {health}"
        time.sleep(2)


def _wait_for_json(fetch, done, *, seconds: float, what: str) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        body = fetch()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s; last answer: {body}"
        time.sleep(1)


SYNC_INTERVAL_SECONDS = 5


def _assert_a_healthy_portal(*, base_url: str, mlflow_uri: str, var_dir: Path, process: subprocess.Popen) -> None:
    """What a newcomer expects of `make run`: every health check ok, nothing but the configured
    MLflow server in any process's environment, a run logged afterwards mirrored without a click,
    "Sync now" working, and every demo login landing on a page."""
    health = _healthz_all_ok(base_url, seconds=90)
    assert health["checks"]["mlflow"]["detail"] == mlflow_uri

    # The MLflow server tells its own workers where its SQLite store is in these same variables:
    # the portal's processes (runlocal, web, worker, beat) are the ones that must not inherit that.
    portal_pids = _process_tree(process.pid) - _mlflow_server_pids(process.pid)
    assert len(portal_pids) >= 5, "make, runlocal, the worker, beat and gunicorn run"
    seen = {pid: _mlflow_variables(pid) for pid in portal_pids}
    leaked = {pid: found for pid, found in seen.items() if set(found.values()) - {mlflow_uri}}
    assert not leaked, f"processes started by make run inherited another MLflow server: {leaked}"

    logins = json.loads((var_dir / "demo_logins.json").read_text())
    sessions = {username: _log_in(base_url, username, password) for username, password in logins.items()}
    for username, session in sessions.items():
        home = session.get(f"{base_url}/", timeout=10)
        assert home.status_code == 200, f"{username} lands on a page: {home.status_code}"
        assert username in home.text
    engineer = sessions["engineer"]

    from mlflow import MlflowClient  # MLflow's own client, as a data scientist's script would use it

    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    experiment_id = client.create_experiment(f"newcomer-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id, run_name="logged after start-up")
    client.log_metric(run.info.run_id, "accuracy", 0.91)
    client.set_terminated(run.info.run_id)
    mirrored = _wait_for_json(
        lambda: engineer.get(f"{base_url}/api/v1/runs/", params={"experiment": experiment_id}, timeout=10).json(),
        lambda body: any(r["run_id"] == run.info.run_id for r in body.get("results", [])),
        seconds=SYNC_INTERVAL_SECONDS + 60,
        what="a run logged to MLflow after start-up appears in /api/v1/runs/",
    )
    assert mirrored["count"] == 1

    before = engineer.get(f"{base_url}/api/v1/sync/", timeout=10).json()["recent"]
    newest_before = max((sync["id"] for sync in before), default=0)
    queued = engineer.post(f"{base_url}/api/v1/sync/", json={"full": True}, timeout=10)
    assert queued.status_code == 202, queued.text
    status = _wait_for_json(
        lambda: engineer.get(f"{base_url}/api/v1/sync/", timeout=10).json(),
        lambda body: any(
            s["id"] > newest_before
            and s["kind"] == "full"
            and s["requested_by"] == "engineer"
            and s["status"] in ("succeeded", "failed")
            for s in body["recent"]
        ),
        seconds=60,
        what="the engineer's Sync now finishes",
    )
    synced = next(s for s in status["recent"] if s["id"] > newest_before and s["requested_by"] == "engineer")
    assert synced["status"] == "succeeded", synced
    assert synced["mlflow_uri"] == mlflow_uri

    # The tour's retraining step: the demo's trigger reaches the pipeline make run serves, and the
    # monitor shows the pipeline's own answer.
    monitors = engineer.get(f"{base_url}/api/v1/monitors/", timeout=10).json()["results"]
    monitor_id = next(m["id"] for m in monitors if m["name"] == DEMO_MONITOR)
    requested = engineer.post(f"{base_url}/api/v1/monitors/{monitor_id}/retrain/", timeout=10)
    assert requested.status_code == 202, requested.text
    deadline = time.monotonic() + 60
    # (The demo's own history says HTTP 201 and is marked as such; the stand-in pipeline answers 200.)
    while "the pipeline answered HTTP 200" not in (
        activity := engineer.get(f"{base_url}/monitors/{monitor_id}/?fragment=activity", timeout=10).text
    ):
        assert time.monotonic() < deadline, f"the retrain request was not answered: {activity[-1500:]}"
        time.sleep(1)
    assert 'data-retrain-status="sent"' in activity
    calls = (var_dir / "demo_pipeline_calls.jsonl").read_text().splitlines()
    assert json.loads(calls[-1])["request"]["runtime_config"]["parameters"]["monitor_id"] == monitor_id


def _stop_with_ctrl_c(
    process: subprocess.Popen, *, base_url: str, mlflow_port: int, log_path: Path, presses: int
) -> None:
    tree = _process_tree(process.pid)
    assert len(tree) >= 5, "make, runlocal, mlflow, the worker, beat and gunicorn run"
    for press in range(presses):  # an impatient second Ctrl-C lands while the processes are stopping
        if press:
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert process.wait(timeout=60) in (0, 2, 130, -signal.SIGINT), log_path.read_text(errors="replace")[-3000:]
    deadline = time.monotonic() + 15
    while _descendants_alive(tree) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _descendants_alive(tree), "Ctrl-C stops every process make run started"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/login/", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=2)


@pytest.mark.timeout(600)  # two whole starts, the first collecting static files; each wait has its own bound
def test_make_run_on_embedded_defaults_serves_a_healthy_portal_twice_and_ctrl_c_stops_it(tmp_path):
    """Started as a newcomer does, with no MLFLOW_* or database variable exported: once on a clean
    copy, and again on the same var/ (the second start reuses the database, broker and MLflow
    files the first one made). The second is stopped with Ctrl-C pressed twice."""
    checkout = _clean_copy(tmp_path / "portal")
    web_port, mlflow_port = free_port(), free_port()
    env = child_environ(drop={"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_VAR_DIR"})
    env |= {
        "VENV": str(REPO_ROOT / ".venv"),  # reuse the installed environment: the copy is what is tested
        "PORTAL_PORT": str(web_port),
        # The local MLflow server's port, not its URI: the URI must come from the portal's default.
        "PORTAL_MLFLOW_PORT": str(mlflow_port),
        "PORTAL_SYNC_INCREMENTAL_SECONDS": str(SYNC_INTERVAL_SECONDS),
        "PORTAL_DEMO_PIPELINE_PORT": str(free_port()),
    }
    assert not any(key.startswith("MLFLOW_") for key in env)
    base_url, mlflow_uri = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{mlflow_port}"
    var_dir = checkout / "var"

    for start in ("first", "second"):
        log_path = tmp_path / f"make-run-{start}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["make", "run"], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_http(f"{base_url}/login/", seconds=240, process=process)
            deadline = time.monotonic() + 120
            while "MLOps Portal is up" not in log_path.read_text(errors="replace"):
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
            banner = log_path.read_text(errors="replace")
            assert base_url in banner and mlflow_uri in banner
            for password in json.loads((var_dir / "demo_logins.json").read_text()).values():
                assert password in banner, "the banner shows every demo login"
            assert (var_dir / "portal.sqlite3").exists(), "the embedded default database is SQLite under var/"
            assert (var_dir / "broker.sqlite3").exists(), "the embedded default broker is a SQLite file under var/"

            _assert_a_healthy_portal(base_url=base_url, mlflow_uri=mlflow_uri, var_dir=var_dir, process=process)
            _stop_with_ctrl_c(
                process,
                base_url=base_url,
                mlflow_port=mlflow_port,
                log_path=log_path,
                presses=2 if start == "second" else 1,
            )
        finally:
            for pid in _process_tree(process.pid) - {process.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stop_process_group(process)
