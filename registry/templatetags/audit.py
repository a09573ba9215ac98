"""Audit events in words on the pages (the CSV export keeps the recorded values as they are)."""

from django import template

from registry.audit import change_lines
from registry.models import AuditEvent

register = template.Library()


@register.filter
def changes(event: AuditEvent) -> list[str]:
    return change_lines(event.before, event.after)
