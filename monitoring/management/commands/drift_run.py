"""python manage.py drift_run --monitor ID [--window 2026-11-20 | 2026-11-20T06:00 | last]"""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from monitoring.models import DriftRun, Monitor
from monitoring.services import drift_runs
from registry.errors import PortalError


class Command(BaseCommand):
    help = "Compute drift for one monitor's window now, synchronously, and print the results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--monitor", type=int, required=True, help="The monitor's id.")
        parser.add_argument(
            "--window",
            default="current",
            help="A time inside the window (ISO date or datetime, UTC), 'current' (default) "
            "or 'last' (the last complete one).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        monitor = Monitor.objects.filter(pk=options["monitor"]).first()
        if monitor is None:
            raise CommandError(f"No monitor {options['monitor']}.")
        at = self._window_time(monitor, options["window"])
        try:
            run = drift_runs.drift_run_now(monitor=monitor, window_start=at, trigger=DriftRun.Trigger.COMMAND)
        except PortalError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{monitor.name} · window {run.window_start:%Y-%m-%d %H:%M} – {run.window_end:%Y-%m-%d %H:%M} UTC · "
            f"{run.rows} rows in {run.batches} batches"
        )
        for result in run.results.all():
            verdict = "DRIFTED" if result.drifted else "ok"
            self.stdout.write(
                f"  {result.feature:<24} {result.method:<15} {result.statistic:>10.4g}  "
                f"threshold {result.threshold:<6g} {verdict:<8} {result.why}"
            )
        self.stdout.write(f"Window: {run.outcome_label.upper()} — {run.why}")
        if run.volume:
            self.stdout.write(f"Volume: {run.volume.get('anomaly') or 'ok'} — {run.volume.get('why', '')}")

    def _window_time(self, monitor: Monitor, value: str) -> datetime:
        now = timezone.now()
        if value == "current":
            return now
        if value == "last":
            return now - timedelta(seconds=monitor.window_seconds)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise CommandError(f"--window {value!r} is not an ISO date or datetime, 'current' or 'last'.") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
