"""Fixtures of the fault scenarios: a monitor with a reference, its files in a temporary storage."""

import pytest

from monitoring import services
from tests.factories import ProjectFactory
from tests.monitoring.conftest import SCHEMA, reference_frame, to_parquet


@pytest.fixture
def monitoring_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "monitoring": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "monitoring")},
        },
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return tmp_path / "monitoring"


@pytest.fixture
def monitor(monitoring_storage, engineer):
    project = ProjectFactory(name="Faults")
    project.memberships.create(user=engineer, role="lead")
    monitor = services.monitor_create(
        actor=None, project=project, name="faults", model_name="churn", alias="champion", expected_schema=SCHEMA
    )
    services.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    return monitor
