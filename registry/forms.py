from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from registry.models import Project

User = get_user_model()


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    team = forms.CharField(max_length=80, required=False, help_text="The team that owns the project.")
    visibility = forms.ChoiceField(choices=Project.Visibility.choices, initial=Project.Visibility.INTERNAL)
    leads = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        help_text="Leave empty to lead it yourself.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )


class ProjectLinkForm(forms.Form):
    """Link an experiment or a registered model to one of the user's projects (empty: unlink)."""

    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False, empty_label="— no project —")

    def __init__(self, *args: object, projects: QuerySet[Project], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects.order_by("name")
