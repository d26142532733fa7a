"""The inbox's bulk decision form: one decision, with one reason, for several low-risk gates."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from agents.framework.input_rules import MAX_TEXT_LENGTH as MAX_REASON_LENGTH
from reviewer_portal.inbox.forms import workflow_text
from reviewer_portal.run_ids import RUN_ID_PATTERN

# What an inbox row sends of its gate for the bulk form: "<version>" or "<version>.<12 hex digits>".
SHOWN = re.compile(r"[0-9]{1,9}(?:\.[0-9a-f]{12})?")
SHOWN_DIGITS = 12
BULK_REASONS = ("Policy breach", "Insufficient evidence", "Outside risk appetite", "Duplicate application")
MAX_BULK_GATES = 50


def shown_of(version: int, content_digest: str) -> str:
    """What an inbox row sends of its gate: its version, and the first digits of the run's digest
    of its content (a run set back holds other content at the same version), where it has one."""
    return f"{version}.{content_digest[:SHOWN_DIGITS]}" if content_digest else str(version)


def changed_since_listed(shown: str, version: int, content_digest: str) -> bool:
    """Whether a gate now at `version` holding `content_digest` is not what its row sent, `shown`
    (a row from before digests sent the version alone: that alone is compared)."""
    listed_version, _, listed_content = shown.partition(".")
    if listed_version != str(version):
        return True
    return bool(listed_content) and listed_content != content_digest[:SHOWN_DIGITS]


class GateIdsField(forms.MultipleChoiceField):
    """Gate ids as posted, in the shape of every gate id (its page's URL takes no other); which
    of them the reviewer may decide is the bulk service's check."""

    def valid_value(self, value: str) -> bool:
        return RUN_ID_PATTERN.fullmatch(value) is not None


class BulkDecisionForm(forms.Form):
    gate_ids = GateIdsField(
        label="Selected gates",
        error_messages={
            "required": "Select at least one gate in the list.",
            "invalid_choice": "The selection holds a malformed gate id.",
        },
    )
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason_preset = forms.ChoiceField(
        label="Reason",
        required=False,
        choices=[("", "No preset reason"), *((r, r) for r in BULK_REASONS)],
    )
    reason_text = forms.CharField(
        label="Details",
        required=False,
        max_length=MAX_REASON_LENGTH // 2,
        help_text="A rejection needs a preset reason or details.",
    )
    # Every gate with a checkbox is one the AI recommends approving: rejecting them in bulk goes
    # against it, so the reviewer says so in so many words (and gives a reason, below).
    against_ai = forms.BooleanField(
        label="I reject these against the AI's recommendation to approve them", required=False
    )
    # Generated when the form is rendered; each gate's Update ID derives from it and the gate id,
    # so a double submit applies each decision once.
    submission_id = forms.UUIDField(widget=forms.HiddenInput(attrs={"id": "bulk-submission-id"}))

    def clean_gate_ids(self) -> list[str]:
        ids = list(dict.fromkeys(self.cleaned_data["gate_ids"]))
        if len(ids) > MAX_BULK_GATES:
            raise forms.ValidationError(f"Select at most {MAX_BULK_GATES} gates at a time.")
        return ids

    def shown_versions(self, data: Any) -> dict[str, str]:
        """What the inbox showed of each selected gate (its row's `shown_<id>`): its version, and
        the first digits of the run's digest of its content, where the row had one
        (`shown_of`); a gate whose row sent none (an older page, a script) is taken as it is now."""
        shown = {}
        for gate_id in self.cleaned_data.get("gate_ids", []):
            value = data.get(f"shown_{gate_id}", "")
            if isinstance(value, str) and SHOWN.fullmatch(value):
                shown[gate_id] = value
            elif value:
                shown[gate_id] = "-1"  # not what a row sends: no gate shows so, so the gate is refused
        return shown

    def clean_reason_text(self) -> str:
        # Sent as (part of) each gate's reason, which the workflow reads as multiline text.
        return workflow_text("reason", self.cleaned_data["reason_text"], max_length=MAX_REASON_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("decision") == "reject" and not self.reason():
            self.add_error("reason_text", "A rejection needs a reason: choose one or write it.")
        if data.get("decision") == "reject" and not data.get("against_ai"):
            self.add_error(
                "against_ai",
                "The AI recommends approving every selected gate: tick the box to confirm you reject "
                "them against its recommendation.",
            )
        return data

    def reason(self) -> str:
        """The preset reason and the reviewer's details, as one line ("Preset: details")."""
        parts = (self.cleaned_data.get("reason_preset", ""), self.cleaned_data.get("reason_text", "").strip())
        return ": ".join(part for part in parts if part)
