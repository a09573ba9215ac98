"""`manage.py mlflow_webhooks [--register]`: list, or create/update, the portal's webhook on MLflow."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.mirror.webhooks import EVENTS

WEBHOOK_NAME = "mlops-portal-mirror"


class Command(BaseCommand):
    help = (
        "Show the MLflow webhooks; with --register, create (or update) the portal's webhook so MLflow "
        "calls PORTAL_MLFLOW_WEBHOOK_URL, signed with PORTAL_MLFLOW_WEBHOOK_SECRET, on every model change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--register", action="store_true", help="Create or update the portal's webhook.")
        parser.add_argument("--url", default="", help="Overrides PORTAL_MLFLOW_WEBHOOK_URL.")

    def handle(self, *args: Any, **options: Any) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI, registry_uri=settings.MLFLOW_TRACKING_URI)
        try:
            existing = [hook for hook in client.list_webhooks(max_results=1000) if hook.name == WEBHOOK_NAME]
            if options["register"]:
                url = options["url"] or settings.PORTAL_MLFLOW_WEBHOOK_URL
                secret = settings.PORTAL_MLFLOW_WEBHOOK_SECRET
                if not url or not secret:
                    raise CommandError("Set PORTAL_MLFLOW_WEBHOOK_URL (or --url) and PORTAL_MLFLOW_WEBHOOK_SECRET.")
                if existing:
                    hook = client.update_webhook(
                        webhook_id=existing[0].webhook_id, url=url, events=list(EVENTS), secret=secret, status="ACTIVE"
                    )
                    self.stdout.write(f"Updated webhook {hook.webhook_id} → {url}")
                else:
                    hook = client.create_webhook(
                        name=WEBHOOK_NAME,
                        url=url,
                        events=list(EVENTS),
                        secret=secret,
                        description="MLOps portal: sync the mirror of a model as soon as it changes.",
                    )
                    self.stdout.write(f"Created webhook {hook.webhook_id} → {url}")
                existing = [hook]
        except MlflowException as exc:
            raise CommandError(f"MLflow refused: {exc}") from exc
        for hook in existing:
            events = ", ".join(str(event) for event in hook.events)
            self.stdout.write(f"{hook.name} {hook.webhook_id} {hook.status} {hook.url} [{events}]")
        if not existing:
            self.stdout.write("The portal's webhook is not registered (run with --register).")
