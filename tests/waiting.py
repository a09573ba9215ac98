"""Waiting for an outcome in tests that run real workers and servers: one helper, bounded, failing
with a message. A wait is not a timing assertion: speed goals live in bench/."""

import threading
import time
from collections import Counter
from collections.abc import Callable

from django.db import close_old_connections


def wait_for(
    condition: Callable[[], object],
    *,
    timeout: float = 60,
    interval: float = 0.2,
    message: str | Callable[[], str] = "",
) -> None:
    """Poll `condition` until it is truthy; AssertionError after `timeout` seconds, saying `message`
    (a function is called then, to describe the state at the deadline: say, the tasks still running). Database
    connections this loop opened are closed between polls, as a web request would, so each poll
    reads what other processes committed since."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            said = message() if callable(message) else message
            raise AssertionError(f"{said or 'the condition'} did not happen within {timeout} s")
        time.sleep(interval)
        close_old_connections()


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
