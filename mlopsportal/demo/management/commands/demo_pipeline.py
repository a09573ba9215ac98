"""Serve the demo's stand-in training pipeline (mlopsportal/demo/pipeline.py); `make run` starts it."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from mlopsportal.demo.pipeline import server


class Command(BaseCommand):
    help = "Serve a stand-in training pipeline (Kubeflow-shaped) on loopback for the demo's retrain trigger."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=settings.PORTAL_DEMO_PIPELINE_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        calls_file = settings.VAR_DIR / "demo_pipeline_calls.jsonl"
        httpd = server(host="127.0.0.1", port=options["port"], calls_file=calls_file)
        self.stdout.write(f"Demo pipeline listening on http://127.0.0.1:{options['port']}/apis/v2beta1/runs")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
