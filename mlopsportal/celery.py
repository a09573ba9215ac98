"""The one Celery app. Configuration lives in settings (CELERY_*), the schedule included."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlopsportal.settings")

app = Celery("mlopsportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
