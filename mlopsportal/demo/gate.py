"""Demo content for the promotion gate, on the demo's `churn-classifier` (mlopsportal/demo/mlflow_content.py:
four versions, @champion at v2, @challenger at v3).

- a default policy: @champion and @production governed, one approval, f1 not worse by more than
  0.01, signature compatible, override allowed with a reason;
- history: v1 then v2 promoted to @production through the gate (the alias really moves in MLflow),
  and v3 to @production rejected;
- the queue: v3 → @champion pending, v1 → @champion pending with a failing f1, v4 → @champion
  pending, whose signature takes support_calls as an integer: its shadow evaluation shows MLflow
  refusing every batch production sent. The queue is a demo step of its own that runs after the
  monitors' (order 35 > 30), so its request-time checks see the churn monitor's drift as a reviewer
  would today, instead of "no monitor watches the model".

Idempotent: each request is made only if that version has none for that alias yet. Runs through the
services, so the audit log holds the same events real use would write.
"""

import logging

from django.contrib.auth import get_user_model

from registry.errors import MlflowUnavailable, PortalError
from registry.models import RegisteredModel
from registry.promotions.decisions import promotion_approve, promotion_reject
from registry.promotions.models import PromotionPolicy, PromotionRequest
from registry.promotions.outbox import promotion_execute
from registry.promotions.requests import promotion_request_create

logger = logging.getLogger(__name__)

MODEL = "churn-classifier"
HISTORY = (
    # (version, alias, verdict, justification, comment)
    (1, "production", "approve", "First model for the retention campaigns.", "Baseline, fine to start."),
    (2, "production", "approve", "Retrained on the September release: f1 0.65 → 0.78.", "Clear improvement."),
    (3, "production", "reject", "Regularisation C=3 on the October release.", "Wait for the October data review."),
)
QUEUE = (
    (3, "champion", "October retrain: better f1 on the holdout, same inputs."),
    (1, "champion", "Roll the campaign scoring back to the simpler first model."),
    (4, "champion", "November retrain on the new warehouse export: support calls counted as integers."),
)


def _policy() -> None:
    PromotionPolicy.objects.get_or_create(
        registered_model=None,
        defaults={
            "governed_aliases": ["champion", "production"],
            "approvals_required": 1,
            "metric_name": "f1",
            "metric_direction": "higher",
            "metric_tolerance": 0.01,
            "signature_check": True,
            "drift_check": True,
            "allow_override": True,
            "rollback_single_approval": True,
        },
    )


def _request(model: RegisteredModel, requester: object, version: int, alias: str, why: str) -> PromotionRequest | None:
    if PromotionRequest.objects.filter(registered_model=model, version=version, target_alias=alias).exists():
        return None
    return promotion_request_create(
        requester=requester, model_name=model.name, version=version, target_alias=alias, justification=why
    )


def _demo_actors() -> tuple[RegisteredModel, object, object] | None:
    User = get_user_model()
    model = RegisteredModel.objects.filter(name=MODEL, deleted_at__isnull=True).first()
    engineer = User.objects.filter(username="engineer").first()
    reviewer = User.objects.filter(username="reviewer").first()
    if model is None or engineer is None or reviewer is None or model.versions.count() < 3:
        logger.warning("Demo: skipping the promotion gate: %s or the demo users are missing.", MODEL)
        return None
    return model, engineer, reviewer


def demo_gate_load() -> None:
    """The policy and the history of promotions to @production."""
    actors = _demo_actors()
    if actors is None:
        return
    model, engineer, reviewer = actors
    _policy()
    try:
        for version, alias, verdict, why, comment in HISTORY:
            promotion = _request(model, engineer, version, alias, why)
            if promotion is None:
                continue
            if verdict == "reject":
                promotion_reject(request_id=promotion.pk, reviewer=reviewer, comment=comment)
                continue
            # Used only if a check fails at the decision; dropped otherwise.
            override = "Demo history: accepted by the model owner."
            promotion_approve(request_id=promotion.pk, reviewer=reviewer, comment=comment, override_reason=override)
            # Synchronously, so the demo does not depend on a worker; a queued task finds it done.
            promotion_execute(request_id=promotion.pk)
            model.refresh_from_db()
    except (PortalError, MlflowUnavailable) as exc:
        logger.warning("Demo: the promotion gate's demo stopped: %s", exc)


def demo_gate_queue_load() -> None:
    """The pending requests the reviewer finds in the queue."""
    actors = _demo_actors()
    if actors is None:
        return
    model, engineer, _ = actors
    _policy()
    try:
        for version, alias, why in QUEUE:
            _request(model, engineer, version, alias, why)
    except PortalError as exc:
        logger.warning("Demo: the promotion queue's demo stopped: %s", exc)
