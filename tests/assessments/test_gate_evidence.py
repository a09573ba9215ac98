"""Release criteria from the real promotion gate: its policies and the audit events it writes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from assessments.evidence import SOURCE_GATE
from assessments.evidence_sources import project_evidence
from assessments.scoring.checks import run_check
from assessments.scoring.results import Outcome
from registry.audit import audit_record
from registry.models import ModelVersion, RegisteredModel
from registry.promotions.models import PromotionPolicy
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def served():
    project = ProjectFactory(name="Gated")
    model = RegisteredModel.objects.create(name="gated-model", project=project, aliases={"champion": 2})
    for version in (1, 2):
        ModelVersion.objects.create(
            registered_model=model,
            version=version,
            signature_inputs=[{"name": "x", "type": "double", "required": True}],
            aliases=["champion"] if version == 2 else [],
            created_at=timezone.now(),
        )
    return project, model


def outcome(key: str, project):
    evidence = project_evidence(project=project, now=timezone.now(), window=timedelta(days=90))
    assert SOURCE_GATE in evidence.sources
    return run_check(key, evidence)


def _moved(model, project, action: str) -> None:
    audit_record(
        action=action, obj=model, project=project, data={"model": model.name, "alias": "champion", "version": 2}
    )


def test_the_alias_moved_by_an_approved_promotion_meets_the_release_criterion(served):
    project, model = served
    assert outcome("alias_via_gate", project).outcome is Outcome.NOT_MET  # never moved through the gate
    _moved(model, project, "promotion.promoted")
    assert outcome("alias_via_gate", project).outcome is Outcome.MET


def test_a_bypass_after_the_promotion_breaks_it(served):
    project, model = served
    _moved(model, project, "promotion.promoted")
    _moved(model, project, "alias.bypassed")
    result = outcome("alias_via_gate", project)
    assert result.outcome is Outcome.NOT_MET and "outside the gate" in result.summary


def test_the_metric_check_comes_from_the_models_policy_or_the_default_one(served):
    project, model = served
    assert outcome("promotion_metric_check", project).outcome is Outcome.NOT_MET  # no policy at all
    default = PromotionPolicy.objects.create(registered_model=None, metric_name="auc")
    assert outcome("promotion_metric_check", project).outcome is Outcome.MET
    PromotionPolicy.objects.create(registered_model=model, metric_name="")  # its own policy wins
    assert outcome("promotion_metric_check", project).outcome is Outcome.NOT_MET
    PromotionPolicy.objects.filter(registered_model=model).update(metric_name="f1")
    assert outcome("promotion_metric_check", project).outcome is Outcome.MET
    assert default.pk


def test_each_model_is_judged_on_the_policy_the_gate_applies_to_it(served):
    from registry.promotions.policies import policy_for

    project, model = served
    other = RegisteredModel.objects.create(name="gated-other", project=project)
    ModelVersion.objects.create(registered_model=other, version=1, created_at=timezone.now())
    PromotionPolicy.objects.create(registered_model=None, metric_name="auc")
    PromotionPolicy.objects.create(registered_model=model, metric_name="")
    evidence = project_evidence(project=project, now=timezone.now(), window=timedelta(days=90))
    judged = {p.model: p.requires_metric_check for p in evidence.gate_policies}
    assert judged == {m.name: bool(policy_for(registered_model=m).metric_name) for m in (model, other)}
    assert judged == {"gated-model": False, "gated-other": True}
