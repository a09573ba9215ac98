from django import forms

from assessments.models import AnswerStatus, ReviewState
from assessments.scoring.levels import MAX_LEVEL

LEVEL_CHOICE_ERROR = f"Choose a level from 0 to {MAX_LEVEL}."
TEAM_MAX_LENGTH = 80  # registry.Project.team
TEAM_LENGTH_ERROR = f"A team name has at most {TEAM_MAX_LENGTH} characters."


class AnswerForm(forms.Form):
    status = forms.ChoiceField(choices=AnswerStatus.choices)
    evidence_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Evidence link")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[(ReviewState.ACCEPTED, "Accept"), (ReviewState.CHALLENGED, "Challenge")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class PortfolioFilterForm(forms.Form):
    """The portfolio's filters (page and CSV export): a value no project can have is refused with a
    message, never handed to the database."""

    team = forms.CharField(
        required=False,
        strip=False,
        max_length=TEAM_MAX_LENGTH,
        error_messages={"max_length": TEAM_LENGTH_ERROR},
    )
    level = forms.TypedChoiceField(
        choices=[("", "All levels"), *((str(n), f"Level {n}") for n in range(MAX_LEVEL + 1))],
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": LEVEL_CHOICE_ERROR},
    )

    def error_lines(self) -> list[str]:
        """Each refused filter, named: "level: Choose a level from 0 to 2."."""
        return [f"{name}: {error}" for name, errors in self.errors.items() for error in errors]
