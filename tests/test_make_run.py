"""`make run` from a clean copy of the repository brings the whole portal up on embedded defaults
(SQLite, the SQLAlchemy broker, a local MLflow server, demo data) and Ctrl-C stops all of it."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

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
    return session


def test_make_run_starts_the_whole_portal_from_a_clean_copy_and_ctrl_c_stops_it(tmp_path):
    checkout = _clean_copy(tmp_path / "portal")
    web_port, mlflow_port = free_port(), free_port()
    env = child_environ(drop={"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_VAR_DIR"})
    env |= {
        "VENV": str(REPO_ROOT / ".venv"),  # reuse the installed environment: the copy is what is tested
        "PORTAL_PORT": str(web_port),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
    }
    log_path = tmp_path / "make-run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "run"], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{web_port}"
    try:
        wait_for_http(f"{base_url}/login/", seconds=240, process=process)
        # The banner is printed once everything is up; the worker may need a beat tick to report in.
        deadline = time.monotonic() + 90
        health = requests.get(f"{base_url}/healthz", timeout=10).json()
        while health["checks"]["worker"]["ok"] is not True and time.monotonic() < deadline:
            time.sleep(2)
            health = requests.get(f"{base_url}/healthz", timeout=10).json()
        assert health["status"] == "ok", health
        assert health["checks"]["worker"]["ok"] is True, health

        var_dir = checkout / "var"
        assert (var_dir / "portal.sqlite3").exists(), "the embedded default database is SQLite under var/"
        assert (var_dir / "broker.sqlite3").exists(), "the embedded default broker is a SQLite file under var/"
        assert requests.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=5).status_code == 200

        logins = json.loads((var_dir / "demo_logins.json").read_text())
        banner = log_path.read_text(errors="replace")
        assert base_url in banner
        for username, password in logins.items():
            assert password in banner, f"the banner shows the demo login of {username}"
            session = _log_in(base_url, username, password)
            home = session.get(f"{base_url}/", timeout=10)
            assert home.status_code == 200, f"{username} lands on a page: {home.status_code}"
            assert f">{username}<" in home.text or username in home.text

        tree = _process_tree(process.pid)
        assert len(tree) >= 5, "make, runlocal, mlflow, the worker, beat and gunicorn run"
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
    finally:
        for pid in _process_tree(process.pid) - {process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stop_process_group(process)
