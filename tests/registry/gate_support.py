"""Helpers for the promotion gate's tests: a mirrored model with versions, straight in the database
(service tests), or created in the real MLflow server and mirrored by the real sync (task tests)."""

import uuid
from typing import Any

from django.utils import timezone

from registry.models import Experiment, ModelVersion, RegisteredModel, Run
from registry.promotions.models import PromotionPolicy

SIGNATURE = [
    {"name": "tenure", "type": "long", "required": True},
    {"name": "monthly_charges", "type": "double", "required": True},
    {"name": "plan", "type": "string", "required": True},
]


def mirror_model(
    name: str = "churn-classifier",
    *,
    project: Any = None,
    versions: dict[int, dict[str, Any]] | None = None,
    aliases: dict[str, int] | None = None,
) -> RegisteredModel:
    """A registered model in the mirror. versions: {number: {"metrics": {...}, "params": {...},
    "signature": [...] or None}}; by default v1 (auc 0.80) holds @champion and v2 (auc 0.84) does not."""
    versions = versions or {
        1: {"metrics": {"auc": 0.80}, "params": {"max_depth": "4"}},
        2: {"metrics": {"auc": 0.84}, "params": {"max_depth": "6"}},
    }
    aliases = {"champion": 1} if aliases is None else aliases
    experiment, _ = Experiment.objects.get_or_create(
        mlflow_id=f"exp-{name}", defaults={"name": f"/{name}", "created_at": timezone.now()}
    )
    model = RegisteredModel.objects.create(name=name, aliases=aliases, project=project, created_at=timezone.now())
    for number, spec in versions.items():
        run = Run.objects.create(
            run_id=uuid.uuid4().hex,
            experiment=experiment,
            name=f"train-{number}",
            status="FINISHED",
            start_time=timezone.now(),
            metrics=spec.get("metrics", {}),
            params=spec.get("params", {}),
            git_commit=spec.get("git_commit", f"{number:040d}"),
            datasets=spec.get(
                "datasets",
                [
                    {
                        "name": "churn-2026",
                        "digest": f"d{number}",
                        "source": "s3://data/churn",
                        "source_type": "s3",
                        "context": "training",
                    }
                ],
            ),
        )
        ModelVersion.objects.create(
            registered_model=model,
            version=number,
            run_id=run.run_id,
            run=run,
            status="READY",
            source=f"mlflow-artifacts:/models/{name}/{number}",
            signature_inputs=spec.get("signature", SIGNATURE),
            aliases=sorted(a for a, v in aliases.items() if v == number),
            created_at=timezone.now(),
        )
    return model


def default_policy(**fields: Any) -> PromotionPolicy:
    values = {"metric_name": "auc", "metric_direction": "higher", "metric_tolerance": 0.01, **fields}
    policy, _ = PromotionPolicy.objects.update_or_create(registered_model=None, defaults=values)
    return policy
