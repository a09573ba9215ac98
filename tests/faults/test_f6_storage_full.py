"""F6: the disk that holds raw batches is full, then read-only.

The monitoring storage is a real filesystem of its own: a tmpfs of 256 KiB mounted for the test
(root only; skipped where mounting is not allowed). A batch bigger than the space left gets 507 with
a JSON message and Retry-After, nothing stays behind (no row, no partial file) and the monitor gets
one critical alert however many batches are refused; the same filesystem remounted read-only gives
503; given room again, the next batch is stored. Before monitoring.services.files.file_stored, a full disk
answered 500 and left the partial file."""

import subprocess
from pathlib import Path

import pytest

from monitoring.models import Alert, InferenceBatch
from monitoring.services.ingest_tokens import ingest_token_create
from tests.monitoring.conftest import reference_frame

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path, settings) -> Path:
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    settings.STORAGES = {
        **settings.STORAGES,
        "monitoring": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(where)}},
    }
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def files_in(where: Path) -> list[Path]:
    return [path for path in where.rglob("*") if path.is_file()]


@pytest.mark.django_db
def test_a_full_then_read_only_batch_store_refuses_batches_whole_and_raises_one_alert_per_cause(
    client, monitor, small_disk
):
    key = ingest_token_create(actor=None, monitor=monitor, name="serving").key

    def post(rows: int):
        return client.post(
            f"/api/v1/monitors/{monitor.pk}/batches/",
            reference_frame(rows, seed=rows).to_csv(index=False),
            content_type="text/csv",
            headers={"Authorization": f"Bearer {key}"},
        )

    too_big = [post(20_000) for _ in range(3)]  # ~600 KB each, 256 KiB of disk

    assert [r.status_code for r in too_big] == [507, 507, 507]
    assert too_big[0].json()["error"]["code"] == "storage_full"
    assert "nothing was stored" in too_big[0].json()["error"]["message"]
    assert too_big[0]["Retry-After"] == "60"
    assert InferenceBatch.objects.count() == 0
    assert files_in(small_disk) == []  # what the disk took before it was full is gone
    full = Alert.objects.get(monitor=monitor, kind=Alert.Kind.STORAGE)
    assert (full.severity, full.status) == (Alert.Severity.CRITICAL, Alert.Status.OPEN)
    assert "is full" in full.title

    assert _mount("-o", "remount,ro", str(small_disk)).returncode == 0
    read_only = post(100)

    assert read_only.status_code == 503
    assert read_only.json()["error"]["code"] == "storage_unavailable"
    assert InferenceBatch.objects.count() == 0
    assert Alert.objects.filter(monitor=monitor, kind=Alert.Kind.STORAGE).count() == 2  # one per cause

    assert _mount("-o", "remount,rw,size=16m", str(small_disk)).returncode == 0
    stored = post(20_000)

    assert stored.status_code == 201
    assert [path.name for path in files_in(small_disk)] == [Path(InferenceBatch.objects.get().file_name).name]
    print(
        f"\n[faults] F6 batch store: full -> {[r.status_code for r in too_big]} (one alert), read-only -> "
        f"{read_only.status_code}, room again -> {stored.status_code}; no row or file left by a refusal"
    )
