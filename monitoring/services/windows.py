"""Drift windows: by time (aligned to the window length) or by row count (whole batches)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from monitoring.models import (
    DriftRun,
    Monitor,
)
from registry.errors import PortalError

ONE_MICROSECOND = timedelta(microseconds=1)


def row_windows(monitor: Monitor) -> list[tuple[datetime, datetime, bool]]:
    """Row-count windows: consecutive whole batches (by event time) until `window_rows` rows are in.
    Each is (start, end, complete); batches sharing an event time stay in one window."""
    windows: list[tuple[datetime, datetime, bool]] = []
    start: datetime | None = None
    rows = 0
    batches = list(monitor.batches.order_by("event_time", "pk").values_list("event_time", "rows"))
    for i, (event_time, batch_rows) in enumerate(batches):
        start = start or event_time
        rows += batch_rows
        next_time = batches[i + 1][0] if i + 1 < len(batches) else None
        if rows >= (monitor.window_rows or 0) and next_time != event_time:
            windows.append((start, event_time + ONE_MICROSECOND, True))
            start, rows = None, 0
    if start is not None:
        windows.append((start, batches[-1][0] + ONE_MICROSECOND, False))
    return windows


def window_bounds(monitor: Monitor, at: datetime) -> tuple[datetime, datetime]:
    """The window containing `at`: for time windows, aligned to multiples of the window length since
    the epoch (UTC); for row-count windows, the one whose batches span `at` (else the last one)."""
    if monitor.window_rows:
        windows = row_windows(monitor)
        for start, end, _complete in windows:
            if start <= at < end:
                return start, end
        if windows and at >= windows[-1][0]:
            return windows[-1][0], windows[-1][1]
        raise PortalError("No batches in that range: a row-count window starts at its first batch.")
    seconds = monitor.window_seconds
    start = math.floor(at.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + seconds, tz=UTC)


def due_windows(*, now: datetime | None = None) -> list[tuple[Monitor, datetime]]:
    """The last complete window of each active monitor that has no finished run yet."""
    now = now or timezone.now()
    due = []
    for monitor in Monitor.objects.filter(is_active=True):
        if monitor.window_rows:
            done = set(
                DriftRun.objects.filter(monitor=monitor, status=DriftRun.Status.DONE).values_list(
                    "window_start", "window_end"
                )
            )
            due += [
                (monitor, start)
                for start, end, complete in row_windows(monitor)
                if complete and (start, end) not in done
            ]
            continue
        start, _ = window_bounds(monitor, now - timedelta(seconds=monitor.window_seconds))
        if not DriftRun.objects.filter(monitor=monitor, window_start=start, status=DriftRun.Status.DONE).exists():
            due.append((monitor, start))
    return due
