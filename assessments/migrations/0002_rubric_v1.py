"""The rubric, version 1, in our own words. Grounded in the level 0/1/2 model (manual process;
automated pipeline with continuous training; CI/CD of the pipeline itself) and in what published
maturity models look at. Admins edit it afterwards in Django admin; this migration only adds the
criteria it does not find, so it never overwrites an admin's edits."""

from django.db import migrations

A, T = "automatic", "attested"

# (code, level, category, kind, check_key, title, guidance)
RUBRIC = [
    # --- Experiment tracking ---
    ("EXP-1", 1, "experimentation", A, "runs_params_metrics",
     "Training runs log their parameters and metrics",
     "Met when at least 90 % of the project's runs in the window log at least one parameter and one metric "
     "to MLflow. Call mlflow.log_params / mlflow.log_metrics (or autolog) in every training script, so "
     "results can be compared instead of remembered."),
    ("EXP-2", 1, "experimentation", T, "",
     "A baseline model and its score are on record",
     "Met when the project names the simple baseline (heuristic or last production model) every candidate "
     "is compared with, and where its score is recorded. Link the run or the page that shows it."),
    ("EXP-3", 2, "experimentation", T, "",
     "Model search is automated and tracked",
     "Met when hyperparameter or architecture search runs as a pipeline step whose trials are all tracked "
     "as runs, rather than by hand-edited scripts. Link the pipeline definition."),
    # --- Reproducibility ---
    ("REP-1", 1, "reproducibility", A, "runs_git_commit",
     "Runs record the code version",
     "Met when at least 90 % of the recent runs carry a git commit (MLflow records it when the script runs "
     "from a git checkout). Train from committed code, never from a dirty notebook."),
    ("REP-2", 1, "reproducibility", A, "runs_dataset",
     "Runs record their training data",
     "Met when at least 90 % of the recent runs log an input dataset with a name and a digest "
     "(mlflow.log_input). The digest lets anyone tell whether two models saw the same data."),
    ("REP-3", 1, "reproducibility", A, "versions_linked_to_runs",
     "Every registered model version points to the run that trained it",
     "Met when every live version of the project's registered models links to a run the portal knows. "
     "Register models from a run (runs:/<id>/model) rather than uploading files."),
    ("REP-4", 1, "reproducibility", T, "",
     "The training environment is pinned",
     "Met when the exact library versions (lock file) or container image used for training are stored with "
     "the code and recorded with each model. Link the lock file or the image reference."),
    ("REP-5", 2, "reproducibility", T, "",
     "Infrastructure is described as code",
     "Met when the compute, storage and serving infrastructure are created from versioned code "
     "(Terraform, Helm, CloudFormation...) and not by hand in a console. Link the repository."),
    # --- Data and model validation ---
    ("VAL-1", 1, "validation", A, "versions_signature",
     "Every registered version declares its input signature",
     "Met when every live model version has an input signature, so serving and monitoring can check the "
     "columns and types of the data they receive. Log models with a signature or an input example."),
    ("VAL-2", 1, "validation", T, "",
     "Training data is validated before training",
     "Met when the pipeline checks schema, ranges and missing values of the training data and records the "
     "result. Link the validation step or its latest report."),
    ("VAL-3", 1, "validation", T, "",
     "Models are evaluated on held-out data and on key slices before registration",
     "Met when every candidate is scored on data it was not trained on, including the segments that matter "
     "to the business, and the scores are logged with the run."),
    ("VAL-4", 2, "validation", A, "schema_mismatches_handled",
     "Schema mismatches in production data are dealt with within a week",
     "Met when monitoring found no schema mismatch (missing column, wrong type) left open for more than "
     "7 days. Fix the producer or the model, then close the mismatch."),
    ("VAL-5", 2, "validation", T, "",
     "A failed validation stops the pipeline",
     "Met when a data or model validation failure blocks registration and deployment automatically, "
     "without someone having to read a report. Link the pipeline definition."),
    # --- Model registry and deployment ---
    ("REG-1", 1, "registry", A, "registry_in_use",
     "Models are registered in the model registry",
     "Met when the project owns at least one registered model with at least one live version. Hand-offs of "
     "model files by e-mail or shared drive are level 0."),
    ("REG-2", 1, "registry", A, "serving_alias",
     "The model in production is named by an alias",
     "Met when one of the project's registered models has a serving alias (champion, production...) "
     "pointing to a live version, so serving loads models:/<name>@<alias> instead of a file path."),
    ("REG-3", 1, "registry", T, "",
     "Deployment is scripted",
     "Met when putting a registered version into service is one scripted step (a job, a deploy command) "
     "that anyone on the team can run. Link the script or job."),
    ("REG-4", 2, "registry", T, "",
     "Serving follows the registry automatically",
     "Met when moving the serving alias is enough to deploy: the serving platform picks up the new version "
     "without a manual step."),
    # --- Continuous training ---
    ("CT-1", 1, "continuous_training", A, "runs_automated_cadence",
     "Training runs are started by a pipeline or a schedule, at a regular cadence",
     "Met when at least 80 % of the runs in the window were started by a job, pipeline or scheduler "
     "(MLflow source type JOB or PROJECT, or a portal.trigger tag), there are at least 3 of them, and "
     "no gap between them is more than three times the usual one."),
    ("CT-2", 1, "continuous_training", T, "",
     "The training pipeline runs end to end without manual steps",
     "Met when data extraction, validation, training, evaluation and registration run as one pipeline. "
     "Link the pipeline definition."),
    ("CT-3", 2, "continuous_training", A, "retrain_from_drift",
     "Drift triggers retraining automatically",
     "Met when, in the window, at least one retraining was triggered by a drift alert through the "
     "monitor's retrain trigger, not by hand. Configure a retrain trigger on the serving model's monitor."),
    ("CT-4", 2, "continuous_training", T, "",
     "New data can trigger retraining",
     "Met when the arrival of a new data partition or a data-volume threshold starts the training "
     "pipeline. Link the trigger configuration."),
    # --- Pipeline CI/CD ---
    ("CI-1", 2, "cicd", T, "",
     "Pipeline code is tested on every change",
     "Met when unit tests for feature code and pipeline steps run automatically on every merge request. "
     "Link the CI configuration or a recent run."),
    ("CI-2", 2, "cicd", T, "",
     "The pipeline is built and deployed by CI/CD",
     "Met when a merge to the main branch builds the pipeline's artefacts (images, packages) and deploys "
     "the pipeline itself without manual steps."),
    ("CI-3", 2, "cicd", T, "",
     "Pipeline changes pass through a staging environment",
     "Met when a changed pipeline runs on staging data before it replaces the production pipeline."),
    # --- Monitoring and alerting ---
    ("MON-1", 1, "monitoring", A, "monitor_receiving_data",
     "The serving model is monitored and the monitor receives data",
     "Met when an active monitor watches a version the serving alias points to and received inference "
     "data in the last 7 days. Send batches to the portal's ingest API from the serving side."),
    ("MON-2", 1, "monitoring", T, "",
     "Service health is monitored",
     "Met when latency, error rate and throughput of the serving endpoint are on a dashboard with alerts. "
     "Link the dashboard."),
    ("MON-3", 2, "monitoring", A, "alerts_routed",
     "Drift alerts reach someone",
     "Met when every active monitor of the project sends its alerts to at least one notification channel "
     "(e-mail or webhook). An alert nobody receives is not monitoring."),
    ("MON-4", 2, "monitoring", T, "",
     "Model quality is measured against real outcomes",
     "Met when ground truth or user feedback is joined back to predictions and the model's quality in "
     "production is tracked over time. Link the report."),
    # --- Feature management ---
    ("FEA-1", 1, "features", T, "",
     "Training and serving compute features with the same code",
     "Met when one library or feature store produces features for both training and serving, so they "
     "cannot silently diverge."),
    ("FEA-2", 2, "features", T, "",
     "Training-serving skew is measured",
     "Met when feature values seen in serving are compared with those used in training, automatically and "
     "regularly. Link the check."),
    ("FEA-3", 2, "features", T, "",
     "Features are catalogued and reused",
     "Met when features have documented definitions and owners in a catalogue or feature store that other "
     "projects can reuse."),
    # --- Release practices ---
    ("REL-1", 2, "release", A, "alias_via_gate",
     "The serving alias is moved only through an approved promotion",
     "Met when the serving alias was last moved by an approved promotion in the portal and never bypassed "
     "in the window. Request promotions in the portal instead of setting aliases in MLflow."),
    ("REL-2", 2, "release", A, "rollback_ready",
     "A previous version is ready for rollback",
     "Met when, besides the serving version, an earlier live version of the same model exists with an "
     "input signature, so the alias can be moved back in one step."),
    ("REL-3", 2, "release", A, "promotion_metric_check",
     "Promotions require a metric check",
     "Met when the gate policy of the serving model requires the candidate's metric to be at least as good "
     "as the current alias holder's before approval."),
    ("REL-4", 2, "release", T, "",
     "New versions are released gradually",
     "Met when a new version first serves a share of traffic (canary, shadow or A/B) and is compared with "
     "the current one before taking all of it."),
    ("REL-5", 2, "release", T, "",
     "Rollback has been rehearsed",
     "Met when the written rollback procedure was exercised in the last six months. Link the record."),
    # --- Documentation ---
    ("DOC-1", 1, "documentation", T, "",
     "A model card describes the model",
     "Met when purpose, training data, metrics, known limits and intended users are written down next to "
     "the model. Link the model card."),
    ("DOC-2", 1, "documentation", T, "",
     "Data sources and their owners are documented",
     "Met when every input data source has a named owner and a description of how it is produced."),
    ("DOC-3", 2, "documentation", T, "",
     "An on-call runbook exists",
     "Met when the people on call have a runbook for the model's alerts: what each means, who to call, how "
     "to roll back."),
]


def load_rubric(apps, schema_editor):
    Criterion = apps.get_model("assessments", "Criterion")
    existing = set(Criterion.objects.values_list("code", flat=True))
    Criterion.objects.bulk_create(
        [
            Criterion(
                code=code,
                level=level,
                category=category,
                kind=kind,
                check_key=check_key,
                title=title,
                guidance=guidance,
                position=position,
                active=True,
            )
            for position, (code, level, category, kind, check_key, title, guidance) in enumerate(RUBRIC)
            if code not in existing
        ]
    )


def unload_rubric(apps, schema_editor):
    apps.get_model("assessments", "Criterion").objects.filter(code__in=[row[0] for row in RUBRIC]).delete()


class Migration(migrations.Migration):
    dependencies = [("assessments", "0001_criteria_answers_snapshots")]

    operations = [migrations.RunPython(load_rubric, unload_rubric)]
