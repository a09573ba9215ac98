"""Signals other apps listen to, so registry never imports them."""

from django.dispatch import Signal

# Sent by the sync when a registered model's aliases differ from the mirror's, with
# registered_model (RegisteredModel), old and new (dict alias -> version). The promotion gate
# compares them with its own promotions to notice an alias set directly in MLflow.
model_aliases_changed = Signal()

# Sent after a sync pass that changed the mirror, with sync_run (SyncRun; its counts say what
# changed). Assessments rescore the projects whose evidence lives in the mirror.
mirror_changed = Signal()

# Sent once a promotion request is committed, with promotion (PromotionRequest). Monitoring
# replays the candidate on production traffic for the gate's shadow check.
promotion_requested = Signal()
