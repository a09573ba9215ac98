"""The audit log cannot be changed: no service does it, and PostgreSQL refuses it."""

import pytest
from django.db import DatabaseError, connection, transaction

from registry.audit import audit_record
from registry.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_to_update_or_delete_audit_rows(engineer):
    event = audit_record(action="promotion.requested", actor=engineer, summary="original")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE registry_auditevent SET actor_id = NULL")
    event.refresh_from_db()
    assert event.summary == "original" and event.actor == engineer


def test_an_event_records_before_after_request_id_and_ip(rf, engineer):
    request = rf.post("/x", HTTP_X_REQUEST_ID="req-42", REMOTE_ADDR="10.1.2.3")
    event = audit_record(action="policy.changed", actor=engineer, before={"a": 1}, after={"a": 2}, request=request)
    event.refresh_from_db()
    assert (event.before, event.after, event.request_id, event.ip) == ({"a": 1}, {"a": 2}, "req-42", "10.1.2.3")


def test_a_user_or_project_with_audit_history_cannot_be_deleted_and_the_admin_says_why(client, portal_admin, engineer):
    from django.db.models import ProtectedError

    from tests.factories import ProjectFactory

    project = ProjectFactory(name="Audited")
    event = audit_record(action="project.updated", actor=engineer, project=project, summary="renamed")
    with pytest.raises(ProtectedError), transaction.atomic():
        engineer.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        project.delete()
    event.refresh_from_db()
    assert (event.actor, event.project) == (engineer, project)

    client.force_login(portal_admin)
    page = client.get(f"/admin/auth/user/{engineer.pk}/delete/")
    assert page.status_code == 200
    assert "<title>Cannot delete user" in page.content.decode()
