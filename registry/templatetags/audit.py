"""Audit events in words on the pages (the CSV export keeps the recorded values as they are)."""

from django import template

from ..audit import change_lines
from ..models import AuditEvent

register = template.Library()


@register.filter
def changes(event: AuditEvent) -> list[str]:
    return change_lines(event.before, event.after)
