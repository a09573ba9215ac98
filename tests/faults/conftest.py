"""Fixtures of the fault scenarios: a monitor with a reference, its files in a temporary storage."""

import pytest

from monitoring.services.monitors import monitor_create
from monitoring.services.references import reference_upload
from tests.factories import ProjectFactory

# The monitoring tests' storage in a temporary directory (autouse there, and so here).
from tests.monitoring.conftest import SCHEMA, monitoring_storage, reference_frame, to_parquet  # noqa: F401


@pytest.fixture
def monitor(engineer):
    project = ProjectFactory(name="Faults")
    project.memberships.create(user=engineer, role="lead")
    monitor = monitor_create(
        actor=None, project=project, name="faults", model_name="churn", alias="champion", expected_schema=SCHEMA
    )
    reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    return monitor
