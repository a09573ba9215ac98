"""Where raw batches live is configured from the environment alone, object storage included."""

import json
import os
import subprocess
import sys

from .conftest import REPO_ROOT

READ = """
import json, django
django.setup()
from monitoring.models import monitoring_storage
storage = monitoring_storage()
print(json.dumps({"class": type(storage).__name__, "location": str(storage.location), "base_url": storage.base_url}))
"""


def storage_with(tmp_path, **variables: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlopsportal.settings", "PORTAL_VAR_DIR": str(tmp_path)}
    env.pop("PORTAL_MONITORING_STORAGE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", READ], cwd=REPO_ROOT, env=env | variables, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_a_storage_backend_takes_its_options_as_json_from_the_environment(tmp_path):
    default = storage_with(tmp_path)
    configured = storage_with(
        tmp_path,
        PORTAL_MONITORING_STORAGE_BACKEND="django.core.files.storage.FileSystemStorage",
        PORTAL_MONITORING_STORAGE_OPTIONS=json.dumps({"location": str(tmp_path / "shared"), "base_url": "/raw/"}),
    )

    assert default["location"] == str(tmp_path / "media" / "monitoring")
    assert configured == {"class": "FileSystemStorage", "location": str(tmp_path / "shared"), "base_url": "/raw/"}
