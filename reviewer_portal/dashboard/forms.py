"""The dashboard's query string: which agent and how many days."""

from __future__ import annotations

from typing import Any

from django import forms

PERIODS = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days")]
DEFAULT_DAYS = 30


class DashboardFilterForm(forms.Form):
    """Only agents in the user's scope are valid, so a crafted ?agent= reveals nothing."""

    agent = forms.ChoiceField(required=False)
    days = forms.TypedChoiceField(
        label="Period", required=False, coerce=int, choices=PERIODS, empty_value=DEFAULT_DAYS
    )

    def __init__(self, *args: Any, agents: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"].choices = [("", "All agents"), *agents]
