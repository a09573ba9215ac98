"""Monitoring's writes, one module per area; import the module you use
(`from monitoring.services import alerts`, then `alerts.alert_raise(...)`):

- monitors: creating and changing monitors, and who may (`ensure_editable`)
- references: reference datasets, profiled once
- ingest_tokens: the credentials serving systems post batches with
- files: batch and reference files in the monitoring storage
- batches: ingesting a batch with its schema check, binning it against the reference
- windows: which window a time or a batch falls in, and which windows are due
- drift_runs: a window's drift run, queued, claimed and computed in named steps
  (exact_recheck: near-threshold features decided on raw values; window_metrics: the label metric)
- alerts: raised once per key, cleared by a re-run, acknowledged, resolved, muted
- notifications: channels and the notifications an alert sends through them
- retrain: retrain triggers and the requests sent to a pipeline
- delivery: bounded posts to someone else's endpoint, shared by notifications and retrain
- lost_work: work recorded while the broker was down, sent again

Services queue Celery tasks by their pinned names and never import monitoring.tasks."""
