"""The gate's demo step on the real MLflow demo model: a queue with one passing and one failing
request, and a history of promotions that really moved the alias in MLflow. Idempotent."""

import pytest

from mlopsportal.demo.gate import demo_gate_load, demo_gate_queue_load
from mlopsportal.demo.mlflow_content import demo_mirror_load
from mlopsportal.demo.steps import DEMO_STEPS, demo_users_and_projects_load
from registry.models import AuditEvent, RegisteredModel
from registry.promotions.models import PromotionRequest, PromotionState

pytestmark = pytest.mark.django_db


def test_the_gate_demo_fills_the_queue_and_the_history_once(mlflow_uri, mlflow_client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo_users_and_projects_load()
    demo_mirror_load()
    try:
        demo_gate_load()
        demo_gate_queue_load()
        counts = (PromotionRequest.objects.count(), AuditEvent.objects.count())
        demo_gate_load()
        demo_gate_queue_load()
        assert (PromotionRequest.objects.count(), AuditEvent.objects.count()) == counts

        pending = {p.version: p for p in PromotionRequest.objects.filter(state=PromotionState.PENDING)}
        assert set(pending) == {1, 3, 4}
        assert pending[3].checks_passed
        assert not pending[1].checks_passed
        assert next(c for c in pending[1].checks if c["check"] == "metric")["status"] == "failed"
        # v4 takes support_calls as an integer: the signature check already says so.
        assert next(c for c in pending[4].checks if c["check"] == "signature")["status"] == "failed"

        history = PromotionRequest.objects.filter(target_alias="production").order_by("created_at")
        assert [(p.version, p.state) for p in history] == [(1, "promoted"), (2, "promoted"), (3, "rejected")]
        assert int(mlflow_client.get_model_version_by_alias("churn-classifier", "production").version) == 2
        assert RegisteredModel.objects.get(name="churn-classifier").aliases["production"] == 2
        assert AuditEvent.objects.filter(action="promotion.promoted").count() == 2
        steps = [step.name for step in DEMO_STEPS]
        assert steps.index("promotion gate: pending requests") > steps.index("promotion gate: policy and history")
    finally:  # the MLflow server is shared by the session: leave the demo model as registry's demo made it
        mlflow_client.delete_registered_model_alias("churn-classifier", "production")
