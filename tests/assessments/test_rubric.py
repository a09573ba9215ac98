"""The rubric loads from its migration and is consistent."""

import pytest

from assessments.models import Category, Criterion
from assessments.scoring.checks import CHECKS

pytestmark = pytest.mark.django_db


def test_the_rubric_has_at_least_30_criteria_in_at_least_8_categories():
    criteria = list(Criterion.objects.filter(active=True))
    assert len(criteria) >= 30
    assert len({c.category for c in criteria}) >= 8


def test_every_category_is_used_and_codes_are_unique():
    codes = list(Criterion.objects.values_list("code", flat=True))
    assert len(codes) == len(set(codes))
    assert {c.category for c in Criterion.objects.all()} == set(Category.values)


def test_at_least_12_automatic_criteria_each_with_a_check_the_portal_has():
    automatic = Criterion.objects.filter(kind=Criterion.Kind.AUTOMATIC)
    assert automatic.count() >= 12
    for criterion in automatic:
        assert criterion.check_key in CHECKS, criterion.code
    assert len({c.check_key for c in automatic}) == automatic.count()


def test_both_levels_have_automatic_and_attested_criteria():
    for level in (1, 2):
        kinds = set(Criterion.objects.filter(level=level).values_list("kind", flat=True))
        assert kinds == {"automatic", "attested"}, level


def test_the_database_refuses_an_automatic_criterion_without_a_check():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Criterion.objects.create(
            code="BAD-1", level=1, category="documentation", title="x", guidance="x", kind="automatic"
        )
