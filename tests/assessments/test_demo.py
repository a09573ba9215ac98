"""The assessments demo: answers per target level, history for the trend, safe to run twice."""

import pytest

from assessments.models import AttestedAnswer, ScorecardSnapshot
from assessments.selectors import portfolio_for
from mlopsportal.demo.maturity import DEMO_TARGETS, demo_load
from mlopsportal.demo.steps import demo_users_and_projects_load
from registry.promotions.models import PromotionRequest

pytestmark = pytest.mark.django_db


def test_the_demo_answers_each_project_up_to_its_target_level_and_runs_twice_safely(mlflow_uri, manager):
    demo_users_and_projects_load()
    demo_load()
    answers, snapshots = AttestedAnswer.objects.count(), ScorecardSnapshot.objects.count()
    demo_load()
    assert (AttestedAnswer.objects.count(), ScorecardSnapshot.objects.count()) == (answers, snapshots)

    for slug, target in DEMO_TARGETS.items():
        latest = ScorecardSnapshot.objects.filter(project__slug=slug).order_by("-computed_at").first()
        attested = AttestedAnswer.objects.filter(project__slug=slug)
        assert all(a.status == "met" for a in attested if a.criterion.level <= target)
        assert latest.level <= target  # answers alone never lift a project: evidence decides the rest
        if target < 2:
            assert (
                attested.filter(criterion__level=target + 1).exclude(status="met").exists()
                or not attested.filter(criterion__level=target + 1).exists()
            )
    accepted = AttestedAnswer.objects.filter(project__slug="churn-prediction", review_state="accepted")
    assert accepted.exists()


def test_fraud_detection_reaches_level_1_by_its_evidence_and_demand_forecasting_stays_at_0(mlflow_uri, manager):
    demo_users_and_projects_load()
    demo_load()
    levels = {
        slug: ScorecardSnapshot.objects.filter(project__slug=slug).order_by("-computed_at").first()
        for slug in ("fraud-detection", "demand-forecasting")
    }
    fraud = levels["fraud-detection"]
    assert fraud.level == 1, [c for c, o in fraud.outcomes.items() if o["outcome"] != "met" and c[-1] in "1234"]
    for code in ("EXP-1", "REP-1", "REP-2", "REP-3", "VAL-1", "REG-1", "REG-2", "CT-1", "MON-1"):
        assert fraud.outcomes[code]["outcome"] == "met", (code, fraud.outcomes[code]["summary"])
    assert levels["demand-forecasting"].level == 0


def test_the_demo_history_gives_the_portfolio_a_trend(mlflow_uri, manager):
    demo_users_and_projects_load()
    demo_load()
    rows = {r.project.slug: r for r in portfolio_for(user=manager)}
    assert rows["churn-prediction"].trend_30 is not None
    assert rows["churn-prediction"].trend_90 is not None


def test_the_whole_demo_puts_the_three_projects_at_levels_0_1_and_2_by_their_evidence(mlflow_uri, settings):
    """Every app's demo step against a real MLflow server: registry runs and models, monitors and
    drift, the gate's promotions, then the answers. Levels come from the evidence, not from a number."""
    from mlopsportal.demo.steps import demo_load as full_demo_load

    full_demo_load()
    latest = {
        slug: ScorecardSnapshot.objects.filter(project__slug=slug).order_by("-computed_at").first()
        for slug in DEMO_TARGETS
    }
    levels = {slug: snapshot.level for slug, snapshot in latest.items()}
    gaps = {slug: [c for c, o in s.outcomes.items() if o["outcome"] not in ("met", "na")] for slug, s in latest.items()}
    assert levels == DEMO_TARGETS, gaps
    churn = latest["churn-prediction"].outcomes
    for code in ("REL-1", "REL-2", "REL-3", "MON-3", "VAL-4", "CT-3"):  # gate and monitoring evidence
        assert churn[code]["outcome"] == "met", (code, churn[code]["summary"])
    # The queued request was made after the churn monitor existed: its checks show the drift.
    pending = PromotionRequest.objects.get(version=3, target_alias="champion", state="pending")
    drift = next(c for c in pending.checks if c["check"] == "drift")
    assert drift["status"] == "failed" and "Churn" in drift["summary"], drift


def test_a_demo_started_again_ten_days_later_catches_up_and_keeps_its_levels(mlflow_uri, settings):
    """`make run` a week and a half later: without catching up, the churn pipeline's cadence and
    both monitors' data would be stale and the levels would fall; the demo steps add what the
    pipelines and the serving system would have sent meanwhile."""
    from datetime import timedelta

    from django.utils import timezone

    from assessments.selectors import scorecard_compute
    from mlopsportal.demo.evidence import demo_evidence_load
    from mlopsportal.demo.monitoring import demo_step
    from mlopsportal.demo.steps import demo_load as full_demo_load
    from monitoring.models import DriftRun
    from registry.models import Project

    full_demo_load()
    later = timezone.now() + timedelta(days=10)

    def levels_at(moment):
        projects = {slug: Project.objects.get(slug=slug) for slug in DEMO_TARGETS}
        return {slug: scorecard_compute(project=project, now=moment).level for slug, project in projects.items()}

    assert levels_at(later)["churn-prediction"] < 2  # what a stale demo would show
    windows = DriftRun.objects.count()

    demo_step(now=later)
    demo_evidence_load(now=later)

    assert DriftRun.objects.count() == windows + 10  # one window per day that passed
    assert levels_at(later) == DEMO_TARGETS
    demo_step(now=later)  # and again the same day: nothing more
    assert DriftRun.objects.count() == windows + 10
