import pytest

from registry.audit import audit_record
from registry.models import AuditEvent, ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


def test_an_audit_event_names_the_actor_the_object_and_its_project(engineer, private_project):
    model = RegisteredModel.objects.create(name="churn", project=private_project)
    version = ModelVersion.objects.create(registered_model=model, version=3)

    event = audit_record(
        action="promotion.approved", actor=engineer, obj=version, summary="v3 to champion", data={"alias": "champion"}
    )

    stored = AuditEvent.objects.get()
    assert stored == event
    assert (stored.action, stored.actor, stored.object_type, stored.object_id) == (
        "promotion.approved",
        engineer,
        "registry.modelversion",
        str(version.pk),
    )
    assert stored.project == private_project  # found through the version's registered model
    assert stored.data == {"alias": "champion"} and stored.at is not None


def test_an_audit_event_without_an_action_is_refused():
    with pytest.raises(ValueError, match="action"):
        audit_record(action="")
    assert not AuditEvent.objects.exists()
