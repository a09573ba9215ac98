"""Services queue Celery tasks by their pinned names and never import the tasks module; a task
queued by name is routed as the task object was (the shadow evaluation on its own queue)."""

import ast
from pathlib import Path

import pytest

from mlopsportal.celery import app
from mlopsportal.dispatch import send_now
from monitoring import tasks
from tests.test_task_names import PINNED_TASK_NAMES

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
BEAT_TASKS = {"monitoring.tasks.drift_schedule", "monitoring.tasks.lost_work_sweep"}  # they take no id
TASK_NAMES = sorted(name for name in PINNED_TASK_NAMES if name.startswith("monitoring.tasks."))


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize(
    "path",
    [*sorted((MONITORING / "services").glob("*.py")), *sorted((MONITORING / "shadow").glob("*.py"))],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_services_never_import_the_tasks_that_call_them(path):
    assert not {name for name in _imports(path) if name == "monitoring.tasks" or name.startswith("monitoring.tasks.")}


def test_no_task_function_shares_a_service_s_name():
    services = {
        node.name
        for path in (MONITORING / "services").glob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef)
    }
    task_functions = {
        task.__name__ for task in vars(tasks).values() if str(getattr(task, "name", "")).startswith("monitoring.tasks.")
    }
    assert len(task_functions) == len(TASK_NAMES)
    assert all(name.endswith("_task") for name in task_functions)
    assert not task_functions & services


@pytest.fixture
def published(monkeypatch):
    """The queue each message would have gone to; nothing reaches the broker."""
    sent: list[tuple[str, str]] = []

    def record(producer, name, message, **options):
        queue = options.get("queue")
        sent.append((name, getattr(queue, "name", queue) or options.get("routing_key")))

    monkeypatch.setattr(app.amqp, "send_task_message", record)
    return sent


@pytest.mark.parametrize("name", TASK_NAMES)
def test_a_task_queued_by_its_name_goes_to_the_queue_its_task_object_went_to(published, name):
    args = () if name in BEAT_TASKS else (1,)
    send_now(app.tasks[name], *args)
    send_now(name, *args)
    (by_object, by_object_queue), (by_name, by_name_queue) = published
    assert by_object == by_name == name
    assert by_name_queue == by_object_queue


def test_the_shadow_evaluation_queued_by_name_goes_to_its_own_queue(published):
    send_now("monitoring.tasks.shadow_evaluation_execute", 1)
    send_now("monitoring.tasks.batch_bin", 1)
    (_, shadow_queue), (_, default_queue) = published
    assert shadow_queue == app.conf.task_routes["monitoring.tasks.shadow_evaluation_execute"]["queue"]
    assert shadow_queue != default_queue
