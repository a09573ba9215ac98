"""Receiving MLflow 3 webhooks: verify, deduplicate, queue a sync of the model that changed.

MLflow signs each delivery: header X-MLflow-Signature = "v1," + base64(HMAC-SHA256(secret,
"<delivery id>.<timestamp>.<raw body>")), with X-MLflow-Delivery-Id and X-MLflow-Timestamp (Unix
seconds). Polling stays on as the safety net: a lost webhook only delays a change by a minute.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mlopsportal.dispatch import queue_after_commit
from registry.api_errors import error_body
from registry.models import SyncRun, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
# The events that change what the mirror holds about a registered model.
EVENTS = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
)


class WebhookRejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def signature_for(*, secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class VerifiedDelivery:
    delivery_id: str
    event: str
    model_name: str
    payload: dict[str, Any]


def delivery_verify(
    *, headers: dict[str, str], body: bytes, secret: str, max_age_seconds: float, now: float
) -> VerifiedDelivery:
    """Check signature and timestamp and parse the payload; raise WebhookRejected otherwise."""
    if not secret:
        raise WebhookRejected(503, "webhooks_disabled", "This portal has no MLflow webhook secret configured.")
    delivery_id = headers.get(DELIVERY_ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (delivery_id and timestamp and signature):
        raise WebhookRejected(
            400, "missing_headers", f"{SIGNATURE_HEADER}, {TIMESTAMP_HEADER} and {DELIVERY_ID_HEADER} are required."
        )
    expected = signature_for(secret=secret, delivery_id=delivery_id, timestamp=timestamp, body=body)
    # A header may carry several space-separated signatures (secret rotation): any may match.
    if not any(hmac.compare_digest(expected, candidate) for candidate in signature.split()):
        raise WebhookRejected(401, "bad_signature", "The signature does not match this delivery.")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookRejected(400, "bad_timestamp", "The timestamp is not Unix seconds.") from exc
    if abs(now - sent) > max_age_seconds:
        raise WebhookRejected(400, "stale_timestamp", f"The delivery is older than {int(max_age_seconds)} s.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise WebhookRejected(400, "parse_error", "The body is not JSON.") from exc
    # Signed by whoever holds the secret, but still only trusted to be JSON: anything but an object
    # with an object "data" is answered, not crashed on.
    if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
        raise WebhookRejected(
            400, "bad_payload", 'The body must be a JSON object with "entity", "action" and an object "data".'
        )
    event = f"{payload.get('entity', '')}.{payload.get('action', '')}"
    model_name = str((payload.get("data") or {}).get("name", ""))
    return VerifiedDelivery(delivery_id=delivery_id, event=event, model_name=model_name, payload=payload)


def delivery_accept(*, delivery: VerifiedDelivery) -> bool:
    """Record the delivery and queue a sync of its model. False when this delivery id was seen."""
    from registry.mirror.tasks import mlflow_sync

    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                delivery_id=delivery.delivery_id[:200],
                event=delivery.event[:100],
                model_name=delivery.model_name[:500],
                payload=delivery.payload,
            )
            if delivery.event in EVENTS and delivery.model_name:
                queue_after_commit(mlflow_sync, kind=SyncRun.Kind.MODEL, model_name=delivery.model_name)
    except IntegrityError:
        return False
    return True


@csrf_exempt
@require_POST
def mlflow_webhook(request: HttpRequest) -> JsonResponse:
    """Public on purpose: MLflow cannot sign in. The HMAC signature is the authentication."""
    try:
        delivery = delivery_verify(
            headers=request.headers,
            body=request.body,
            secret=settings.PORTAL_MLFLOW_WEBHOOK_SECRET,
            max_age_seconds=settings.PORTAL_MLFLOW_WEBHOOK_MAX_AGE.total_seconds(),
            now=time.time(),
        )
    except WebhookRejected as exc:
        logger.warning("MLflow webhook rejected: %s", exc.message)
        return JsonResponse(error_body(exc.status, exc.code, exc.message), status=exc.status)
    if not delivery_accept(delivery=delivery):
        return JsonResponse(
            error_body(409, "replayed_delivery", f"Delivery {delivery.delivery_id} was already received."),
            status=409,
        )
    queued = delivery.event in EVENTS and bool(delivery.model_name)
    return JsonResponse({"accepted": True, "event": delivery.event, "sync_queued": queued}, status=202)
