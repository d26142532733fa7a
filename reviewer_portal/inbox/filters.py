"""The inbox's filters, read from the query string so any view of the inbox is a shareable URL."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.paginator import Paginator
from django.http import QueryDict
from django.utils.functional import cached_property

from agents.framework.registry import AGENTS
from reviewer_portal.accounts.roles import REVIEWER_ROLES
from reviewer_portal.inbox.presentation import search_labels
from reviewer_portal.inbox.selectors import AT_RISK, ESCALATED, MINE, ON_TIME, OVERDUE, SORTS, GateFilters

PAGE_SIZE = 25
SORT_LABELS = {
    "deadline": "Deadline, soonest first",
    "-deadline": "Deadline, latest first",
    "age": "Age, newest first",
    "-age": "Age, oldest first",
    "amount": "Amount, smallest first",
    "-amount": "Amount, largest first",
}


def _search_help() -> str:
    return ", ".join(["Subject", *(label.lower() for label in search_labels())])


def _queue_choices() -> list[tuple[str, str]]:
    return [("", "All my queues"), *REVIEWER_ROLES.items(), (MINE, "Assigned to me")]


def _agent_choices() -> list[tuple[str, str]]:
    return [("", "Any agent"), *((name, spec.title) for name, spec in sorted(AGENTS.items()))]


class InboxFilterForm(forms.Form):
    """Validates the inbox's query string; a bad value is reported, and the rest still apply."""

    queue = forms.ChoiceField(required=False, choices=lambda: _queue_choices())
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    sla = forms.ChoiceField(
        label="SLA",
        required=False,
        choices=[
            ("", "Any"),
            (ON_TIME, "On time"),
            (AT_RISK, "At risk (under 25 % left)"),
            (OVERDUE, "Overdue"),
            (ESCALATED, "Escalated"),
        ],
    )
    agent = forms.ChoiceField(required=False, choices=_agent_choices)
    assignee = forms.CharField(
        required=False,
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="me, unassigned or a username",
        widget=forms.TextInput(attrs={"list": "assignee-options", "autocomplete": "off"}),
    )
    min_amount = forms.DecimalField(
        label="Amount from", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    max_amount = forms.DecimalField(
        label="Amount to", required=False, min_value=0, max_digits=14, decimal_places=2
    )
    opened_after = forms.DateField(
        label="Opened from",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    opened_before = forms.DateField(
        label="Opened until",
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sort = forms.ChoiceField(
        label="Sort by", required=False, choices=[(key, SORT_LABELS[key]) for key in SORTS]
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What search covers comes from the agents (their searchable case fields).
        self.fields["q"].help_text = _search_help()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("min_amount"), data.get("max_amount")
        if low is not None and high is not None and low > high:
            self.add_error("max_amount", "The upper amount is below the lower one.")
        after, before = data.get("opened_after"), data.get("opened_before")
        if after and before and after > before:
            self.add_error("opened_before", "This date is before the 'Opened from' date.")
        return data

    def filters(self) -> GateFilters:
        """The filters that validated (call after is_valid); an invalid one is left out."""
        data = getattr(self, "cleaned_data", {})
        return GateFilters(
            queue=data.get("queue") or "",
            sla=data.get("sla") or "",
            agent=data.get("agent") or "",
            assignee=data.get("assignee") or "",
            min_amount=data.get("min_amount"),
            max_amount=data.get("max_amount"),
            opened_after=data.get("opened_after"),
            opened_before=data.get("opened_before"),
            q=data.get("q") or "",
            sort=data.get("sort") or "deadline",
        )

    def narrows(self) -> bool:
        """Whether anything beyond the queue, sort and page narrows the list."""
        ignored = {"queue", "sort", "page"}
        return any(self.data.get(name) for name in self.fields if name not in ignored)

    def error_list(self) -> list[str]:
        """Every error as 'Label: message', for the summary above the form."""
        return [
            f"{self.fields[name].label or name.replace('_', ' ').capitalize()}: {message}"
            if name in self.fields
            else message
            for name, messages in self.errors.items()
            for message in messages
        ]


def without_empty_params(query: QueryDict) -> QueryDict | None:
    """The query without its empty values (a submitted filter form sends every field), or None
    when it has none to drop."""
    kept = QueryDict(mutable=True)
    for key, values in query.lists():
        if present := [value for value in values if value]:
            kept.setlist(key, present)
    return None if kept.urlencode() == query.urlencode() else kept


class CountedPaginator(Paginator):
    """A paginator told its count (kept from an earlier request) instead of counting again."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count
