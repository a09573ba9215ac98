from django import forms

from assessments.models import AnswerStatus, ReviewState


class AnswerForm(forms.Form):
    status = forms.ChoiceField(choices=AnswerStatus.choices)
    evidence_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Evidence link")
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[(ReviewState.ACCEPTED, "Accept"), (ReviewState.CHALLENGED, "Challenge")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
