"""Which policy applies: one default policy at most (the database says so), and the batched
policies_for answers what policy_for answers, model by model."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from registry.promotions.models import PromotionPolicy
from registry.promotions.policies import policies_for, policy_for

from .gate_support import mirror_model

BEFORE = [("registry", "0011_oversee_all_projects_permission")]
AFTER = [("registry", "0013_one_default_policy_constraint")]


@pytest.mark.django_db
def test_the_database_refuses_a_second_default_policy_even_with_other_approvals():
    PromotionPolicy.objects.create(registered_model=None, approvals_required=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionPolicy.objects.create(registered_model=None, approvals_required=2)
    assert PromotionPolicy.objects.filter(registered_model__isnull=True).count() == 1


@pytest.mark.django_db
def test_validating_a_second_default_policy_says_to_edit_the_existing_one():
    PromotionPolicy.objects.create(registered_model=None, approvals_required=1)
    with pytest.raises(ValidationError) as refused:
        PromotionPolicy(registered_model=None, approvals_required=2).full_clean()
    assert "There is already a default policy" in str(refused.value)


@pytest.mark.django_db
def test_models_may_each_have_a_policy_beside_the_default():
    first, second = mirror_model("first"), mirror_model("second")
    PromotionPolicy.objects.create(registered_model=None)
    PromotionPolicy.objects.create(registered_model=first, approvals_required=2)
    PromotionPolicy(registered_model=second, approvals_required=2).full_clean()
    PromotionPolicy.objects.create(registered_model=second, approvals_required=2)
    assert PromotionPolicy.objects.count() == 3


@pytest.mark.django_db
def test_policies_for_answers_what_policy_for_answers_in_one_query():
    own, without = mirror_model("own"), mirror_model("without")
    PromotionPolicy.objects.create(registered_model=None, approvals_required=2, governed_aliases=["prod"])
    PromotionPolicy.objects.create(registered_model=own, approvals_required=3, governed_aliases=["champion"])
    with CaptureQueriesContext(connection) as queries:
        policies = policies_for(registered_models=[own, without])
    assert len(queries) == 1
    for model in (own, without):
        expected = policy_for(registered_model=model)
        assert policies[model.pk].pk == expected.pk
        assert policies[model.pk].approvals_required == expected.approvals_required
    assert policies[own.pk].approvals_required == 3
    assert policies[without.pk].governed_aliases == ["prod"]


@pytest.mark.django_db
def test_without_a_default_policy_both_answer_the_built_in_defaults():
    own, without = mirror_model("own"), mirror_model("without")
    PromotionPolicy.objects.create(registered_model=own, approvals_required=3)
    policies = policies_for(registered_models=[own, without])
    assert policies[own.pk].approvals_required == 3
    built_in = policy_for(registered_model=without)
    assert built_in.pk is None and policies[without.pk].pk is None
    assert policies[without.pk].governed_aliases == built_in.governed_aliases == ["champion", "production"]
    assert policies_for(registered_models=[]) == {}


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_the_default_policy_in_force_and_deletes_the_duplicates():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    Policy = old_apps.get_model("registry", "PromotionPolicy")
    # The old constraint let defaults differ by their approvals; policy_for applied the lowest id.
    in_force = Policy.objects.create(registered_model=None, approvals_required=2, metric_name="auc")
    Policy.objects.create(registered_model=None, approvals_required=1)
    Policy.objects.create(registered_model=None, approvals_required=3)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    defaults = PromotionPolicy.objects.filter(registered_model__isnull=True)
    assert list(defaults.values_list("pk", "approvals_required", "metric_name")) == [(in_force.pk, 2, "auc")]
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionPolicy.objects.create(registered_model=None, approvals_required=5)
