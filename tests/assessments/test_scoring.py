"""Scoring is pure: levels, percentages, gaps and staleness from outcomes, in milliseconds."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from assessments.evidence import ProjectEvidence
from assessments.scoring.results import AnswerFact, CriterionSpec, Outcome
from assessments.scoring.scorecard import score

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
STALE_AFTER = timedelta(days=180)
EVIDENCE = ProjectEvidence(since=NOW - timedelta(days=90), until=NOW)


def attested(code: str, level: int, category: str = "documentation", position: int = 0) -> CriterionSpec:
    return CriterionSpec(code=code, level=level, category=category, title=code, kind="attested", position=position)


def answer(status: str, *, age_days: int = 1, review: str = "pending") -> AnswerFact:
    return AnswerFact(status=status, answered_at=NOW - timedelta(days=age_days), review_state=review)


RUBRIC = [
    attested("A1", 1, "docs", 0),
    attested("A2", 1, "data", 1),
    attested("B1", 2, "docs", 2),
    attested("B2", 2, "cicd", 3),
]


def card(answers: dict[str, AnswerFact]):
    return score(criteria=RUBRIC, evidence=EVIDENCE, answers=answers, now=NOW, stale_after=STALE_AFTER)


def test_a_project_with_nothing_answered_is_at_level_0_with_every_criterion_a_gap():
    result = card({})
    assert result.level == 0
    assert result.overall_percent == 0
    # Next level first; within it, the category with the fewest gaps left ("data": one) first.
    assert [g.spec.code for g in result.gaps] == ["A2", "A1", "B2", "B1"]
    assert all(r.outcome is Outcome.UNANSWERED for r in result.results)


def test_level_1_needs_every_level_1_criterion_met():
    assert card({"A1": answer("met")}).level == 0
    assert card({"A1": answer("met"), "A2": answer("met")}).level == 1


def test_level_2_needs_level_1_too():
    assert card({"B1": answer("met"), "B2": answer("met")}).level == 0
    everything = {c.code: answer("met") for c in RUBRIC}
    assert card(everything).level == 2
    assert card(everything).progress_to_next == 100


def test_not_applicable_criteria_are_left_out_of_levels_and_percentages():
    result = card({"A1": answer("met"), "A2": answer("na")})
    assert result.level == 1
    assert result.level_percents[1] == 100
    assert result.category_percents["data"] == 100  # nothing applicable left in the category


def test_partly_counts_half_in_percentages_and_not_at_all_for_the_level():
    result = card({"A1": answer("met"), "A2": answer("partly")})
    assert result.level == 0
    assert result.level_percents[1] == 75
    assert result.progress_to_next == 75


def test_a_stale_met_answer_does_not_count_until_confirmed_again():
    result = card({"A1": answer("met"), "A2": answer("met", age_days=181)})
    assert result.level == 0
    assert [r.spec.code for r in result.stale] == ["A2"]
    assert result.gaps[0].spec.code == "A2"
    assert "stale" in result.gaps[0].label
    assert card({"A1": answer("met"), "A2": answer("met", age_days=179)}).level == 1


def test_a_challenged_answer_does_not_count_as_met():
    result = card({"A1": answer("met"), "A2": answer("met", review="challenged")})
    assert result.level == 0
    assert result.gaps[0].challenged


def test_gaps_put_the_next_level_first_then_the_nearly_done():
    result = card({"A1": answer("met"), "A2": answer("not_met"), "B1": answer("partly")})
    assert [g.spec.code for g in result.gaps] == ["A2", "B1", "B2"]
    assert [g.spec.code for g in result.blocking] == ["A2"]
    result = card({"A1": answer("met"), "A2": answer("met"), "B2": answer("partly")})
    assert [g.spec.code for g in result.gaps] == ["B2", "B1"]


def test_the_fingerprint_changes_with_outcomes_only():
    base = card({"A1": answer("met")})
    assert base.fingerprint() == card({"A1": answer("met", age_days=3)}).fingerprint()
    assert base.fingerprint() != card({"A1": answer("partly")}).fingerprint()


def test_an_automatic_criterion_with_an_unknown_check_has_no_evidence_yet():
    spec = CriterionSpec(code="X", level=1, category="c", title="x", kind="automatic", check_key="nope")
    result = score(criteria=[spec], evidence=EVIDENCE, answers={}, now=NOW, stale_after=STALE_AFTER)
    assert result.results[0].outcome is Outcome.NO_EVIDENCE
    assert result.level == 0


statuses = st.sampled_from(["met", "partly", "not_met", "na", None])
answer_sets = st.fixed_dictionaries({c.code: statuses for c in RUBRIC})


def _answers(statuses_by_code: dict[str, str | None]) -> dict[str, AnswerFact]:
    return {code: answer(s) for code, s in statuses_by_code.items() if s}


@given(answer_sets, st.sampled_from([c.code for c in RUBRIC]))
def test_meeting_one_more_criterion_never_lowers_the_level_or_a_percentage(statuses_by_code, code):
    before = card(_answers(statuses_by_code))
    after = card(_answers({**statuses_by_code, code: "met"}))
    assert after.level >= before.level
    assert after.overall_percent >= before.overall_percent


@given(answer_sets)
def test_a_level_means_every_criterion_up_to_it_is_met(statuses_by_code):
    result = card(_answers(statuses_by_code))
    for n in range(1, result.level + 1):
        assert result.level_percents[n] == 100
    assert all(g.spec.level > result.level for g in result.gaps)
    assert 0 <= result.overall_percent <= 100
    assert 0 <= result.progress_to_next <= 100


def test_progress_has_one_definition_the_bars_and_the_next_level_line_share():
    result = card({"A1": answer("met"), "A2": answer("partly"), "B1": answer("met")})
    assert result.level == 0
    # Toward level 1: A1 (1) and A2 (½) of 2; toward level 2: those and B1 (1), B2 (0) of 4.
    assert result.level_percents == {1: 75.0, 2: 62.5}
    assert result.progress_to_next == result.level_percents[1]
