"""Celery task names are part of the portal's contract with what is already queued: messages in the
broker and beat's schedule carry them. They are pinned in each decorator, so moving a module keeps
them; this test fails when one disappears or changes."""

from mlopsportal.celery import app

PINNED_TASK_NAMES = {
    "registry.tasks.worker_heartbeat",
    "registry.tasks.mlflow_sync",
    "registry.promotion_tasks.promotion_execute",
    "registry.promotion_tasks.promotion_outbox_sweep",
    "monitoring.tasks.batch_bin",
    "monitoring.tasks.drift_run_execute",
    "monitoring.tasks.drift_schedule",
    "monitoring.tasks.alert_notify",
    "monitoring.tasks.notification_send",
    "monitoring.tasks.retrain_send",
    "monitoring.tasks.lost_work_sweep",
    "monitoring.tasks.shadow_evaluation_execute",
    "assessments.tasks.scorecard_recompute_task",
    "assessments.tasks.scorecards_recompute_all",
}


def test_every_task_keeps_its_published_name() -> None:
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if not name.startswith("celery.")}
    assert registered == PINNED_TASK_NAMES


def test_beat_schedules_only_registered_tasks(settings) -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
