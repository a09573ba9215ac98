"""The maturity check the promotion gate runs when a policy sets a minimum level."""

import pytest

from assessments.gate import maturity_gate_check, maturity_outcome
from registry.promotions.checks import CheckStatus
from tests.factories import ProjectFactory


def test_a_project_at_or_above_the_minimum_passes_and_below_it_fails_naming_the_gaps():
    assert maturity_outcome(project_name="Churn", level=2, required=1, blocking=[]).status is CheckStatus.PASSED
    failed = maturity_outcome(project_name="Churn", level=0, required=1, blocking=["EXP-1", "REG-2"])
    assert failed.status is CheckStatus.FAILED and "EXP-1, REG-2" in failed.summary


def test_no_minimum_is_not_applicable_and_a_model_without_a_project_fails():
    assert maturity_outcome(project_name="x", level=0, required=None, blocking=[]).status is CheckStatus.NOT_APPLICABLE
    assert maturity_outcome(project_name=None, level=None, required=1, blocking=[]).status is CheckStatus.FAILED


@pytest.mark.django_db
def test_the_gate_check_scores_the_models_project_now():
    from django.utils import timezone

    from registry.models import ModelVersion, RegisteredModel
    from registry.promotions.checks_run import GateCheckContext
    from registry.promotions.models import PromotionPolicy

    project = ProjectFactory(name="Gated")
    model = RegisteredModel.objects.create(name="gated-now", project=project)
    candidate = ModelVersion.objects.create(registered_model=model, version=1, created_at=timezone.now())
    context = GateCheckContext(
        registered_model=model,
        candidate=candidate,
        holder=None,
        alias="champion",
        policy=PromotionPolicy(maturity_min_level=1),  # unsaved: the gate's built-in defaults, with a minimum
    )
    outcome = maturity_gate_check(context)
    assert outcome.status is CheckStatus.FAILED
    assert outcome.details["level"] == 0 and outcome.details["blocking"]


@pytest.mark.django_db
def test_the_gate_runs_the_registered_maturity_check_when_a_policy_sets_a_minimum():
    from django.utils import timezone

    from registry.models import ModelVersion, RegisteredModel
    from registry.promotions.checks_run import GateCheckContext, checks_run
    from registry.promotions.models import PromotionPolicy

    project = ProjectFactory(name="Immature")
    model = RegisteredModel.objects.create(name="immature-model", project=project)
    candidate = ModelVersion.objects.create(registered_model=model, version=1, created_at=timezone.now())
    policy = PromotionPolicy.objects.create(registered_model=model, maturity_min_level=1, drift_check=False)
    outcomes = checks_run(
        context=GateCheckContext(
            registered_model=model, candidate=candidate, holder=None, alias="champion", policy=policy
        )
    )
    maturity = next(o for o in outcomes if o.check == "maturity")
    assert maturity.status is CheckStatus.FAILED and "level 0" in maturity.summary


def test_the_maturity_check_is_registered_with_the_gate_when_the_app_loads():
    from registry.promotions.checks_run import GATE_CHECKS

    assert GATE_CHECKS["maturity"] is maturity_gate_check
