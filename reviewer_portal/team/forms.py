"""The team view's forms. They check shapes only; which gates and people a supervisor may act on
is the services' check (reviewer_portal.team.services)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from agents.framework.input_rules import text_refusal
from reviewer_portal.inbox.bulk import MAX_BULK_GATES
from reviewer_portal.team.services import REASSIGN, UNCLAIM

MAX_REASON_LENGTH = 500


def _refuse_odd_text(name: str, value: str, max_length: int) -> str:
    refusal = text_refusal(name, value, max_length=max_length, multiline=False)
    if refusal:
        raise forms.ValidationError(refusal)
    return value


class TeamGateIdsField(forms.MultipleChoiceField):
    """Gate ids as posted; whether they are the supervisor's to act on is the services' check."""

    def valid_value(self, value: str) -> bool:
        return 0 < len(value) <= 200 and text_refusal("id", value, max_length=200, multiline=False) is None


class TeamActionForm(forms.Form):
    role = forms.CharField(max_length=64, widget=forms.HiddenInput)
    gate_ids = TeamGateIdsField(
        label="Selected gates",
        error_messages={
            "required": "Select at least one gate in the list.",
            "invalid_choice": "The selection holds a malformed gate id; nothing was sent.",
        },
    )
    action = forms.ChoiceField(choices=[(REASSIGN, "Reassign"), (UNCLAIM, "Release")])
    assignee = forms.CharField(label="Reassign to", max_length=150, required=False)
    # Each gate's action id derives from it, so a double submit applies each once.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean_gate_ids(self) -> list[str]:
        ids = list(dict.fromkeys(self.cleaned_data["gate_ids"]))
        if len(ids) > MAX_BULK_GATES:
            raise forms.ValidationError(f"Select at most {MAX_BULK_GATES} gates at a time; nothing was sent.")
        return ids

    def clean_assignee(self) -> str:
        return _refuse_odd_text("colleague's name", self.cleaned_data["assignee"], 150)

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if data.get("action") == REASSIGN and not data.get("assignee"):
            self.add_error("assignee", "Choose the colleague to reassign the gates to.")
        return data


class AbsenceForm(forms.Form):
    username = forms.CharField(label="Reviewer", max_length=150)
    reason = forms.CharField(label="Reason", max_length=MAX_REASON_LENGTH, required=False)
    until = forms.DateField(
        label="Back on (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty to mark them present yourself.",
    )
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # as the reviewer select's own label beside them
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        return _refuse_odd_text("reviewer's name", self.cleaned_data["username"], 150)

    def clean_reason(self) -> str:
        return _refuse_odd_text("reason", self.cleaned_data["reason"].strip(), MAX_REASON_LENGTH)

    def until_moment(self) -> datetime | None:
        """The start of the day they are back, in the portal's time zone."""
        day = self.cleaned_data.get("until")
        return timezone.make_aware(datetime.combine(day, time.min)) if day else None

    def clean_until(self) -> object:
        day = self.cleaned_data.get("until")
        if day and day <= timezone.localdate():
            raise forms.ValidationError("The day they are back must be after today.")
        if day and day > timezone.localdate() + timedelta(days=366):
            raise forms.ValidationError("An absence is marked for at most a year.")
        return day


class PresentForm(forms.Form):
    absence = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
