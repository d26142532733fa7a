from __future__ import annotations

from typing import Any

from django import forms

from agents.framework.gates import MAX_EDIT_LENGTH, MAX_REASON_LENGTH


class DecisionForm(forms.Form):
    """A reviewer's decision, with edits of the fields the gate lets them change.

    Whether a decision or an edit may apply is the workflow's call, not the form's: the form only
    checks shapes, so a refusal always comes from one place, in the same words.
    """

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(
        required=False, max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Generated when the form is rendered; it becomes the Update ID, so a double submit applies once.
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, editable: list[str] = (), proposal: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
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
