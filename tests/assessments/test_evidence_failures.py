"""A broken evidence source fails the scoring loudly. It used to be caught and logged, and the
criteria it feeds read "No evidence yet": a renamed field dropped every project's level quietly."""

import pytest
from celery.signals import task_failure
from django.core.exceptions import FieldError
from django.urls import NoReverseMatch

from assessments import services
from assessments.models import ScorecardSnapshot
from assessments.tasks import scorecard_recompute_task
from monitoring.models import Monitor
from tests.factories import MonitorFactory, ProjectFactory
from tests.waiting import wait_for


def _renamed_field(*args: object, **kwargs: object) -> None:
    raise FieldError("Cannot resolve keyword 'batches' into field.")


@pytest.fixture
def monitored(db):
    project = ProjectFactory(name="Monitored")
    MonitorFactory(project=project)
    return project


@pytest.mark.django_db
def test_a_monitoring_query_that_no_longer_matches_the_models_fails_the_rescoring(monitored, monkeypatch):
    monkeypatch.setattr(Monitor.objects, "filter", _renamed_field)
    with pytest.raises(FieldError, match="batches"):
        services.scorecard_recompute(project_id=monitored.pk)
    assert not ScorecardSnapshot.objects.filter(project=monitored).exists()


@pytest.mark.django_db
def test_an_evidence_link_that_cannot_be_built_fails_the_rescoring(monitored, monkeypatch):
    def unroutable(self: Monitor) -> str:
        raise NoReverseMatch("'monitoring' is not a registered namespace")

    monkeypatch.setattr(Monitor, "get_absolute_url", unroutable)
    with pytest.raises(NoReverseMatch):
        services.scorecard_recompute(project_id=monitored.pk)
    assert not ScorecardSnapshot.objects.filter(project=monitored).exists()


def test_a_broken_evidence_source_fails_the_recompute_task_visibly_in_a_celery_worker(celery_worker, monkeypatch):
    project = ProjectFactory(name="Monitored in a worker")
    MonitorFactory(project=project)
    failures: list[tuple[str, tuple, BaseException]] = []

    def record(sender: object = None, args: tuple = (), exception: BaseException | None = None, **_: object) -> None:
        failures.append((sender.name, tuple(args or ()), exception))

    # The worker runs in this process (threads), so the broken source is broken for it too.
    monkeypatch.setattr(Monitor.objects, "filter", _renamed_field)
    task_failure.connect(record, weak=False)
    try:
        scorecard_recompute_task.delay(project.pk)
        wait_for(lambda: any(args == (project.pk,) for _, args, _ in failures), message="the recompute task's failure")
    finally:
        task_failure.disconnect(record)
    [(name, _, exception)] = [f for f in failures if f[1] == (project.pk,)]
    assert name == "assessments.tasks.scorecard_recompute_task"
    assert isinstance(exception, FieldError)
    assert not ScorecardSnapshot.objects.filter(project=project).exists()
