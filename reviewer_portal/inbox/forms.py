from __future__ import annotations

from django import forms

from agents.framework.gates import MAX_REASON_LENGTH


class DecisionForm(forms.Form):
    """A reviewer's decision. Whether it may apply is the workflow's call, not the form's."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        required=False, max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Generated when the form is rendered; it becomes the Update ID, so a double submit applies once.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)
