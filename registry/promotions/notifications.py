"""Mails of the gate: to the reviewers when a request arrives, to the requester when it is
decided, to the admins when an alias moved around the gate. Mail is a courtesy: a failure is logged."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from registry.promotions.auditing import promotion_label
from registry.promotions.models import (
    PromotionRequest,
)
from registry.promotions.rules import approvers_for

logger = logging.getLogger(__name__)


def mail_send(subject: str, body: str, to: list[str]) -> None:
    if not to:
        return
    try:
        send_mail(subject, body, None, to, fail_silently=False)
    except Exception:  # mail is a courtesy: an SMTP outage must not undo a decision
        logger.exception("Could not send %r", subject)


def promotion_url(promotion: PromotionRequest) -> str:
    return f"{settings.PORTAL_BASE_URL}{reverse('registry:promotion_detail', kwargs={'pk': promotion.pk})}"


def reviewers_notify(promotion_id: int) -> None:
    promotion = PromotionRequest.objects.select_related("registered_model", "requested_by").get(pk=promotion_id)
    to = [user.email for user in approvers_for(promotion=promotion)]
    mail_send(
        f"Promotion awaits your review: {promotion_label(promotion)}",
        f"{promotion.requested_by} asks to point @{promotion.target_alias} of {promotion.registered_model.name} at "
        f"version {promotion.version}.\n\nJustification: {promotion.justification}\n\n"
        f"Checks: {'all passed' if promotion.checks_passed else 'some FAILED'}\n\nReview: {promotion_url(promotion)}\n",
        to,
    )


def requester_notify(promotion_id: int) -> None:
    promotion = PromotionRequest.objects.select_related("registered_model", "requested_by").get(pk=promotion_id)
    if not promotion.requested_by.email:
        return
    mail_send(
        f"Promotion {promotion.get_state_display().lower()}: {promotion.registered_model.name} v{promotion.version} "
        f"→ @{promotion.target_alias}",
        f"Your request is {promotion.get_state_display().lower()}.\n\n"
        + "".join(f"{d.reviewer}: {d.verdict} {d.comment}\n" for d in promotion.decisions.all())
        + f"\n{promotion_url(promotion)}\n",
        [promotion.requested_by.email],
    )
