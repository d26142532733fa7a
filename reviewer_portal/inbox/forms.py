from __future__ import annotations

from typing import Any

from django import forms

from agents.framework.input_rules import MAX_EDIT_LENGTH
from agents.framework.input_rules import MAX_TEXT_LENGTH as MAX_REASON_LENGTH
from reviewer_portal.inbox.grounds import GENERIC, OTHER


class DecisionForm(forms.Form):
    """A reviewer's decision, with edits of the fields the gate lets them change.

    Whether a decision or an edit may apply is the workflow's call, not the form's: the form only
    checks shapes, so a refusal always comes from one place, in the same words.
    """

    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject"), ("request_changes", "Request changes")]
    )
    # A rejection's grounds, for consistent reporting; the reason sent is "Preset: free text".
    preset = forms.ChoiceField(
        label="Grounds for rejection",
        choices=[("", "Choose…"), *((p, p) for p in (*GENERIC, OTHER))],
        required=False,
    )
    reason = forms.CharField(
        required=False,
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "aria-describedby": "reason-hint"}),
    )
    # Generated when the form is rendered; it names the action, so a double submit applies once.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)
    # Which recommendation the reviewer is deciding on (how many revisions came before it): the run
    # refuses the decision if the agent has revised it since.
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=10_000)
    # Sent by a keyboard shortcut (static/js/shortcuts.js): such a decision is confirmed first.
    keyboard = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # The confirm step's answer (reviewer_portal.inbox.confirmation): set, with the step's token.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    confirm_token = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        editable: list[str] = (),
        proposal: dict[str, Any] | None = None,
        grounds: tuple[str, ...] = (*GENERIC, OTHER),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [("", "Choose…"), *((g, g) for g in grounds)]
        self.reason_text = ""
        self._proposal = proposal or {}
        self._editable = list(editable)
        for name in self._editable:
            self.fields[f"edit_{name}"] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                required=False,
                max_length=MAX_EDIT_LENGTH,
                initial=self._original(name),
                widget=forms.Textarea(attrs={"rows": 8}),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        preset, text = data.get("preset", ""), data.get("reason", "").strip()
        self.reason_text = text  # what the reviewer wrote, before any grounds are prefixed
        if data.get("decision") == "reject" and preset:
            if preset == OTHER and not text:
                self.add_error("reason", "With “Other”, say why in your own words.")
            else:
                data["reason"] = f"{preset}: {text}" if text else preset
        if len(data.get("reason", "")) > MAX_REASON_LENGTH:
            room = MAX_REASON_LENGTH - len(preset) - 2
            self.add_error(
                "reason", f"With the grounds “{preset}”, the reason has room for {room} characters."
            )
        return data

    @staticmethod
    def initial_reason(
        decision: str, reason: str, grounds: tuple[str, ...] = (*GENERIC, OTHER)
    ) -> dict[str, str]:
        """Split a sent rejection reason back into its preset and free text, to fill the form."""
        if decision == "reject":
            for preset in grounds:
                if reason == preset or reason.startswith(f"{preset}: "):
                    return {"preset": preset, "reason": reason[len(preset) + 2 :]}
        return {"reason": reason}

    def edit_fields(self) -> list[forms.BoundField]:
        return [self[f"edit_{name}"] for name in self._editable]

    def edits(self) -> dict[str, str]:
        """The editable fields the reviewer changed (line endings normalised)."""
        changed = {}
        for name in self._editable:
            value = self.cleaned_data.get(f"edit_{name}", "").replace("\r\n", "\n")
            if value != self._original(name):
                changed[name] = value
        return changed

    def _original(self, name: str) -> str:
        return str(self._proposal.get(name, "")).replace("\r\n", "\n")


class AnnotationForm(forms.Form):
    text = forms.CharField(max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))
    submission_id = forms.UUIDField(widget=forms.HiddenInput)


class ClaimForm(forms.Form):
    """Claim or release a gate; the submission id becomes the `assign` Update ID."""

    submission_id = forms.UUIDField(widget=forms.HiddenInput)


class AssignForm(ClaimForm):
    assignee = forms.ChoiceField(label="Assign to")

    def __init__(self, *args: Any, assignees: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "Choose a colleague…"), *assignees]
