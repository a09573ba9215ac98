"""The policy form: every field checked, nothing corrected behind the editor's back (a negative
tolerance or zero approvals is refused with a message, never made positive or clamped)."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group

from registry.promotions.checks import METRIC_DIRECTION_CHOICES
from registry.promotions.models import PromotionPolicy

# The shares the policy stores 0-1 are asked for in percent.
PERCENT_FIELDS = {
    "shadow_max_rejected_percent": "shadow_max_rejected_share",
    "shadow_max_disagreement_percent": "shadow_max_disagreement",
}


def _names(text: str) -> list[str]:
    return [name for name in text.replace(",", " ").split() if name]


class PolicyForm(forms.Form):
    governed_aliases = forms.CharField(help_text="Separated by spaces. These aliases move only through the gate.")
    approvals_required = forms.IntegerField(min_value=1, max_value=32767)
    approver_users = forms.CharField(required=False)
    approver_group = forms.ModelChoiceField(queryset=Group.objects.order_by("name"), required=False)
    metric_name = forms.CharField(max_length=250, required=False)
    metric_direction = forms.ChoiceField(choices=METRIC_DIRECTION_CHOICES)
    metric_tolerance = forms.FloatField(min_value=0, required=False)
    maturity_min_level = forms.IntegerField(min_value=0, max_value=2, required=False)
    signature_check = forms.BooleanField(required=False)
    drift_check = forms.BooleanField(required=False)
    shadow_check = forms.BooleanField(required=False)
    shadow_max_rejected_percent = forms.FloatField(min_value=0, max_value=100, required=False)
    shadow_max_disagreement_percent = forms.FloatField(min_value=0, max_value=100, required=False)
    allow_override = forms.BooleanField(required=False)
    rollback_single_approval = forms.BooleanField(required=False)

    @classmethod
    def initial_for(cls, policy: PromotionPolicy) -> dict[str, Any]:
        """The form's values for an existing (or the built-in) policy."""
        return {
            "governed_aliases": " ".join(policy.governed_aliases),
            "approvals_required": policy.approvals_required,
            "approver_users": " ".join(policy.approver_users.values_list("username", flat=True)) if policy.pk else "",
            "approver_group": policy.approver_group_id,
            "metric_name": policy.metric_name,
            "metric_direction": policy.metric_direction,
            "metric_tolerance": policy.metric_tolerance,
            "maturity_min_level": policy.maturity_min_level,
            "signature_check": policy.signature_check,
            "drift_check": policy.drift_check,
            "shadow_check": policy.shadow_check,
            **{percent: f"{getattr(policy, share) * 100:g}" for percent, share in PERCENT_FIELDS.items()},
            "allow_override": policy.allow_override,
            "rollback_single_approval": policy.rollback_single_approval,
        }

    def clean_governed_aliases(self) -> list[str]:
        aliases = _names(self.cleaned_data["governed_aliases"])
        if not aliases:
            raise forms.ValidationError("Name an alias.")
        return aliases

    def clean_approver_users(self) -> list[AbstractBaseUser]:
        names = _names(self.cleaned_data["approver_users"])
        users = list(get_user_model().objects.filter(username__in=names))
        unknown = sorted(set(names) - {user.get_username() for user in users})
        if unknown:
            raise forms.ValidationError(f"No user named {', '.join(unknown)}.")
        return users

    def clean_metric_name(self) -> str:
        return self.cleaned_data["metric_name"].strip()

    def policy_fields(self) -> dict[str, Any]:
        """The cleaned values as policy_save takes them (shares 0-1, defaults for empty numbers)."""
        data = dict(self.cleaned_data)
        if data["metric_tolerance"] is None:
            data["metric_tolerance"] = 0.0
        defaults = {"shadow_max_rejected_percent": 0.0, "shadow_max_disagreement_percent": 10.0}
        for percent, share in PERCENT_FIELDS.items():
            value = data.pop(percent)
            data[share] = (defaults[percent] if value is None else value) / 100
        return data


class AuditFilterForm(forms.Form):
    """The audit log page's filters: a date that does not parse is an error on the page, not ignored."""

    model = forms.CharField(required=False, strip=True)
    user = forms.CharField(required=False, strip=True)
    action = forms.CharField(required=False, strip=True)
    since = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    until = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
