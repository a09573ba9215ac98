"""How long ago, as a person says it: "just now" under a minute (Django's timesince says "0 minutes"),
else the largest unit only ("3 hours ago", not "3 hours, 12 minutes ago")."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


def ago(moment: datetime, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now).split(',')[0]} ago"


register.filter("ago", ago)
