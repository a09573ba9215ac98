"""Waiting for an outcome in tests that run real workers and servers: one helper, bounded, failing
with a message. A wait is not a timing assertion: speed goals live in bench/."""

import time
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
