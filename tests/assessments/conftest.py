import importlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from celery.signals import before_task_publish, task_postrun

from tests.waiting import wait_for


@pytest.fixture(autouse=True)
def rubric(request):
    """The rubric comes from a data migration; a transactional test elsewhere flushes the tables
    after itself, so put the rubric back for tests that use the database."""
    uses_db = {"db", "transactional_db"} & set(request.fixturenames)
    if not uses_db and not request.node.get_closest_marker("django_db"):
        return
    request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
    from django.apps import apps

    from assessments.models import Criterion

    if not Criterion.objects.exists():
        migration = importlib.import_module("assessments.migrations.0002_rubric_v1")
        migration.load_rubric(apps, None)


class TaskLedger:
    """Each task published from this process since the test began (the test's, and those the
    in-process worker's tasks queue), against the runs the worker finished, by task id: when every
    published task has finished as often as it was published (a retry publishes it again), nothing
    queued is left to run, so a duplicate that was coming has arrived. Tasks left over from another
    test are not counted."""

    def __init__(self) -> None:
        self.published: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.lock = threading.Lock()

    def on_publish(self, headers: dict | None = None, **_: object) -> None:
        with self.lock:
            self.published[(headers or {}).get("id", "")] += 1

    def on_finish(self, task_id: str = "", **_: object) -> None:
        with self.lock:
            self.finished[task_id] += 1

    def drained(self) -> bool:
        with self.lock:
            return all(self.finished[task_id] >= times for task_id, times in self.published.items())


@pytest.fixture
def worker_drained(celery_worker) -> Iterator[Callable[[], None]]:
    """Call it to wait until the worker has run every task queued since the test began (and every
    task those queued); then assert that no duplicate arrived."""
    ledger = TaskLedger()
    before_task_publish.connect(ledger.on_publish, weak=False)
    task_postrun.connect(ledger.on_finish, weak=False)

    def wait() -> None:
        wait_for(ledger.drained, timeout=120, message="the worker running every task queued")

    try:
        yield wait
    finally:
        before_task_publish.disconnect(ledger.on_publish)
        task_postrun.disconnect(ledger.on_finish)
