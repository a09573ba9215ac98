"""Ingest tokens: the credential a serving system posts a monitor's batches with."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from monitoring.models import (
    IngestToken,
    Monitor,
)
from monitoring.services import monitors
from registry.errors import PortalError
from registry.tokens import secret_hash, secret_new

TOKEN_PREFIX = "mpi_"  # marks a monitoring ingest token in logs and secret scanners


class NotFound(PortalError):
    status_code = 404
    code = "not_found"


class Unauthenticated(PortalError):
    status_code = 401
    code = "not_authenticated"


@dataclass
class NewToken:
    token: IngestToken
    key: str  # shown once, never stored


def ingest_token_create(*, actor: AbstractBaseUser | None, monitor: Monitor, name: str = "") -> NewToken:
    if actor is not None:
        monitors.ensure_editable(monitor.project, actor)
    key = secret_new(TOKEN_PREFIX)
    token = IngestToken.objects.create(
        monitor=monitor, name=name, prefix=key[:12], key_hash=secret_hash(key), created_by=actor
    )
    return NewToken(token=token, key=key)


def ingest_token_revoke(*, actor: AbstractBaseUser, token_id: int) -> IngestToken:
    token = IngestToken.objects.select_related("monitor__project").get(pk=token_id)
    monitors.ensure_editable(token.monitor.project, actor)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def ingest_token_check(*, monitor_id: int, key: str) -> Monitor:
    """The monitor a key may post to; 401 for a missing, wrong or revoked key, 404 for an unknown monitor."""
    if not key:
        raise Unauthenticated("Send the monitor's ingest token as “Authorization: Bearer <token>”.")
    live = IngestToken.objects.select_related("monitor").filter(revoked_at__isnull=True)
    token = live.filter(key_hash=secret_hash(key)).first()
    if token is None:
        if not Monitor.objects.filter(pk=monitor_id).exists():
            raise NotFound(f"No monitor {monitor_id}.")
        raise Unauthenticated("The ingest token is wrong or revoked.")
    if token.monitor_id != monitor_id:
        # A valid key for another monitor learns nothing about this one.
        raise NotFound(f"No monitor {monitor_id} for this token.")
    IngestToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.monitor
