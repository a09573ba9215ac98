"""Answers, reviews and scorecard snapshots through the services, on the real database."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from assessments import services
from assessments.errors import AnswerInvalid, PermissionDenied
from assessments.models import AttestedAnswer, Criterion, ScorecardSnapshot
from assessments.scoring.results import CriterionSpec
from registry.models import Project
from tests.factories import ProjectFactory
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db

ATTESTED_L1 = ["EXP-2", "REP-4"]


@pytest.fixture
def project(engineer, reviewer, manager):
    project = ProjectFactory(name="Scored")
    project.memberships.create(user=engineer, role="lead")
    return project


def small_rubric() -> list[CriterionSpec]:
    return [
        CriterionSpec(code=c.code, level=c.level, category=c.category, title=c.title, kind=c.kind)
        for c in Criterion.objects.filter(code__in=[*ATTESTED_L1, "REP-5"])
    ]


def test_a_member_engineer_answers_and_the_answer_awaits_review(project, engineer):
    answer = services.answer_set(
        project=project, criterion_code="EXP-2", user=engineer, status="met", evidence_url="https://wiki/baseline"
    )
    assert answer.review_state == "pending"
    assert answer.answered_by == engineer


def test_an_engineer_outside_the_project_cannot_answer(project, outsider):
    with pytest.raises(PermissionDenied):
        services.answer_set(project=project, criterion_code="EXP-2", user=outsider, status="not_met")
    assert not AttestedAnswer.objects.exists()


def test_a_manager_cannot_answer(project, manager):
    project.memberships.create(user=manager, role="member")
    with pytest.raises(PermissionDenied):
        services.answer_set(project=project, criterion_code="EXP-2", user=manager, status="not_met")


def test_automatic_criteria_take_no_answer(project, engineer):
    with pytest.raises(AnswerInvalid, match="automatically"):
        services.answer_set(project=project, criterion_code="EXP-1", user=engineer, status="met", evidence_url="x")


def test_a_met_answer_needs_an_evidence_link(project, engineer):
    with pytest.raises(AnswerInvalid) as error:
        services.answer_set(project=project, criterion_code="EXP-2", user=engineer, status="met")
    assert "evidence_url" in error.value.fields


def test_a_reviewer_challenges_with_a_comment_and_a_new_answer_resets_the_review(project, engineer, reviewer):
    answer = services.answer_set(
        project=project, criterion_code="EXP-2", user=engineer, status="met", evidence_url="https://wiki/b"
    )
    with pytest.raises(AnswerInvalid):
        services.answer_review(answer_id=answer.pk, reviewer=reviewer, decision="challenged")
    answer = services.answer_review(
        answer_id=answer.pk, reviewer=reviewer, decision="challenged", comment="The page is empty."
    )
    assert answer.review_state == "challenged" and answer.reviewed_by == reviewer
    answer = services.answer_set(
        project=project, criterion_code="EXP-2", user=engineer, status="met", evidence_url="https://wiki/b2"
    )
    assert answer.review_state == "pending" and answer.reviewed_at is None


def test_an_engineer_cannot_review_and_nobody_reviews_their_own_answer(project, engineer, portal_admin):
    answer = services.answer_set(
        project=project, criterion_code="EXP-2", user=portal_admin, status="met", evidence_url="https://wiki/b"
    )
    with pytest.raises(PermissionDenied):
        services.answer_review(answer_id=answer.pk, reviewer=engineer, decision="accepted")
    with pytest.raises(PermissionDenied, match="own answer"):
        services.answer_review(answer_id=answer.pk, reviewer=portal_admin, decision="accepted")


def test_a_manager_accepts_an_answer(project, engineer, manager):
    answer = services.answer_set(
        project=project, criterion_code="EXP-2", user=engineer, status="met", evidence_url="https://wiki/b"
    )
    assert services.answer_review(answer_id=answer.pk, reviewer=manager, decision="accepted").review_state == "accepted"


def test_a_snapshot_is_stored_only_when_the_scorecard_changed(project, engineer):
    rubric = small_rubric()
    first = services.scorecard_recompute(project_id=project.pk, specs=rubric)
    assert first is not None and first.level == 0
    assert services.scorecard_recompute(project_id=project.pk, specs=rubric) is None
    for code in ATTESTED_L1:
        services.answer_set(project=project, criterion_code=code, user=engineer, status="met", evidence_url="https://e")
    changed = services.scorecard_recompute(project_id=project.pk, specs=rubric)
    assert changed is not None and changed.level == 1
    assert changed.outcomes["EXP-2"]["outcome"] == "met"
    assert services.scorecard_recompute(project_id=project.pk, specs=rubric) is None
    assert ScorecardSnapshot.objects.filter(project=project).count() == 2


def test_an_answer_growing_stale_changes_the_scorecard(project, engineer, settings):
    rubric = small_rubric()
    long_ago = timezone.now() - settings.ASSESSMENTS_ANSWER_MAX_AGE - timedelta(days=1)
    for code in ATTESTED_L1:
        services.answer_set(
            project=project, criterion_code=code, user=engineer, status="met", evidence_url="https://e", now=long_ago
        )
    snapshot = services.scorecard_recompute(project_id=project.pk, specs=rubric)
    assert snapshot.level == 0
    assert snapshot.outcomes["EXP-2"]["stale"] is True


def _outcome_in_latest_snapshot(project: Project, code: str) -> str:
    latest = ScorecardSnapshot.objects.filter(project=project).order_by("-computed_at").first()
    return "" if latest is None else latest.outcomes[code]["outcome"]


def test_answering_recomputes_the_scorecard_in_a_celery_worker(worker_drained, engineer):
    project = ProjectFactory(name="Worker scored")
    project.memberships.create(user=engineer, role="lead")
    services.answer_set(project=project, criterion_code="DOC-1", user=engineer, status="met", evidence_url="https://e")
    wait_for(lambda: _outcome_in_latest_snapshot(project, "DOC-1") == "met", message="a snapshot with DOC-1 met")
    worker_drained()
    assert ScorecardSnapshot.objects.filter(project=project).count() == 1  # one answer, one snapshot


def test_the_nightly_task_scores_every_project_in_a_celery_worker(worker_drained):
    from assessments.tasks import scorecards_recompute_all

    projects = [ProjectFactory(name=f"Nightly {i}") for i in range(3)]
    scorecards_recompute_all.delay()
    wait_for(
        lambda: (
            set(ScorecardSnapshot.objects.filter(project__in=projects).values_list("project", flat=True))
            == {p.pk for p in projects}
        ),
        message="a snapshot of each project",
    )
    scorecards_recompute_all.delay()  # nothing changed: a second night stores nothing new
    worker_drained()  # the second night's task and the rescorings it queued have all run
    assert ScorecardSnapshot.objects.filter(project__in=projects).count() == 3


def test_a_sync_that_brings_new_runs_rescores_the_project_owning_them_in_a_celery_worker(
    worker_drained, mlflow_uri, mlflow_client
):
    from registry.mirror.sync import sync_execute
    from registry.models import Experiment

    project = ProjectFactory(name="Rescored by the sync")
    experiment_id = mlflow_client.create_experiment(f"rescored-{time.time_ns()}")
    sync_execute(kind="full")
    Experiment.objects.filter(mlflow_id=experiment_id).update(project=project)
    assert not ScorecardSnapshot.objects.filter(project=project).exists()

    for _ in range(3):  # the fewest runs a share is judged on
        run = mlflow_client.create_run(experiment_id, tags={"mlflow.source.git.commit": "a" * 40})
        mlflow_client.log_param(run.info.run_id, "C", "1.0")
        mlflow_client.log_metric(run.info.run_id, "f1", 0.8)
        mlflow_client.set_terminated(run.info.run_id)
    sync_execute(kind="incremental")

    # Runs log params and metrics: EXP-1 is met once the rescoring the sync queued has run.
    wait_for(lambda: _outcome_in_latest_snapshot(project, "EXP-1") == "met", message="a snapshot with EXP-1 met")
    worker_drained()
    assert ScorecardSnapshot.objects.filter(project=project).count() == 1  # one sync, one snapshot


def test_a_serving_alias_moved_by_the_sync_rescores_the_project_in_a_celery_worker(worker_drained):
    from registry.models import RegisteredModel
    from registry.signals import model_aliases_changed

    project = ProjectFactory(name="Alias moved")
    model = RegisteredModel.objects.create(name="moved-model", project=project, aliases={"champion": 1})
    model_aliases_changed.send(sender=RegisteredModel, registered_model=model, old={}, new={"champion": 1})
    wait_for(lambda: ScorecardSnapshot.objects.filter(project=project).exists(), message="a snapshot of the project")
    worker_drained()
    assert ScorecardSnapshot.objects.filter(project=project).count() == 1  # one move, one snapshot


@pytest.mark.django_db(transaction=True)
def test_answers_saved_in_one_transaction_queue_one_rescoring_per_project(engineer):
    import uuid

    from django.db import transaction

    from mlopsportal.celery import app

    # Nobody consumes this queue: the test counts what the commit put on the real broker.
    queue = f"portal-tests-count-{uuid.uuid4().hex[:8]}"
    previous_queue, app.conf.task_default_queue = app.conf.task_default_queue, queue
    try:
        projects = [ProjectFactory(name=f"Batch answered {i}") for i in range(2)]
        for project in projects:
            project.memberships.create(user=engineer, role="lead")
        with transaction.atomic():
            for project in projects:
                for code in ("EXP-2", "REP-4", "DOC-1"):
                    services.answer_set(
                        project=project, criterion_code=code, user=engineer, status="not_met", note="not yet"
                    )
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            queued = channel.queue_declare(queue=queue, passive=True).message_count
            channel.queue_purge(queue)
            channel.queue_delete(queue)
    finally:
        app.conf.task_default_queue = previous_queue
    assert queued == len(projects)  # six answers, two projects: two tasks


ANSWER = {"status": "met", "evidence_url": "https://wiki.example.com/card", "note": "Written"}


@pytest.mark.django_db
def test_a_level_drop_is_stored_with_the_criteria_that_flipped_shown_and_mailed_to_the_leads(
    client, engineer, manager, mailoutbox, django_capture_on_commit_callbacks
):
    from assessments.models import LevelChange

    project = ProjectFactory(name="Dropping")
    project.memberships.create(user=engineer, role="lead")
    project.memberships.create(user=manager, role="member")
    spec = [CriterionSpec(code="DOC-1", level=1, category="documentation", title="Model card", kind="attested")]
    now = timezone.now()
    services.answer_set(project=project, criterion_code="DOC-1", user=engineer, **ANSWER)
    # With only this level-1 criterion in the rubric, meeting it meets level 2 too (none left there).
    assert services.scorecard_recompute(project_id=project.pk, now=now, specs=spec).level == 2
    services.answer_set(project=project, criterion_code="DOC-1", user=engineer, **(ANSWER | {"status": "not_met"}))

    with django_capture_on_commit_callbacks(execute=True):
        services.scorecard_recompute(project_id=project.pk, now=now + timedelta(minutes=1), specs=spec)

    change = LevelChange.objects.get(project=project)
    assert (change.from_level, change.to_level) == (2, 0) and change.dropped
    assert [c["code"] for c in change.flipped] == ["DOC-1"]
    assert change.sentence.startswith("2 → 0 on ")
    assert [m.to for m in mailoutbox if "level 2 → 0" in m.subject] == [[engineer.email]]
    client.force_login(manager)
    page = client.get(f"/assessments/{project.slug}/").content.decode()
    assert "▼ 2 → 0" in page and "DOC-1 Model card" in page
