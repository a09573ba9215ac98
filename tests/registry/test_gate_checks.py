"""The gate's pure checks: metric against the current holder, signature compatibility."""

from hypothesis import given
from hypothesis import strategies as st

from registry.promotions.checks import CheckStatus, MetricDirection, metric_check, signature_check, signature_diff


def _inputs(*columns: tuple[str, str, bool]) -> list[dict]:
    return [{"name": name, "type": type_, "required": required} for name, type_, required in columns]


def test_a_candidate_worse_than_the_holder_beyond_the_tolerance_fails_and_says_by_how_much():
    outcome = metric_check(
        metric="auc",
        direction=MetricDirection.HIGHER_IS_BETTER,
        tolerance=0.01,
        candidate_metrics={"auc": 0.80},
        holder_metrics={"auc": 0.85},
    )
    assert outcome.status == CheckStatus.FAILED
    assert "worse by 0.05" in outcome.summary
    assert outcome.details["holder"] == 0.85


def test_a_slightly_worse_candidate_within_tolerance_passes_and_lower_is_better_is_respected():
    within = metric_check(
        metric="auc",
        direction=MetricDirection.HIGHER_IS_BETTER,
        tolerance=0.01,
        candidate_metrics={"auc": 0.845},
        holder_metrics={"auc": 0.85},
    )
    lower_better = metric_check(
        metric="rmse",
        direction=MetricDirection.LOWER_IS_BETTER,
        tolerance=0.0,
        candidate_metrics={"rmse": 2.0},
        holder_metrics={"rmse": 1.5},
    )
    assert within.status == CheckStatus.PASSED
    assert lower_better.status == CheckStatus.FAILED


def test_a_missing_candidate_metric_fails_and_a_first_promotion_has_nothing_to_compare():
    missing = metric_check(
        metric="auc",
        direction=MetricDirection.HIGHER_IS_BETTER,
        tolerance=0,
        candidate_metrics={},
        holder_metrics={"auc": 0.9},
    )
    first = metric_check(
        metric="auc",
        direction=MetricDirection.HIGHER_IS_BETTER,
        tolerance=0,
        candidate_metrics={"auc": 0.7},
        holder_metrics=None,
    )
    assert missing.status == CheckStatus.FAILED and "did not log 'auc'" in missing.summary
    assert first.status == CheckStatus.NOT_APPLICABLE


@given(
    holder=st.floats(-1e6, 1e6),
    delta=st.floats(0, 1e3),
    direction=st.sampled_from(list(MetricDirection)),
)
def test_an_equal_or_better_candidate_always_passes(holder, delta, direction):
    candidate = holder + delta if direction == MetricDirection.HIGHER_IS_BETTER else holder - delta
    outcome = metric_check(
        metric="m", direction=direction, tolerance=0, candidate_metrics={"m": candidate}, holder_metrics={"m": holder}
    )
    assert outcome.status == CheckStatus.PASSED


def test_the_issue_scenario_an_extra_required_input_and_float32_to_float64_is_reported_as_a_diff():
    holder = _inputs(("feature_a", "float", True), ("feature_b", "float", True))
    candidate = _inputs(("feature_a", "double", True), ("feature_b", "string", True), ("feature_c", "double", True))

    rows = {row.column: row for row in signature_diff(expected=holder, received=candidate)}
    outcome = signature_check(candidate_inputs=candidate, holder_inputs=holder)

    assert rows["feature_a"].finding == "type widened" and not rows["feature_a"].breaking
    assert (rows["feature_b"].expected, rows["feature_b"].received, rows["feature_b"].breaking) == (
        "float",
        "string",
        True,
    )
    assert rows["feature_c"].finding == "new required input"
    assert outcome.status == CheckStatus.FAILED
    assert "feature_b: type changed (float -> string)" in outcome.summary
    assert "feature_c: new required input" in outcome.summary


def test_a_removed_input_breaks_and_a_new_optional_one_does_not():
    holder = _inputs(("age", "long", True), ("plan", "string", True))
    assert signature_check(candidate_inputs=_inputs(("age", "long", True)), holder_inputs=holder).blocks
    widened = _inputs(("age", "long", True), ("plan", "string", True), ("region", "string", False))
    outcome = signature_check(candidate_inputs=widened, holder_inputs=holder)
    assert outcome.status == CheckStatus.PASSED
    assert outcome.details["diff"][0]["finding"] == "new optional input"


def test_a_candidate_without_signature_fails_and_identical_signatures_pass():
    holder = _inputs(("x", "double", True))
    assert signature_check(candidate_inputs=None, holder_inputs=holder).status == CheckStatus.FAILED
    same = signature_check(candidate_inputs=holder, holder_inputs=holder)
    assert same.status == CheckStatus.PASSED and same.details["diff"] == []
