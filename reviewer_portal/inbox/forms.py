from __future__ import annotations

from typing import Any

from django import forms

from agents.framework.input_rules import MAX_EDIT_LENGTH, edit_value_refusal, text_refusal
from agents.framework.input_rules import MAX_TEXT_LENGTH as MAX_REASON_LENGTH
from reviewer_portal.inbox.grounds import GENERIC, OTHER
from reviewer_portal.inbox.seen import SHOWN_MAX_LENGTH

DECISIONS = {"approve": "Approve", "reject": "Reject", "request_changes": "Request changes"}


def workflow_text(name: str, value: str, *, max_length: int, multiline: bool = True) -> str:
    """`value`, if the workflow's input rules (agents.framework.input_rules) take it as the text
    of field `name`; else their refusal, in their words, as the form's error. Refused here, it is
    never recorded as "will be sent" while the run is out of reach, only to be refused later."""
    refusal = text_refusal(name, value, max_length=max_length, multiline=multiline)
    if refusal:
        raise forms.ValidationError(refusal)
    return value


class DecisionForm(forms.Form):
    """A reviewer's decision, with edits of the fields the gate lets them change.

    Whether a decision may apply is the workflow's call, not the form's: the form checks shapes,
    and refuses only what the workflow refuses of any post, in its words (the reviewer's text by
    its input rules, edits with other than an approval), so that nothing is recorded to be sent
    that the run is bound to refuse.
    """

    decision = forms.ChoiceField(choices=list(DECISIONS.items()))
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
    # What the page showed of the gate (reviewer_portal.inbox.seen.shown_token): a decision on a
    # gate changed since in a way the reviewer has not seen is refused, nothing recorded.
    shown = forms.CharField(required=False, max_length=SHOWN_MAX_LENGTH, widget=forms.HiddenInput)
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
            # Not stripped, so an untouched field reads as the proposal it shows. Its length and
            # text are checked once changed (clean): the workflow checks only the edits it is sent.
            self.fields[f"edit_{name}"] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                required=False,
                strip=False,
                initial=self._original(name),
                widget=forms.Textarea(attrs={"rows": 8, "maxlength": MAX_EDIT_LENGTH}),
            )

    def clean_reason(self) -> str:
        return workflow_text("reason", self.cleaned_data["reason"], max_length=MAX_REASON_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self._refuse_edits(data.get("decision"))
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
        """The editable fields the reviewer changed, with line endings normalised (a browser
        sends a textarea's as CRLF). A field the post leaves out is not changed."""
        changed = {}
        for name in self._editable:
            key = f"edit_{name}"
            if self.add_prefix(key) not in self.data or key not in self.cleaned_data:
                continue
            value = _lf(self.cleaned_data[key])
            if value != self._original(name):
                changed[name] = value
        return changed

    def _refuse_edits(self, decision: str | None) -> None:
        """Refuse, on its field, a change the workflow would refuse, in its words."""
        for name, value in self.edits().items():
            refusal = text_refusal(f"edited '{name}'", value, max_length=MAX_EDIT_LENGTH)
            if refusal is None and decision not in (None, "approve"):
                refusal = (
                    f"You changed “{self[f'edit_{name}'].label}”, and edits go with an approval: "
                    f"undo the change to {DECISIONS[decision].lower()}."
                )
            # A number for a number, and not emptied: as the run's validator asks (input_rules).
            refusal = refusal or edit_value_refusal(name, self._proposal.get(name), value)
            if refusal:
                self.add_error(f"edit_{name}", refusal)

    def _original(self, name: str) -> str:
        return _lf(str(self._proposal.get(name, "")))


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class AnnotationForm(forms.Form):
    text = forms.CharField(max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))
    submission_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean_text(self) -> str:
        return workflow_text("note", self.cleaned_data["text"], max_length=MAX_REASON_LENGTH)


class ClaimForm(forms.Form):
    """Claim or release a gate; the submission id becomes the `assign` Update ID."""

    submission_id = forms.UUIDField(widget=forms.HiddenInput)


class AssignForm(ClaimForm):
    assignee = forms.ChoiceField(label="Assign to")

    def __init__(self, *args: Any, assignees: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", "Choose a colleague…"), *assignees]
