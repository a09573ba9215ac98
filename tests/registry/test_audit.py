import pytest

from registry.audit import audit_record, change_lines
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


@pytest.mark.parametrize(
    ("before", "after", "lines"),
    [
        ({"state": "pending"}, {"state": "approved"}, ["state: pending → approved"]),
        (None, {"state": "pending", "target_alias": "champion"}, ["state: — → pending", "target alias: — → champion"]),
        ({"aliases": ["champion"], "x": 1}, {"aliases": [], "x": 1}, ["aliases: champion → none"]),
        ({"is_active": True}, {"is_active": False, "reason": "gone"}, ["is active: yes → no", "reason: — → gone"]),
        ({"checks": {"metric": "passed"}}, {"checks": {"metric": "failed"}}, ["checks: metric passed → metric failed"]),
        (None, None, []),
    ],
)
def test_the_audit_log_says_what_changed_in_words(before, after, lines):
    assert change_lines(before, after) == lines


def test_the_audit_page_shows_changes_as_sentences_not_python_dicts(client, manager):
    audit_record(actor=None, action="promotion.approved", before={"state": "pending"}, after={"state": "approved"})
    client.force_login(manager)
    page = client.get("/audit/").content.decode()
    assert "state: pending → approved" in page
    assert "{&#x27;state&#x27;" not in page and "{'state'" not in page
