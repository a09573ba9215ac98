"""Monitors describe themselves in words people use, not in settings' units."""

import pytest

from monitoring.models import Monitor

ROW_WINDOWS = "windows of 10,000 rows (whole batches); a window drifts when 50 % of its features drift"


@pytest.mark.parametrize(
    ("seconds", "rows", "share", "words"),
    [
        (86_400, None, 0.3, "daily windows; a window drifts when 30 % of its features drift"),
        (3_600, None, 0.5, "hourly windows; a window drifts when 50 % of its features drift"),
        (21_600, None, 0.25, "6-hour windows; a window drifts when 25 % of its features drift"),
        (900, None, 1.0, "15-minute windows; a window drifts when all of its features drift"),
        (86_400, 10_000, 0.5, ROW_WINDOWS),
    ],
)
def test_a_monitor_says_its_window_and_drift_rule_in_words(seconds, rows, share, words):
    assert Monitor(window_seconds=seconds, window_rows=rows, drift_share=share).window_rule == words
