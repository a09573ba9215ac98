"""`manage.py mlflow_sync [--full] [--model NAME]`: one sync pass now, and what it changed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.mirror.sync import sync_execute
from registry.mirror.sync_stages import KINDS
from registry.models import SyncRun


class Command(BaseCommand):
    help = "Sync the mirror with the MLflow server now (incremental unless --full) and print what changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="Full reconcile: re-read everything.")
        parser.add_argument("--model", default="", help="Only this registered model and its versions.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["model"]:
            kind = SyncRun.Kind.MODEL
        else:
            kind = SyncRun.Kind.FULL if options["full"] else SyncRun.Kind.INCREMENTAL
        sync = sync_execute(kind=kind, model_name=options["model"])
        if sync.status == SyncRun.Status.SKIPPED:
            raise CommandError("Another sync is running; try again when it has finished.")
        self.stdout.write(f"{sync.get_kind_display()} sync of {sync.mlflow_uri}: {sync.status}")
        width = max(len(kind) for kind in KINDS)
        for kind_name in KINDS:
            changes = sync.counts.get(kind_name, {})
            self.stdout.write(
                f"  {kind_name:<{width}}  created {changes.get('created', 0):>6}  "
                f"updated {changes.get('updated', 0):>6}  deleted {changes.get('deleted', 0):>6}"
            )
        self.stdout.write(f"Took {sync.duration_ms / 1000:.2f} s")
        if sync.status == SyncRun.Status.FAILED:
            raise CommandError(sync.error)
