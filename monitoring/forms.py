"""Monitoring forms: what a page's form accepts, checked before any service sees it."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core import validators

from monitoring import drift
from monitoring.models import Alert, Monitor, NotificationChannel, RetrainTrigger
from registry.mirror.selectors import registered_models_visible_to
from registry.selectors import projects_visible_to


def _method_choices(methods: tuple[str, ...]) -> list[tuple[str, str]]:
    """Automatic and the methods that apply to one kind of feature (KS is no choice for categories)."""
    labels = dict(Monitor.Method.choices)
    return [("", labels[""]), *((method, labels[method]) for method in methods)]


class MonitorForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, to_field_name="slug")
    name = forms.CharField(max_length=120)
    model_name = forms.CharField(max_length=255, help_text="The registered model's name in MLflow.")
    alias = forms.CharField(
        max_length=120, required=False, initial="champion", help_text="Followed through promotions."
    )
    version = forms.IntegerField(required=False, min_value=1, help_text="Pin a version instead of following the alias.")
    expected_schema = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text='JSON list of {"name", "type", "required"}; empty reads the model\'s signature from MLflow.',
    )
    prediction_column = forms.CharField(required=False)
    label_column = forms.CharField(required=False)
    event_time_column = forms.CharField(required=False)
    numeric_method = forms.ChoiceField(choices=_method_choices(drift.NUMERIC_METHODS), required=False)
    numeric_threshold = forms.FloatField(required=False)
    categorical_method = forms.ChoiceField(choices=_method_choices(drift.CATEGORICAL_METHODS), required=False)
    categorical_threshold = forms.FloatField(required=False)
    drift_share = forms.FloatField(min_value=0.01, max_value=1, initial=0.5)
    window_seconds = forms.IntegerField(min_value=60, initial=86_400, help_text="86400 = daily windows.")
    window_rows = forms.IntegerField(
        min_value=1, required=False, help_text="Or windows of this many rows (whole batches), instead of time."
    )
    require_declared_types = forms.BooleanField(
        required=False,
        label="JSON/CSV batches declare their column types",
        help_text="JSON and CSV cannot show float32 against float64: with this, such batches must name their "
        "types in an X-Column-Types header (e.g. feature_a=float32), checked like Parquet's.",
    )
    reference = forms.FileField(required=False, help_text="Reference dataset, CSV or Parquet.")
    reference_artifact = forms.CharField(
        required=False,
        max_length=500,
        help_text="Or: path of a CSV/Parquet artifact of the model's training run in MLflow, e.g. data/train.parquet.",
    )

    # Suggestions, not a closed list: a model registered in MLflow a moment ago may not be mirrored yet,
    # and the service checks whatever is typed against MLflow and the user's access.
    SUGGESTED_MODELS = 500

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_visible_to(user=user)
        models = list(
            registered_models_visible_to(user=user)
            .filter(deleted_at__isnull=True)
            .order_by("name")
            .values_list("name", "aliases")[: self.SUGGESTED_MODELS]
        )
        self.model_suggestions = [name for name, _ in models]
        self.alias_suggestions = sorted({alias for _, aliases in models for alias in (aliases or {})} | {"champion"})
        self.fields["model_name"].widget.attrs["list"] = "monitor-model-names"
        self.fields["alias"].widget.attrs["list"] = "monitor-aliases"

    def clean_expected_schema(self) -> list[dict[str, Any]] | None:
        text = self.cleaned_data["expected_schema"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc.msg}.") from exc
        if not isinstance(value, list) or not all(isinstance(c, dict) and c.get("name") for c in value):
            raise forms.ValidationError('A list of objects, each with a "name" and a "type".')
        return value


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = forms.CharField(max_length=1000, help_text="E-mail addresses (comma-separated) or the webhook URL.")
    secret = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook only: the HMAC-SHA256 secret. Write-only: it is never shown again.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        target = data.get("target", "")
        if data.get("kind") == NotificationChannel.Kind.EMAIL:
            for address in [a.strip() for a in target.split(",") if a.strip()]:
                validators.validate_email(address)
        elif target:
            validators.URLValidator(schemes=["http", "https"])(target)
        return data


class TriggerForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="The pipeline endpoint, e.g. https://kfp.example/apis/v2beta1/runs.",
    )
    preset = forms.ChoiceField(choices=RetrainTrigger.Preset.choices)
    pipeline_id = forms.CharField(required=False, help_text="Kubeflow only.")
    pipeline_version_id = forms.CharField(required=False, help_text="Kubeflow only.")
    experiment_id = forms.CharField(required=False, help_text="Kubeflow only, optional.")
    auth_header = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Sent as the Authorization header. Write-only: it is never shown again.",
    )
    remove_auth_header = forms.BooleanField(required=False, label="Remove the saved auth header")
    cooldown_hours = forms.IntegerField(min_value=0, initial=24)
    on_drift = forms.BooleanField(required=False, initial=True, help_text="Trigger when a window drifts.")
    is_active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, saved_auth_header: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if saved_auth_header:
            self.fields["auth_header"].help_text = "A header is saved; leave this empty to keep it."
        else:
            del self.fields["remove_auth_header"]

    def auth_header_change(self) -> str | None:
        """What to store: the new header, "" to remove the saved one, None to keep it."""
        if self.cleaned_data.get("remove_auth_header"):
            return ""
        return self.cleaned_data.get("auth_header") or None


def trigger_initial(trigger: RetrainTrigger | None) -> dict[str, Any]:
    """The trigger form's initial values from the saved trigger."""
    if trigger is None:
        return {}
    fields = ("url", "preset", "cooldown_hours", "on_drift", "is_active")  # never the auth header
    return {**{f: getattr(trigger, f) for f in fields}, **(trigger.options or {})}


MONITOR_ID_ERROR = "give a monitor's id, a number."
MONITOR_ID_MAX = 10**18 - 1


def _filter_choice(choices: list[tuple[str, str]]) -> forms.ChoiceField:
    one_of = f"one of {', '.join(value for value, _ in choices)}."
    return forms.ChoiceField(choices=[("", "Any"), *choices], required=False, error_messages={"invalid_choice": one_of})


class AlertFilterForm(forms.Form):
    """The alerts page's filters: a value no alert can have is a form error shown on the page, never
    passed to the database (a NUL or a non-number there is a server error)."""

    status = _filter_choice(Alert.Status.choices)
    kind = _filter_choice(Alert.Kind.choices)
    severity = _filter_choice(Alert.Severity.choices)
    monitor = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MONITOR_ID_MAX,
        error_messages={"invalid": MONITOR_ID_ERROR, "min_value": MONITOR_ID_ERROR, "max_value": MONITOR_ID_ERROR},
    )

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        # Values as typed into a URL: "open " filters as "open" does, as the page always has.
        super().__init__({name: data.get(name, "").strip() for name in data} if data is not None else None, **kwargs)

    def error_lines(self) -> list[str]:
        """Each refused filter, named: "monitor: give a monitor's id, a number."."""
        return [f"{name}: {error}" for name, errors in self.errors.items() for error in errors]
