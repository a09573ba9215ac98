"""Posting to someone else's endpoint (webhooks, pipelines), bounded in time; failures worth a retry."""

from __future__ import annotations

import time

import requests
from django.conf import settings
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat

from monitoring.models import (
    Notification,
    RetrainEvent,
)


class DeliveryFailed(Exception):
    """A notification or retrain call failed in a way worth retrying (network, timeout, 5xx, 429)."""


ANSWER_KEPT_BYTES = 4000  # what is kept of a pipeline's answer, shown with the retrain event


def post_within(url: str, *, body: bytes, headers: dict[str, str], keep_answer: bool) -> tuple[int, str]:
    """POST to someone else's endpoint: its HTTP status and (if asked) the start of its answer. Bounded
    by MONITORING_WEBHOOK_TIMEOUT: requests' timeout bounds connecting and each wait for data, so an
    endpoint that hangs is given up after that long. The answer is read a byte at a time against the
    same deadline: requests' timeout is per read, so an answer trickled slowly would otherwise hold
    the worker as long as the sender liked. Raises DeliveryFailed naming the timeout."""
    timeout = settings.MONITORING_WEBHOOK_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        with requests.post(url, data=body, headers=headers, timeout=timeout, stream=True) as response:
            answer = bytearray()
            if keep_answer:
                for byte in response.iter_content(chunk_size=1):
                    answer += byte
                    if len(answer) >= ANSWER_KEPT_BYTES:
                        break
                    if time.monotonic() > deadline:
                        raise DeliveryFailed(
                            f"HTTP {response.status_code}, but its answer was still arriving "
                            f"at the {timeout:g} s timeout"
                        )
            return response.status_code, answer.decode("utf-8", "replace")
    except requests.Timeout as exc:
        raise DeliveryFailed(f"no answer within the {timeout:g} s timeout") from exc
    except requests.RequestException as exc:
        raise DeliveryFailed(f"could not reach the endpoint: {exc}") from exc


def delivery_failure_explained(
    *, notification_id: int | None = None, retrain_event_id: int | None = None, what_next: str
) -> None:
    """Adds what happens next to a failed delivery's error, as the monitor's page shows it: "next
    attempt in 4 s", or "gave up after 6 attempts"."""
    if notification_id is not None:
        Notification.objects.filter(pk=notification_id, status=Notification.Status.FAILED).update(
            last_error=Concat(F("last_error"), Value(f"; {what_next}"), output_field=TextField())
        )
    if retrain_event_id is not None:
        RetrainEvent.objects.filter(pk=retrain_event_id, status=RetrainEvent.Status.FAILED).update(
            response_body=Concat(F("response_body"), Value(f"; {what_next}"), output_field=TextField())
        )
