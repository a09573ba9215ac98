"""Monitoring fixtures: files in a temporary storage, a monitor with a reference and a token, and a
way to wait until the test worker has run every task queued."""

import io

import numpy as np
import pandas as pd
import pytest

from monitoring.services import ingest_tokens, monitors, references
from tests.factories import ProjectFactory

SCHEMA = [
    {"name": "feature_a", "type": "float", "required": True},
    {"name": "feature_b", "type": "float", "required": True},
    {"name": "segment", "type": "string", "required": True},
]


@pytest.fixture(autouse=True)
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


def reference_frame(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "feature_a": rng.normal(0, 1, rows).astype(np.float32),
            "feature_b": rng.normal(5, 2, rows).astype(np.float32),
            "segment": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture
def project(engineer, reviewer, manager):
    project = ProjectFactory(name="Churn")
    project.memberships.create(user=engineer, role="lead")
    return project


@pytest.fixture
def monitor(project):
    monitor = monitors.monitor_create(
        actor=None, project=project, name="churn-champion", model_name="churn", alias="champion", expected_schema=SCHEMA
    )
    references.reference_upload(actor=None, monitor_id=monitor.pk, body=to_parquet(reference_frame()), fmt="parquet")
    return monitor


@pytest.fixture
def ingest_key(monitor):
    return ingest_tokens.ingest_token_create(actor=None, monitor=monitor, name="serving").key
